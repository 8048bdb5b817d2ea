using System.Globalization;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Messaging;

namespace SyncWorker.Forwarding.Consumers;

/// <summary>
/// Durable retries. A delivery that still fails transiently after its in-process retries is published, confirmed, to the
/// target's delay queue of its next wait (<see cref="Topology.DelayQueue"/>) with a per-message expiration; the original is
/// then acknowledged. When the wait is over RabbitMQ dead-letters the message back to the target queue. The wait is the target's schedule entry with jitter, or longer when the target (<c>Retry-After</c>)
/// or its open circuit asks for it. An open circuit does not use up the schedule: the target is unhealthy, not the
/// delivery, so messages wait (in RabbitMQ) and nothing is dropped. After the last entry the delivery is dead-lettered
/// with its history.
/// </summary>
public sealed partial class RedeliveryScheduler(IServiceProvider services, TimeProvider timeProvider, ILogger<RedeliveryScheduler> logger)
{
    /// <summary>
    /// Schedules the next redelivery; false when there is none left (or no broker to wait in), so the caller dead-letters.
    /// </summary>
    public async Task<bool> TryScheduleAsync(ConsumeContext<FulfillmentDelivery> context, TargetRoute route, DeliveryFailedException failure)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(route);
        ArgumentNullException.ThrowIfNull(failure);
        if (failure.IsPermanent || services.GetService<BrokerAdmin>() is not { } admin)
        {
            return false;
        }

        var schedule = route.Options.Redelivery.Schedule;
        var count = RedeliveryCount(context);
        if (schedule.Count == 0 || (!failure.CircuitOpen && count >= schedule.Count))
        {
            return false;
        }

        // An open circuit waits at the first step and keeps its count; anything else moves one step along.
        var step = failure.CircuitOpen ? 0 : count;
        var nextCount = failure.CircuitOpen ? count : count + 1;
        var level = schedule[step];
        var jitter = route.Options.Redelivery.Jitter;
        var wait = TimeSpan.FromSeconds(level * (1 + (jitter * ((2 * Random.Shared.NextDouble()) - 1))));
        if (failure.RetryAfter is { } asked && asked > wait)
        {
            wait = asked;
        }

        var queue = Topology.DelayQueue(route.Name, level);
        await admin.EnsureDelayQueueAsync(queue, route.QueueName, context.CancellationToken);

        var history = AppendHistory(context, failure);
        var endpoint = await context.GetSendEndpoint(new Uri($"exchange:{queue}?type=fanout&durable=true&autodelete=false"));
        await endpoint.Send(context.Message, send =>
        {
            send.MessageId = context.MessageId;
            send.Durable = true;
            send.Headers.Set(DeliveryHeaders.RedeliveryCount, nextCount);
            send.Headers.Set(DeliveryHeaders.FailureHistory, history);
            if (send is RabbitMqSendContext rabbit)
            {
                rabbit.Mandatory = true;
                rabbit.BasicProperties.Expiration = Math.Max(1, (long)wait.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
            }
        }, context.CancellationToken);

        LogScheduled(logger, context.Message.DeliveryId, route.Name, nextCount, schedule.Count, (long)wait.TotalSeconds, failure.Message);
        return true;
    }

    private static int RedeliveryCount(ConsumeContext context) =>
        context.Headers.Get<int>(DeliveryHeaders.RedeliveryCount) ?? 0;

    private string AppendHistory(ConsumeContext context, DeliveryFailedException failure)
    {
        var previous = context.Headers.Get<string>(DeliveryHeaders.FailureHistory);
        var lines = string.IsNullOrEmpty(previous) ? [] : previous.Split('\n').ToList();
        var status = failure.StatusCode?.ToString(CultureInfo.InvariantCulture) ?? "-";
        var reason = failure.Message.Replace('\n', ' ').Replace('|', '/');
        lines.Add(string.Create(CultureInfo.InvariantCulture, $"{timeProvider.GetUtcNow():O} | {status} | {failure.Attempts} | {reason}"));
        return string.Join('\n', lines.TakeLast(DeliveryHeaders.MaxHistoryEntries));
    }

    [LoggerMessage(EventId = 2201, Level = LogLevel.Warning,
        Message = "Delivery {DeliveryId} to target {Target} waits {WaitSeconds} s in RabbitMQ before redelivery {Redelivery} of {Scheduled}: {Reason}")]
    private static partial void LogScheduled(ILogger logger, string deliveryId, string target, int redelivery, int scheduled, long waitSeconds, string reason);
}
