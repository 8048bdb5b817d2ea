using System.Collections.Concurrent;

namespace SyncWorker.Forwarding.Consumers;

/// <summary>Last success and last failure of each target in this instance, and deliveries in flight (the <c>status</c> view).</summary>
public sealed class TargetActivity(TimeProvider timeProvider)
{
    private readonly ConcurrentDictionary<string, State> _states = new(StringComparer.Ordinal);

    /// <summary>A delivery to the target started.</summary>
    public void Started(string target) => Interlocked.Increment(ref Get(target).InFlight);

    /// <summary>It ended: delivered, or failed with <paramref name="failureReason"/>.</summary>
    public void Ended(string target, string? failureReason)
    {
        var state = Get(target);
        Interlocked.Decrement(ref state.InFlight);
        var now = timeProvider.GetUtcNow();
        lock (state)
        {
            if (failureReason is null)
            {
                state.LastSuccessAt = now;
            }
            else
            {
                state.LastFailureAt = now;
                state.LastFailureReason = failureReason;
            }
        }
    }

    /// <summary>What is known of the target.</summary>
    public (long InFlight, DateTimeOffset? LastSuccessAt, DateTimeOffset? LastFailureAt, string? LastFailureReason) Of(string target)
    {
        var state = Get(target);
        lock (state)
        {
            return (Interlocked.Read(ref state.InFlight), state.LastSuccessAt, state.LastFailureAt, state.LastFailureReason);
        }
    }

    private State Get(string target) => _states.GetOrAdd(target, _ => new State());

    private sealed class State
    {
#pragma warning disable SA1401, CA1051 // a field, for Interlocked
        public long InFlight;
#pragma warning restore SA1401, CA1051

        public DateTimeOffset? LastSuccessAt { get; set; }

        public DateTimeOffset? LastFailureAt { get; set; }

        public string? LastFailureReason { get; set; }
    }
}
