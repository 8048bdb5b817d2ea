using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SyncWorker.Contracts;
using SyncWorker.Store.Audit;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Store.Installs;

/// <summary>What purging one account deleted, per table, and the ledger rows left because a delivery holds them now.</summary>
/// <param name="Account">The merchant (<c>acct_…</c>).</param>
/// <param name="Deleted">Rows deleted per table (<c>delivery_attempts</c>, <c>deliveries</c>, <c>orders</c>, <c>backfill_events</c>), and <c>targets</c> removed (managed targets of this merchant alone).</param>
/// <param name="LeftInFlight">Ledger rows of the account under a live lease (being sent now), left for the next purge.</param>
/// <param name="StillInstalled">The modes the registry has the account installed in (its next events are recorded again).</param>
public sealed record AccountPurge(string Account, IReadOnlyDictionary<string, long> Deleted, long LeftInFlight, IReadOnlyList<string> StillInstalled);

/// <summary>
/// Deletes a merchant's data from the store: the ledger rows of its deliveries with their attempts, its orders (with their
/// stored documents) and the backfill ledger's entries of its events, in bounded batches like the retention purge; its
/// install row stays (account, mode, status, the dates and the last event id, its permissions cleared) with
/// <c>purged_at</c> set, so its events go on being skipped. On request (<c>accounts purge</c>), or in the background
/// <see cref="StoreSettings.InstallPurgeAfter"/> after an account uninstalled the app in live mode and is installed in no
/// mode (an uninstall in test mode only purges nothing: live data may belong to it, and the ledger rows do not say their
/// mode). Each purge is written to the audit log.
/// </summary>
public sealed partial class AccountPurger
{
    /// <summary>Rows deleted per statement.</summary>
    public const int BatchSize = 1000;

