using System.Globalization;
using RabbitMQ.Client;
using SyncWorker.Contracts;

namespace SyncWorker.Operations.DeadLetters;

/// <summary>
/// The properties a replayed delivery is published with: the original's (message id, content type, persistence, …)
/// and its headers, minus what described the last failure, plus <see cref="DeliveryHeaders.ReplayedAt"/>.
/// </summary>
internal static class ReplayHeaders
{
    private const string MassTransitFaultPrefix = "MT-Fault-";
    private const string MassTransitReason = "MT-Reason";

    /// <summary>
    /// Headers dropped on replay. The redelivery count starts again, so the delivery gets its full retry budget; the
    /// failure headers describe a failure the replay means to undo. <see cref="DeliveryHeaders.FailureHistory"/> stays.
    /// </summary>
    private static readonly HashSet<string> Removed = new(StringComparer.OrdinalIgnoreCase)
    {
        DeliveryHeaders.RedeliveryCount,
        DeliveryHeaders.FailureReason,
        DeliveryHeaders.FailureStatus,
        DeliveryHeaders.FailureAttempts,
        DeliveryHeaders.FailurePermanent,
        DeliveryHeaders.FailedAt,
        MassTransitReason,
    };

    /// <summary>True for a header that a replay removes.</summary>
    public static bool IsRemoved(string name) =>
        Removed.Contains(name) || name.StartsWith(MassTransitFaultPrefix, StringComparison.OrdinalIgnoreCase);

    public static BasicProperties ForReplay(IReadOnlyBasicProperties original, DateTimeOffset replayedAt)
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
        return new BasicProperties(original) { Headers = headers };
    }
}
