using System.Collections.Frozen;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SyncWorker.Store;
using SyncWorker.Store.Installs;

namespace SyncWorker.Forwarding.Installs;

/// <summary>
/// This forwarder's copy of the accounts and modes that uninstalled the app, read from the install registry every
/// <see cref="RefreshInterval"/> (another forwarder's change takes effect here within that), and changed at once by the
/// install events this forwarder applies itself. Deliveries check it without a store round trip. While the store is
/// unreachable the last copy stands. An account never recorded counts as installed.
/// </summary>
/// <remarks>
/// An uninstall this forwarder applies asks <see cref="UninstallSweepRequests"/> (when there is one) for a sweep of that
/// account's dead letters (<see cref="UninstallSweeper"/>).
/// </remarks>
public sealed partial class InstallState(
    IInstallRegistry registry, TimeProvider time, ILogger<InstallState> logger, UninstallSweepRequests? sweeps = null) : BackgroundService
{
    /// <summary>How often the copy is read again.</summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(5);

    private readonly Lock _gate = new();
    private FrozenSet<(string Account, bool Livemode)> _uninstalled = FrozenSet<(string, bool)>.Empty;
    private FrozenDictionary<(string Account, bool Livemode), FrozenSet<string>> _pending = FrozenDictionary<(string, bool), FrozenSet<string>>.Empty;
    private readonly List<(long Sequence, InstallChange Change)> _applied = [];
    private long _sequence;

    /// <summary>
    /// The permissions the account's install has pending (requested by a newer app version, not yet granted by the
    /// merchant), as last read; empty when none are, or the registry does not know.
    /// </summary>
    public IReadOnlySet<string> PendingPermissions(string? account, bool livemode) =>
        account is { Length: > 0 } && Volatile.Read(ref _pending).TryGetValue((account, livemode), out var pending)
            ? pending
            : FrozenSet<string>.Empty;

    /// <summary>True when <paramref name="account"/> uninstalled the app in that mode (false for null: the app's own account).</summary>
    public bool IsUninstalled(string? account, bool livemode) =>
        account is { Length: > 0 } && Volatile.Read(ref _uninstalled).Contains((account, livemode));

    /// <summary>The accounts and modes that uninstalled the app, as last read or applied.</summary>
    public IReadOnlySet<(string Account, bool Livemode)> Uninstalled => Volatile.Read(ref _uninstalled);

    /// <summary>
    /// Takes a change this forwarder applied to the registry into the copy at once; an uninstall then asks for a sweep of
    /// the account's dead letters.
    /// </summary>
    public void Apply(InstallChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        lock (_gate)
        {
            // Kept until the next read of the registry that started after it: a read already under way may have missed
            // it, and must not put the older state back (see RefreshAsync).
            _applied.Add((++_sequence, change));
            ApplyLocked(change);
        }

        if (change.Status == InstallStatus.Uninstalled)
        {
            // After the copy says so: a swept delivery is then skipped by the target's consumer, not sent.
            sweeps?.Request(change.Account, change.Livemode);
        }
    }

    private void ApplyLocked(InstallChange change)
    {
        var set = _uninstalled.ToHashSet();
        if (change.Status == InstallStatus.Uninstalled)
        {
            set.Add((change.Account, change.Livemode));
        }
        else
        {
            set.Remove((change.Account, change.Livemode));
        }

        Volatile.Write(ref _uninstalled, set.ToFrozenSet());
        if (change.PermissionsPending is { } pending)
        {
            var map = _pending.ToDictionary();
            if (pending.Count == 0)
            {
                map.Remove((change.Account, change.Livemode));
            }
            else
            {
                map[(change.Account, change.Livemode)] = pending.ToFrozenSet(StringComparer.Ordinal);
            }

            Volatile.Write(ref _pending, map.ToFrozenDictionary());
        }
    }

    /// <summary>Reads the registry's uninstalled accounts into the copy (what the background loop does).</summary>
    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        long readFrom;
        lock (_gate)
        {
            readFrom = _sequence;
        }

        var rows = await registry.ListAsync(cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            Volatile.Write(ref _uninstalled, rows.Where(row => row.Status == InstallStatus.Uninstalled).Select(row => (row.Account, row.Livemode)).ToFrozenSet());
            Volatile.Write(ref _pending, rows
                .Where(row => row.Status == InstallStatus.Installed && row.PermissionsPending is { Count: > 0 })
                .ToFrozenDictionary(row => (row.Account, row.Livemode), row => row.PermissionsPending!.ToFrozenSet(StringComparer.Ordinal)));

            // A change applied while the registry was being read may be missing from what was read: apply it again on
            // top (it is already in the registry, so this is what the next read will say). Older ones were read.
            _applied.RemoveAll(entry => entry.Sequence <= readFrom);
            foreach (var (_, change) in _applied)
            {
                ApplyLocked(change);
            }
        }
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var failing = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RefreshAsync(stoppingToken).ConfigureAwait(false);
                failing = false;
            }
            catch (StoreUnavailableException exception)
            {
                if (!failing)
                {
                    LogStale(logger, exception.Message);
                    failing = true;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }

            try
            {
                await Task.Delay(RefreshInterval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(EventId = 2601, Level = LogLevel.Warning, Message = "The install registry cannot be read ({Problem}); uninstalled accounts are told apart by the last copy until it can")]
    private static partial void LogStale(ILogger logger, string problem);
}
