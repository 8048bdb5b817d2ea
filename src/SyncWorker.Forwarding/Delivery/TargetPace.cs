using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;
using Polly;
using SyncWorker.Forwarding.Targets;

namespace SyncWorker.Forwarding.Delivery;

/// <summary>
/// The pace of each target's requests in this instance: its rate limiter (<c>RateLimit:*</c>, a token bucket whose
/// permits are added on the DI <see cref="TimeProvider"/>'s clock) and its hold, set by a <c>429</c> with
/// <c>Retry-After</c>: until that has passed no attempt to the target starts on this instance, whichever delivery it
/// belongs to. Other targets are not affected. Both act before an attempt and outside its timeout
/// (<see cref="TargetPaceStrategy"/>, between the circuit breaker and the per-attempt timeout).
/// </summary>
public sealed partial class TargetPace(TimeProvider timeProvider, ILogger<TargetPace> logger) : IDisposable
{
    /// <summary>The longest hold a <c>Retry-After</c> sets (an hour, the largest <c>Retry:MaxRetryAfterSeconds</c>).</summary>
    public static readonly TimeSpan MaxHold = TimeSpan.FromHours(1);

    /// <summary>Permits are added at most this often: a bucket adds several at once above 20 per second.</summary>
    public static readonly TimeSpan ShortestPeriod = TimeSpan.FromMilliseconds(50);

