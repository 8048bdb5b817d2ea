using System.Globalization;
using MassTransit;
using Microsoft.Extensions.Logging;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Targets;

namespace SyncWorker.Forwarding.Consumers;

/// <summary>
/// Durable retries. A delivery that still fails transiently after its in-process retries is sent, confirmed, to the delay
/// queue of its wait (<see cref="Topology.DelayQueue"/>, shared by every target), whose fixed <c>x-message-ttl</c> is the
/// wait, with its target queue as routing key; the original is then acknowledged. Every message of one delay queue waits
/// exactly as long, so none waits behind a longer one; when the wait is over RabbitMQ dead-letters the message back to the
/// queue its routing key names, its target queue.
/// <list type="bullet">
/// <item>The wait is the target's schedule entry, varied by picking one of the few waits <see cref="Topology.RedeliveryWaits(long, double)"/>
/// makes of it (the entry, and the entry minus and plus <c>Redelivery:Jitter</c>); a longer <c>Retry-After</c> (of the target
/// or of its open circuit) is honoured with the wait <see cref="Topology.RetryAfterWait"/> rounds it up to.</item>
/// <item>An open circuit does not use up the schedule: such a delivery waits at the first step and keeps its count.</item>
/// <item>The schedule ends. A delivery is dead-lettered when it fails again after its last step, or when it fails after
/// it has been failing for the schedule's total (the sum of its entries) since its first failure (the end of its first
/// failed round, <see cref="DeliveryHeaders.FirstFailedAt"/>), open circuit or not; or when the target asks for a
/// <c>Retry-After</c> that ends after that. Time the delivery spent back in its target queue while this process saw the
/// target paused (<see cref="TargetPauseHistory"/>) is not counted (<see cref="DeliveryHeaders.PausedSeconds"/>).</item>
/// <item>A send to a delay queue that fails (refused, returned, not confirmed within <see cref="SendTimeout"/>, connection
/// lost) is tried again after <see cref="FirstResendWait"/>, doubling up to <see cref="MaxResendWait"/>, for as long as
/// the delivery is being consumed: broker trouble never dead-letters a delivery, and the message is not handed back to
/// its queue for it (which on quorum queues would count toward the delivery limit).</item>
/// </list>
/// Durable retries need the RabbitMQ transport (an <see cref="IDelayQueueSender"/>); without it failures dead-letter.
/// </summary>
public sealed partial class RedeliveryScheduler(
    IDelayQueueSender? delayQueues,
    TargetPauseHistory pauses,
    TimeProvider timeProvider,
    ILogger<RedeliveryScheduler> logger)
{
    /// <summary>The first wait before a failed send to a delay queue is tried again.</summary>
    public static readonly TimeSpan FirstResendWait = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between tries of a failed send to a delay queue.</summary>
    public static readonly TimeSpan MaxResendWait = TimeSpan.FromSeconds(30);

    /// <summary>How long one send to a delay queue may take, confirmation included, before it counts as failed.</summary>
    public static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Schedules the next redelivery. Not scheduled (<see cref="RedeliveryOutcome.Scheduled"/> false) means the caller
    /// dead-letters the delivery, adding <see cref="RedeliveryOutcome.Reason"/> to the failure's when there is one.
    /// </summary>
    public async Task<RedeliveryOutcome> TryScheduleAsync(ConsumeContext<FulfillmentDelivery> context, TargetRoute route, DeliveryFailedException failure)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(route);
        ArgumentNullException.ThrowIfNull(failure);
        var schedule = route.Options.Redelivery.Schedule;
        if (failure.IsPermanent || delayQueues is null || schedule.Count == 0)
        {
            return RedeliveryOutcome.DeadLetter;
        }

        var now = timeProvider.GetUtcNow();
        var count = context.Headers.Get<int>(DeliveryHeaders.RedeliveryCount) ?? 0;
        var firstFailedAt = Time(context, DeliveryHeaders.FirstFailedAt) is { } first && first <= now ? first : now;
        var paused = TimeSpan.FromSeconds(Math.Max(0, context.Headers.Get<double>(DeliveryHeaders.PausedSeconds) ?? 0));
        if (Time(context, DeliveryHeaders.WaitEndsAt) is { } backInQueue)
        {
            paused += pauses.PausedBetween(route.Name, backInQueue, now);
        }

        if (!failure.CircuitOpen && count >= schedule.Count)
        {
            return RedeliveryOutcome.DeadLetter;
        }

        var failing = now - firstFailedAt - paused;
        var total = TimeSpan.FromSeconds(schedule.Sum());
        if (failing >= total)
        {
            return RedeliveryOutcome.Because(Invariant(
                $"It has been failing for {Hours(failing)} since {firstFailedAt:O} (paused time left out), the whole of its {Hours(total)} redelivery schedule, so it is dead-lettered."));
        }

        // An open circuit waits at the first step and keeps its count; anything else moves one step along.
        var step = failure.CircuitOpen ? 0 : count;
        var nextCount = failure.CircuitOpen ? count : count + 1;
        var waits = Topology.RedeliveryWaits(schedule[step], route.Options.Redelivery.Jitter);
        var waitSeconds = waits[Random.Shared.Next(waits.Count)];
        if (failure.RetryAfter is { } asked && asked > TimeSpan.FromSeconds(waitSeconds))
        {
            if (asked > total - failing)
            {
                return RedeliveryOutcome.Because(Invariant(
                    $"It was asked to wait {asked.TotalSeconds:0} s (Retry-After), past the end of its {Hours(total)} redelivery schedule ({Hours(total - failing)} left), so it is dead-lettered."));
            }

            waitSeconds = Topology.RetryAfterWait(asked.TotalSeconds);
        }

        var wait = TimeSpan.FromSeconds(waitSeconds);
        var headers = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            [DeliveryHeaders.RedeliveryCount] = nextCount,
            [DeliveryHeaders.FailureHistory] = AppendHistory(context, failure, now),
            [DeliveryHeaders.FirstFailedAt] = firstFailedAt.ToString("O", CultureInfo.InvariantCulture),
            [DeliveryHeaders.PausedSeconds] = Math.Round(paused.TotalSeconds, 3),
            [DeliveryHeaders.WaitEndsAt] = (now + wait).ToString("O", CultureInfo.InvariantCulture),
        };
        var queue = Topology.DelayQueue(waitSeconds);
        await SendAsync(delayQueues, context, route, queue, wait, headers);

        LogScheduled(logger, context.Message.DeliveryId, route.Name, nextCount, schedule.Count, waitSeconds, queue, failure.Message);
        return RedeliveryOutcome.Done;
    }

    /// <summary>
    /// Sends the delivery to wait at least <paramref name="wait"/> in a delay queue without counting a redelivery (it did
    /// not fail: another forwarder holds it). False where there are no delay queues (in-memory transport).
    /// </summary>
    public async Task<bool> TryDeferAsync(ConsumeContext<FulfillmentDelivery> context, TargetRoute route, TimeSpan wait, string reason)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(route);
        if (delayQueues is null)
        {
            return false;
        }

        var now = timeProvider.GetUtcNow();
        var waitSeconds = Topology.RetryAfterWait(Math.Max(1, wait.TotalSeconds));
        var headers = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            [DeliveryHeaders.WaitEndsAt] = (now + TimeSpan.FromSeconds(waitSeconds)).ToString("O", CultureInfo.InvariantCulture),
        };
        // What the delivery's earlier failures left stays with it.
        if (context.Headers.Get<int>(DeliveryHeaders.RedeliveryCount) is { } count)
        {
            headers[DeliveryHeaders.RedeliveryCount] = count;
        }

        if (context.Headers.Get<double>(DeliveryHeaders.PausedSeconds) is { } pausedSeconds)
        {
            headers[DeliveryHeaders.PausedSeconds] = pausedSeconds;
        }

        foreach (var carried in new[] { DeliveryHeaders.FailureHistory, DeliveryHeaders.FirstFailedAt, DeliveryHeaders.ForceResend })
        {
            if (context.Headers.Get<string>(carried) is { } text)
            {
                headers[carried] = text;
            }
        }

        var queue = Topology.DelayQueue(waitSeconds);
        await SendAsync(delayQueues, context, route, queue, TimeSpan.FromSeconds(waitSeconds), headers);
        LogDeferred(logger, context.Message.DeliveryId, route.Name, waitSeconds, queue, reason);
        return true;
    }

    /// <summary>Sends until the broker confirms; see the type. Only the consume's own cancellation ends it.</summary>
    private async Task SendAsync(
        IDelayQueueSender sender,
        ConsumeContext<FulfillmentDelivery> context,
        TargetRoute route,
        string queue,
        TimeSpan wait,
        Dictionary<string, object> headers)
    {
        var cancellationToken = context.CancellationToken;
        var pause = FirstResendWait;
        for (var attempt = 1; ; attempt++)
        {
            using var timeout = new CancellationTokenSource(SendTimeout, timeProvider);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            try
            {
                await sender.SendAsync(context, queue, route.QueueName, wait, headers, linked.Token);
                if (attempt > 1)
                {
                    LogSendRecovered(logger, context.Message.DeliveryId, route.Name, queue, attempt);
                }

                return;
            }
            catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
            {
                var reason = timeout.IsCancellationRequested ? Invariant($"not confirmed within {SendTimeout.TotalSeconds:0} s") : exception.Message;
                LogSendFailed(logger, context.Message.DeliveryId, route.Name, queue, attempt, (long)pause.TotalMilliseconds, reason);
            }

            await Task.Delay(pause, timeProvider, cancellationToken);
            pause = TimeSpan.FromTicks(Math.Min(MaxResendWait.Ticks, pause.Ticks * 2));
        }
    }

    private static DateTimeOffset? Time(ConsumeContext context, string header) =>
        context.Headers.Get<string>(header) is { } text
        && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var time)
            ? time
            : null;

    private static string Hours(TimeSpan span) =>
        span < TimeSpan.FromMinutes(2) ? Invariant($"{span.TotalSeconds:0.#} s") : Invariant($"{span.TotalHours:0.##} h");

    private static string Invariant(FormattableString text) => FormattableString.Invariant(text);

    private static string AppendHistory(ConsumeContext context, DeliveryFailedException failure, DateTimeOffset now)
    {
        var previous = context.Headers.Get<string>(DeliveryHeaders.FailureHistory);
        var lines = string.IsNullOrEmpty(previous) ? [] : previous.Split('\n').ToList();
        var status = failure.StatusCode?.ToString(CultureInfo.InvariantCulture) ?? "-";
        var reason = failure.Message.Replace('\n', ' ').Replace('|', '/');
        lines.Add(string.Create(CultureInfo.InvariantCulture, $"{now:O} | {status} | {failure.Attempts} | {reason}"));
        return string.Join('\n', lines.TakeLast(DeliveryHeaders.MaxHistoryEntries));
    }

    [LoggerMessage(EventId = 2204, Level = LogLevel.Information,
        Message = "Delivery {DeliveryId} to target {Target} waits {WaitSeconds} s in RabbitMQ ({Queue}): {Reason}")]
    private static partial void LogDeferred(ILogger logger, string deliveryId, string target, long waitSeconds, string queue, string reason);

    [LoggerMessage(EventId = 2201, Level = LogLevel.Warning,
        Message = "Delivery {DeliveryId} to target {Target} waits {WaitSeconds} s in RabbitMQ ({Queue}) before redelivery {Redelivery} of {Scheduled}: {Reason}")]
    private static partial void LogScheduled(ILogger logger, string deliveryId, string target, int redelivery, int scheduled, long waitSeconds, string queue, string reason);

    [LoggerMessage(EventId = 2202, Level = LogLevel.Warning,
        Message = "Delivery {DeliveryId} to target {Target}: the broker did not take it into {Queue} (try {Attempt}: {Error}); trying again in {RetryMilliseconds} ms, it stays unacknowledged meanwhile")]
    private static partial void LogSendFailed(ILogger logger, string deliveryId, string target, string queue, int attempt, long retryMilliseconds, string error);

    [LoggerMessage(EventId = 2203, Level = LogLevel.Information,
        Message = "Delivery {DeliveryId} to target {Target}: the broker took it into {Queue} at try {Attempt}")]
    private static partial void LogSendRecovered(ILogger logger, string deliveryId, string target, string queue, int attempt);
}

/// <summary>What <see cref="RedeliveryScheduler.TryScheduleAsync"/> did.</summary>
/// <param name="Scheduled">True when the delivery waits in a delay queue; false when the caller dead-letters it.</param>
/// <param name="Reason">Why it is dead-lettered, when that is not the failure itself (the schedule's time is up).</param>
public sealed record RedeliveryOutcome(bool Scheduled, string? Reason)
{
    /// <summary>Waiting in a delay queue.</summary>
    public static readonly RedeliveryOutcome Done = new(true, null);

    /// <summary>Dead-letter it with the failure's own reason (permanent, schedule spent, no broker).</summary>
    public static readonly RedeliveryOutcome DeadLetter = new(false, null);

    /// <summary>Dead-letter it, adding <paramref name="reason"/>.</summary>
    public static RedeliveryOutcome Because(string reason) => new(false, reason);
}
