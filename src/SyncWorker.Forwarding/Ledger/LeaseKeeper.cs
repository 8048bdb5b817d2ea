using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using SyncWorker.Store;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Forwarding.Ledger;

/// <summary>
/// Keeps the leases of the deliveries this process is sending: one timer for all of them (every sixth of the lease)
/// renews each claim held for a third of the lease or longer since its claim or last renewal. A delivery registers its
/// claim when it starts sending and disposes the registration when it ends, which costs a dictionary entry: no timer,
/// task or cancellation per delivery (a timer per delivery, cancelled when it ended, cost two exceptions each).
/// A renewal that races with the delivery's finish is harmless: the ledger renews only a row still in flight under that
/// owner.
/// </summary>
public sealed partial class LeaseKeeper : IDisposable
{
    private readonly IDeliveryLedger _ledger;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<HeldClaim, Held> _held = new();
    private readonly ITimer _timer;
    private readonly CancellationTokenSource _stopping = new();
    private int _renewing;

    /// <summary>Starts the timer; <paramref name="lease"/> is <c>Store:LeaseSeconds</c>.</summary>
    public LeaseKeeper(IDeliveryLedger ledger, TimeSpan lease, TimeProvider time, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(ledger);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lease, TimeSpan.Zero);
        _ledger = ledger;
        _time = time;
        _logger = logger;
        Lease = lease;
        RenewAfter = lease / 3;
        var tick = lease / 6;
        _timer = time.CreateTimer(_ => Tick(), null, tick, tick);
    }

    /// <summary>The lease's length.</summary>
    public TimeSpan Lease { get; }

    /// <summary>How long a claim is held before it is renewed: a third of the lease.</summary>
    public TimeSpan RenewAfter { get; }

    /// <summary>The claims kept now.</summary>
    public int Count => _held.Count;

    /// <summary>Renews <paramref name="claim"/>'s lease until the answer is disposed.</summary>
    public IAsyncDisposable Keep(HeldClaim claim)
    {
        ArgumentNullException.ThrowIfNull(claim);
        _held[claim] = new Held(_time.GetUtcNow());
        return new Registration(this, claim);
    }

    private async Task RenewDueAsync()
    {
        if (Interlocked.Exchange(ref _renewing, 1) == 1)
        {
            return;
        }

        try
        {
            var now = _time.GetUtcNow();
            foreach (var (claim, held) in _held)
            {
                if (_stopping.IsCancellationRequested)
                {
                    return;
                }

                if (now - held.RenewedAt < RenewAfter)
                {
                    continue;
                }

                var key = claim.Key.Value;
                try
                {
                    if (await _ledger.RenewAsync(key, claim.Owner, Lease, _stopping.Token))
                    {
                        held.RenewedAt = now;
                    }
                    else if (_held.TryRemove(claim, out _))
                    {
                        // Gone while we asked (finished: not lost) or taken over by another forwarder.
                        LogLeaseLost(key);
                    }
                }
                catch (StoreUnavailableException exception)
                {
                    LogRenewFailed(key, exception.Message);
                }
                catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
                {
                    return;
                }
            }
        }
        finally
        {
            Volatile.Write(ref _renewing, 0);
        }
    }

    /// <summary>Stops the timer; a round in progress ends after its current renewal.</summary>
    public void Dispose()
    {
        _timer.Dispose();
        _stopping.Cancel();
        _stopping.Dispose();
    }

    private void Tick()
    {
        if (_held.IsEmpty || _stopping.IsCancellationRequested)
        {
            return;
        }

        _ = RenewDueAsync();
    }

    private sealed class Held(DateTimeOffset renewedAt)
    {
        private long _renewedAt = renewedAt.UtcTicks;

        public DateTimeOffset RenewedAt
        {
            get => new(Volatile.Read(ref _renewedAt), TimeSpan.Zero);
            set => Volatile.Write(ref _renewedAt, value.UtcTicks);
        }
    }

    private sealed class Registration(LeaseKeeper keeper, HeldClaim claim) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            keeper._held.TryRemove(claim, out _);
            return ValueTask.CompletedTask;
        }
    }

    [LoggerMessage(EventId = 2403, Level = LogLevel.Warning, Message = "Delivery {Key}: its lease was taken over by another forwarder while it was being sent")]
    private partial void LogLeaseLost(string key);

    [LoggerMessage(EventId = 2404, Level = LogLevel.Warning, Message = "Delivery {Key}: the lease could not be renewed ({Problem}); trying again")]
    private partial void LogRenewFailed(string key, string problem);
}