    private readonly ConcurrentDictionary<string, Hold> _holds = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);

    /// <summary>
    /// The target's limiter, shared by every pipeline of the target in this instance (a managed target's new revision with
    /// the same limit keeps the bucket); null without a limit.
    /// </summary>
    internal SemaphoreSlim? LimiterOf(TargetOptions target)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (target.RateLimit is not { Enabled: true } limit)
        {
            return null;
        }

        var settings = (limit.PerSecond, limit.EffectiveBurst);
        while (true)
        {
            if (_buckets.TryGetValue(target.Name, out var held) && held.Settings == settings)
            {
                return held.Permits;
            }

            var bucket = new Bucket(settings, timeProvider);
            if (held is null ? _buckets.TryAdd(target.Name, bucket) : _buckets.TryUpdate(target.Name, bucket, held))
            {
                // Attempts already waiting in the old bucket keep it, at its pace; it stops refilling once it is full again
                // (nothing waits on it any more).
                held?.Retire();
                return bucket.Permits;
            }

            bucket.Dispose();
        }
    }

    /// <summary>
    /// The target answered <c>429</c> asking for <paramref name="retryAfter"/>: no attempt to it starts on this instance
    /// before then (at most <see cref="MaxHold"/>); a later answer may lengthen the hold, never shorten it.
    /// </summary>
    public void HoldFor(string target, TimeSpan retryAfter)
    {
        if (retryAfter <= TimeSpan.Zero)
        {
            return;
        }

        var until = timeProvider.GetUtcNow() + (retryAfter < MaxHold ? retryAfter : MaxHold);
        var hold = _holds.GetOrAdd(target, static _ => new Hold());
        bool lengthened;
        lock (hold)
        {
            lengthened = hold.Until is not { } current || until > current;
            if (lengthened)
            {
                hold.Until = until;
            }
        }

        if (lengthened)
        {
            LogHeld(logger, target, Math.Ceiling(retryAfter.TotalSeconds), until);
        }
    }

    /// <summary>Until when the target is held on this instance; null when it is not (any more).</summary>
    public DateTimeOffset? HeldUntil(string target)
    {
        if (!_holds.TryGetValue(target, out var hold))
        {
            return null;
        }

        lock (hold)
        {
            return hold.Until is { } until && until > timeProvider.GetUtcNow() ? until : null;
        }
    }

    /// <summary>
    /// Returns once the target is not held. Throws <see cref="TargetHeldException"/> at once when the hold has more than
    /// <paramref name="longest"/> left: the delivery then waits in a delay queue, not in its consumer slot.
    /// </summary>
    public async ValueTask WaitWhileHeldAsync(string target, TimeSpan longest, CancellationToken cancellationToken)
    {
        while (HeldUntil(target) is { } until)
        {
            var left = until - timeProvider.GetUtcNow();
            if (left > longest)
            {
                throw new TargetHeldException(target, until, left);
            }

            if (left > TimeSpan.Zero)
            {
                await Task.Delay(left, timeProvider, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Adds the target's <see cref="TargetPaceStrategy"/> to its pipeline (after the circuit breaker, before the
    /// per-attempt timeout); a <c>Retry-After</c> hold longer than <c>Retry:MaxRetryAfterSeconds</c> is not waited in process.
    /// </summary>
    internal static void AddTo(ResiliencePipelineBuilder<HttpResponseMessage> builder, IServiceProvider services, TargetOptions target, TimeProvider time)
    {
        if (services.GetService(typeof(TargetPace)) is not TargetPace pace)
        {
            return;
        }

        var longest = TimeSpan.FromSeconds(target.Retry?.MaxRetryAfterSeconds ?? 120);
        var limiter = pace.LimiterOf(target);
        builder.AddStrategy(_ => new TargetPaceStrategy(pace, target.Name, limiter, longest, time), new TargetPaceStrategyOptions());
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var bucket in _buckets.Values)
        {
            bucket.Dispose();
        }

        _buckets.Clear();
    }

    [LoggerMessage(EventId = 2440, Level = LogLevel.Warning,
        Message = "Target {Target} answered 429 asking to wait {Seconds} s (Retry-After): no request to it starts on this instance before {Until:O}; other targets go on")]
    private static partial void LogHeld(ILogger logger, string target, double seconds, DateTimeOffset until);

    private sealed class Hold
    {
        public DateTimeOffset? Until { get; set; }
    }

    /// <summary>
    /// A token bucket refilled by a timer of the <see cref="TimeProvider"/>: <c>k</c> permits every <c>k / PerSecond</c>
    /// seconds, <c>k</c> the smallest number that keeps the period at least <see cref="ShortestPeriod"/> (at most the
    /// bucket's size). The permits are a <see cref="SemaphoreSlim"/>'s count (its waiters are served first come, first
    /// served). Not .NET's <c>TokenBucketRateLimiter</c>: refilled by hand, it adds permits for the time its
    /// <c>Stopwatch</c> says has passed, so its pace cannot follow the DI clock, and tests could not count it.
    /// </summary>
    private sealed class Bucket : IDisposable
    {
        private readonly ITimer _timer;
        private readonly int _size;
        private readonly int _perPeriod;
        private readonly Lock _refill = new();

        public Bucket((double PerSecond, int Burst) settings, TimeProvider time)
        {
            Settings = settings;
            var (perSecond, burst) = settings;
            _size = burst;
            _perPeriod = (int)Math.Clamp(Math.Ceiling(perSecond * ShortestPeriod.TotalSeconds), 1, burst);
            var period = TimeSpan.FromSeconds(_perPeriod / perSecond);
            Permits = new SemaphoreSlim(burst, burst);
            _timer = time.CreateTimer(static state => ((Bucket)state!).Refill(), this, period, period);
        }

        public (double PerSecond, int Burst) Settings { get; }

        public SemaphoreSlim Permits { get; }

        /// <summary>True once replaced and full again: its timer is stopped.</summary>
        public bool Stopped { get; private set; }

        private bool _retired;

        /// <summary>
        /// Replaced by a bucket with other settings: pipelines built from now on use that one; attempts already waiting
        /// here are still served at this pace, and the timer stops at the first refill that finds the bucket full, when
        /// nothing can be waiting on it (a waiter takes each permit released).
        /// </summary>
        public void Retire()
        {
            lock (_refill)
            {
                _retired = true;
            }
        }

        /// <summary>Adds a period's permits, up to the bucket's size; a waiting attempt takes one at once.</summary>
        internal void Refill()
        {
            lock (_refill)
            {
                // Only this adds permits, and taking one only lowers the count: the sum never passes the size.
                var room = _size - Permits.CurrentCount;
                if (room > 0)
                {
                    Permits.Release(Math.Min(room, _perPeriod));
                }
                else if (_retired && !Stopped)
                {
                    Stopped = true;
                    _timer.Dispose();
                }
            }
        }

        public void Dispose()
        {
            _timer.Dispose();
        }
    }
}

/// <summary>
/// No request may go to the target for longer than a delivery waits in process (<c>Retry:MaxRetryAfterSeconds</c>): it
/// answered <c>429</c> with a <c>Retry-After</c> that far off. The delivery is not attempted and waits in a delay queue.
/// </summary>
public sealed class TargetHeldException(string target, DateTimeOffset until, TimeSpan retryAfter)
    : Exception(FormattableString.Invariant($"target '{target}' asked (429, Retry-After) for no request before {until:O}, {Math.Ceiling(retryAfter.TotalSeconds)} s more, so no request was sent"))
{
    /// <summary>How long the hold has left.</summary>
    public TimeSpan RetryAfter { get; } = retryAfter;
}

/// <summary>
/// The strategy that paces one target's attempts: it waits while the target is held (<see cref="TargetPace.HoldFor"/>),
/// then for a permit of its rate limiter, then makes the attempt (the per-attempt timeout starts only then); a <c>429</c>
/// with <c>Retry-After</c> holds the target.
/// </summary>
internal sealed class TargetPaceStrategy(TargetPace pace, string target, SemaphoreSlim? permits, TimeSpan longestHold, TimeProvider time)
    : ResilienceStrategy<HttpResponseMessage>
{
    protected override async ValueTask<Outcome<HttpResponseMessage>> ExecuteCore<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback, ResilienceContext context, TState state)
    {
        try
        {
            await pace.WaitWhileHeldAsync(target, longestHold, context.CancellationToken).ConfigureAwait(context.ContinueOnCapturedContext);
        }
        catch (TargetHeldException held)
        {
            return Outcome.FromException<HttpResponseMessage>(held);
        }

        if (permits is not null)
        {
            // A permit is spent by the attempt (nothing gives it back); the bucket's timer adds new ones. No limit on the
            // waiters: an attempt waits in its delivery's consumer slot, at most MaxConcurrency of them per target.
            await permits.WaitAsync(context.CancellationToken).ConfigureAwait(context.ContinueOnCapturedContext);
        }

        var outcome = await callback(context, state).ConfigureAwait(context.ContinueOnCapturedContext);
        if (outcome.Result is { StatusCode: HttpStatusCode.TooManyRequests } response && DeliveryResilience.RetryAfter(response, time) is { } after)
        {
            pace.HoldFor(target, after);
        }

        return outcome;
    }
}

/// <summary>Options of <see cref="TargetPaceStrategy"/> (none: the name in telemetry).</summary>
internal sealed class TargetPaceStrategyOptions : ResilienceStrategyOptions
{
    public TargetPaceStrategyOptions() => Name = "pace";
}
