using System.Globalization;
using RabbitMQ.Client;
using SyncWorker.Contracts;

namespace SyncWorker.Messaging.DeadLetters;

/// <summary>
/// The properties a replayed delivery is published with: the original's (message id, content type, …), persistent,
/// and its headers, minus what described the last failure and what RabbitMQ itself manages (<c>x-death</c>,
/// <c>x-first-death-*</c>, <c>x-last-death-*</c>, <c>x-delivery-count</c>), plus <see cref="DeliveryHeaders.ReplayedAt"/> (and <see cref="DeliveryHeaders.ForceResend"/> with <c>--force</c>).
/// </summary>
/// <remarks>
/// RabbitMQ drops a message that is dead-lettered round a cycle without a rejection: a message dead-lettered to a
/// queue already named in its <c>x-death</c>. A poison message carried back to its target queue with its <c>x-death</c>
/// would hit that rule on its next redelivery (a delay queue expiring it back to the target queue), so the broker's
/// death record does not travel with a replay; the replay starts afresh, as a new message from the broker's view.
/// </remarks>
public static class ReplayHeaders
{
    private const string MassTransitFaultPrefix = "MT-Fault-";
    private const string MassTransitReason = "MT-Reason";
    private const string FirstDeathPrefix = "x-first-death-";
    private const string LastDeathPrefix = "x-last-death-";

    /// <summary>
    /// Headers dropped on replay. The redelivery count and the schedule's clock (first failure, paused time, end of the
    /// last wait) start again, so the delivery gets its full retry budget; the failure headers describe a failure the
    /// replay means to undo. <see cref="DeliveryHeaders.FailureHistory"/> stays.
    /// </summary>
    private static readonly HashSet<string> Removed = new(StringComparer.OrdinalIgnoreCase)
    {
        DeliveryHeaders.RedeliveryCount,
        DeliveryHeaders.FailureReason,
        DeliveryHeaders.FailureStatus,
        DeliveryHeaders.FailureAttempts,
        DeliveryHeaders.FailurePermanent,
        DeliveryHeaders.FailedAt,
        DeliveryHeaders.FirstFailedAt,
        DeliveryHeaders.PausedSeconds,
        DeliveryHeaders.WaitEndsAt,
        DeliveryHeaders.ForceResend,
        MassTransitReason,
        DeathHeader.Name,
        "x-delivery-count",
    };

    /// <summary>True for a header that a replay removes.</summary>
    public static bool IsRemoved(string name) =>
        Removed.Contains(name)
        || name.StartsWith(MassTransitFaultPrefix, StringComparison.OrdinalIgnoreCase)
        || name.StartsWith(FirstDeathPrefix, StringComparison.OrdinalIgnoreCase)
        || name.StartsWith(LastDeathPrefix, StringComparison.OrdinalIgnoreCase);

    public static BasicProperties ForReplay(IReadOnlyBasicProperties original, DateTimeOffset replayedAt, bool force)
    {
        ArgumentNullException.ThrowIfNull(original);
        var headers = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (original.Headers is { } existing)
        {
            foreach (var (name, value) in existing)
            {
                if (!IsRemoved(name))
                {
                    headers[name] = value;
                }
            }
        }

        headers[DeliveryHeaders.ReplayedAt] = replayedAt.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture);
        if (force)
        {
            // Sent even when the delivery ledger says it was delivered (a forced replay; never carried into a later one).
            headers[DeliveryHeaders.ForceResend] = "true";
        }

        // Persistent whatever the original said: a replayed delivery must survive a broker restart like any other.
        return new BasicProperties(original) { Headers = headers, DeliveryMode = DeliveryModes.Persistent };
    }
}