    private readonly SqlDeliveryLedger _ledger;
    private readonly StoreSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Created by dependency injection (or by <c>accounts purge</c> with no logger).</summary>
    public AccountPurger(SqlDeliveryLedger ledger, StoreSettings settings, TimeProvider time, ILogger<AccountPurger>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(ledger);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(time);
        _ledger = ledger;
        _settings = settings;
        _time = time;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>
    /// Deletes <paramref name="account"/>'s data now, whatever its install status, and writes it to the audit log under
    /// <paramref name="actor"/> (<see cref="AuditLog.OperatorActor"/> for the verb, <see cref="AuditLog.RetentionActor"/>).
    /// </summary>
    public async Task<AccountPurge> PurgeAsync(string account, string actor, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(account);
        ArgumentException.ThrowIfNullOrWhiteSpace(actor);
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        const string Free = "(lease_until IS NULL OR lease_until < @now)";
        var deleted = new Dictionary<string, long>(StringComparer.Ordinal)
        {
            ["delivery_attempts"] = await DeleteAsync("delivery_attempts", $"delivery_key IN (SELECT delivery_key FROM deliveries WHERE account = @account AND {Free})", account, now, cancellationToken).ConfigureAwait(false),
            ["deliveries"] = await DeleteAsync("deliveries", $"account = @account AND {Free}", account, now, cancellationToken).ConfigureAwait(false),
            ["orders"] = await DeleteAsync("orders", "account = @account", account, now, cancellationToken).ConfigureAwait(false),
            ["backfill_events"] = await DeleteAsync("backfill_events", "account = @account", account, now, cancellationToken).ConfigureAwait(false),
        };

        var (left, installed) = await _ledger.RunAsync(async connection =>
        {
            await using (var mark = SqlDeliveryLedger.Command(connection,
                "UPDATE installs SET purged_at = @now, permissions_granted = NULL, permissions_pending = NULL WHERE account = @account",
                ("account", account), ("now", now)))
            {
                await mark.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await using var count = SqlDeliveryLedger.Command(connection,
                "SELECT COUNT(*) FROM deliveries WHERE account = @account", ("account", account));
            var remaining = Convert.ToInt64(await count.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
            await using var modes = SqlDeliveryLedger.Command(connection,
                "SELECT livemode FROM installs WHERE account = @account AND status = @installed ORDER BY livemode DESC",
                ("account", account), ("installed", InstallStatus.Installed));
            await using var reader = await modes.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var list = new List<string>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                list.Add(reader.GetBoolean(0) ? "live" : "test");
            }

            return (remaining, (IReadOnlyList<string>)list);
        }, cancellationToken).ConfigureAwait(false);

        // Targets of this merchant alone are removed; targets serving it among others no longer list it.
        // (A store not yet migrated to version 4, when the verb runs before any forwarder of this version, has no targets.)
        var (targetsRemoved, targetsNarrowed) = await new StoreMigrator(_settings).CurrentVersionAsync(cancellationToken).ConfigureAwait(false) >= 4
            ? await new Targets.SqlTargetStore(_ledger, _time, box: null).PurgeAccountAsync(account, actor, cancellationToken).ConfigureAwait(false)
            : ([], []);
        deleted["targets"] = targetsRemoved.Count;
        LogPurged(account, deleted["deliveries"], deleted["delivery_attempts"], deleted["orders"], left);
        await new AuditLog(_ledger, _time).RecordAsync(actor, "accounts.purge", account,
            $"deleted {deleted["deliveries"]} ledger rows, {deleted["delivery_attempts"]} attempts, {deleted["orders"]} orders, " +
            $"{deleted["backfill_events"]} backfill entries; {left} rows in flight left" + (installed.Count > 0 ? $"; still installed in {string.Join(" and ", installed)} mode" : "") +
            (targetsRemoved.Count > 0 ? $"; targets removed: {string.Join(", ", targetsRemoved)}" : "") +
            (targetsNarrowed.Count > 0 ? $"; no longer listed by targets: {string.Join(", ", targetsNarrowed)}" : ""),
            cancellationToken).ConfigureAwait(false);
        return new AccountPurge(account, deleted, left, installed);
    }

    /// <summary>
    /// Purges every account due: uninstalled in live mode at least <see cref="StoreSettings.InstallPurgeAfter"/> ago (by the
    /// uninstall event's <c>created</c>), installed in no mode, not purged since; none when the setting is off.
    /// </summary>
    public async Task<IReadOnlyList<AccountPurge>> PurgeDueAsync(CancellationToken cancellationToken)
    {
        if (_settings.InstallPurgeAfter is not { } after)
        {
            return [];
        }

        var before = (_time.GetUtcNow() - after).ToUnixTimeMilliseconds();
        var due = await _ledger.RunAsync(async connection =>
        {
            await using var command = SqlDeliveryLedger.Command(connection, """
                SELECT account FROM installs
                WHERE livemode = @live AND status = @uninstalled AND last_event_created < @before
                  AND (purged_at IS NULL OR purged_at < last_event_created)
                  AND account NOT IN (SELECT account FROM installs WHERE status = @installed)
                ORDER BY account
                """,
                ("live", true), ("uninstalled", InstallStatus.Uninstalled), ("installed", InstallStatus.Installed), ("before", before));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var accounts = new List<string>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                accounts.Add(reader.GetString(0));
            }

            return accounts;
        }, cancellationToken).ConfigureAwait(false);

        var purged = new List<AccountPurge>();
        foreach (var account in due)
        {
            purged.Add(await PurgeAsync(account, AuditLog.RetentionActor, cancellationToken).ConfigureAwait(false));
        }

        return purged;
    }

    private async Task<long> DeleteAsync(string table, string where, string account, long now, CancellationToken cancellationToken)
    {
        // Batches bounded by the physical row id, as the retention purge does (StorePurger).
        var rows = _settings.Provider == StoreProvider.Postgres
            ? $"ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE {where} LIMIT @batch))"
            : $"rowid IN (SELECT rowid FROM {table} WHERE {where} LIMIT @batch)";
        var sql = $"DELETE FROM {table} WHERE {rows}";
        long deleted = 0;
        while (true)
        {
            var batch = await _ledger.RunAsync(async connection =>
            {
                await using var command = SqlDeliveryLedger.Command(connection, sql, ("account", account), ("now", now), ("batch", BatchSize));
                return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
            deleted += batch;
            if (batch > 0)
            {
                SyncWorkerTelemetry.StorePurged.Add(batch, new TagList { { "table", table + "/account" } });
            }

            if (batch < BatchSize)
            {
                return deleted;
            }
        }
    }

    [LoggerMessage(EventId = 7020, Level = LogLevel.Information,
        Message = "Purged account {PurgedAccount}: {Deliveries} ledger rows, {Attempts} attempts, {Orders} orders deleted; {Left} rows in flight left for the next purge")]
    private partial void LogPurged(string purgedAccount, long deliveries, long attempts, long orders, long left);
}
