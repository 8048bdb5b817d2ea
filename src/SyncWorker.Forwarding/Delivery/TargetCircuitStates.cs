using System.Collections.Concurrent;
using Polly.CircuitBreaker;

namespace SyncWorker.Forwarding.Delivery;

/// <summary>
/// The circuit breaker state of each target's pipeline in this instance (for metrics and status), and the gate that keeps
/// deliveries off the broker while a circuit is open (<see cref="WaitWhileOpenAsync"/>).
/// </summary>
public sealed class TargetCircuitStates(TimeProvider timeProvider)
{
    /// <summary>
    /// The longest a delivery is held in process while its target's circuit is open, unacknowledged. RabbitMQ closes the
    /// channel of a consumer that holds a delivery past its <c>consumer_timeout</c> (30 minutes by default), which would
    /// hand every held message back; after this a held delivery goes to the delay queue instead.
    /// </summary>
    public static readonly TimeSpan MaxHold = TimeSpan.FromMinutes(10);

    private readonly ConcurrentDictionary<string, CircuitBreakerStateProvider> _providers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Gate> _gates = new(StringComparer.Ordinal);
    private volatile bool _stopping;

    /// <summary>For tests and callers without DI: the system clock.</summary>
    public TargetCircuitStates()
        : this(TimeProvider.System)
    {
    }

    /// <summary>The provider attached to the target's circuit breaker when its pipeline is built.</summary>
    internal CircuitBreakerStateProvider For(string targetName) => _providers.GetOrAdd(targetName, _ => new CircuitBreakerStateProvider());

    /// <summary>Drops a target's state provider, before a new pipeline (a managed target's new revision) is built for it.</summary>
    internal void Forget(string targetName) => _providers.TryRemove(targetName, out _);

    /// <summary>The circuit's state; <see cref="CircuitState.Closed"/> before the first delivery built the pipeline.</summary>
    public CircuitState StateOf(string targetName) =>
        _providers.TryGetValue(targetName, out var provider) ? provider.CircuitState : CircuitState.Closed;

    /// <summary>The target's circuit opened (Polly's <c>OnOpened</c>) for <paramref name="breakDuration"/>.</summary>
    internal void Opened(string targetName, TimeSpan breakDuration)
    {
        var gate = GateOf(targetName);
        lock (gate)
        {
            gate.OpenUntil = timeProvider.GetUtcNow() + breakDuration;
            gate.TrialTaken = false;
            gate.Signal();
        }
    }

    /// <summary>The target's circuit closed (Polly's <c>OnClosed</c>): every held delivery goes on.</summary>
    internal void Closed(string targetName)
    {
        var gate = GateOf(targetName);
        lock (gate)
        {
            gate.OpenUntil = null;
            gate.TrialTaken = false;
            gate.Signal();
        }
    }

    /// <summary>
    /// Returns at once while the target's circuit is closed. While it is open, holds the caller (a delivery, which stays
    /// unacknowledged in its consumer slot, so RabbitMQ hands this instance no more of the target's messages than its
    /// prefetch, and they wait in the queue) until the circuit closes, or until the break is over and the caller is the
    /// one trial delivery of that break (true), or until <paramref name="maxHold"/> has passed. A trial must be ended
    /// with <see cref="TrialEnded"/>.
    /// </summary>
    /// <returns>True when the caller is the trial delivery of the half-open circuit.</returns>
    public async Task<bool> WaitWhileOpenAsync(string targetName, TimeSpan maxHold, CancellationToken cancellationToken)
    {
        var gate = GateOf(targetName);
        var start = timeProvider.GetUtcNow();
        int generation;
        lock (gate)
        {
            generation = gate.Generation;
        }

        while (true)
        {
            Task changed;
            TimeSpan wait;
            lock (gate)
            {
                var now = timeProvider.GetUtcNow();
                if (gate.OpenUntil is not { } until || gate.Generation != generation || gate.NoHold || _stopping)
                {
                    return false;
                }

                if (now >= until && !gate.TrialTaken)
                {
                    gate.TrialTaken = true;
                    return true;
                }

                var left = maxHold - (now - start);
                if (left <= TimeSpan.Zero)
                {
                    return false;
                }

                changed = gate.Changed.Task;
                wait = now < until && until - now < left ? until - now : left;
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var delay = Task.Delay(wait, timeProvider, timeout.Token);
            await Task.WhenAny(changed, delay).ConfigureAwait(false);
            await timeout.CancelAsync().ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>
    /// The trial delivery ended. When it did not reach the circuit (it failed before its HTTP call, say), the next
    /// held delivery may try.
    /// </summary>
    public void TrialEnded(string targetName)
    {
        var gate = GateOf(targetName);
        lock (gate)
        {
            if (gate.TrialTaken)
            {
                gate.TrialTaken = false;
                gate.Signal();
            }
        }
    }

    /// <summary>
    /// Lets the deliveries held now go on at once (to the delay queue, while the circuit is open), rather than be handed
    /// back to RabbitMQ when their consumer stops: for one target (a pause), or for all (null: the process is stopping).
    /// A hand-back counts towards a quorum queue's delivery limit; a republish to the delay queue does not.
    /// </summary>
    public void Release(string? targetName = null)
    {
        if (targetName is null)
        {
            _stopping = true;
        }
        else
        {
            var released = GateOf(targetName);
            lock (released)
            {
                released.NoHold = true;
            }
        }

        foreach (var (name, gate) in _gates)
        {
            if (targetName is null || string.Equals(name, targetName, StringComparison.Ordinal))
            {
                lock (gate)
                {
                    gate.Generation++;
                    gate.Signal();
                }
            }
        }
    }

    /// <summary>The target's consumer starts (again, after a pause): deliveries are held while its circuit is open.</summary>
    public void Hold(string targetName)
    {
        var gate = GateOf(targetName);
        lock (gate)
        {
            gate.NoHold = false;
        }
    }

    private Gate GateOf(string targetName) => _gates.GetOrAdd(targetName, _ => new Gate());

    /// <summary>One target's circuit as the gate sees it.</summary>
    private sealed class Gate
    {
        public DateTimeOffset? OpenUntil { get; set; }

        public bool TrialTaken { get; set; }

        public int Generation { get; set; }

        public bool NoHold { get; set; }

        public TaskCompletionSource Changed { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Signal()
        {
            var changed = Changed;
            Changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            changed.TrySetResult();
        }
    }
}
