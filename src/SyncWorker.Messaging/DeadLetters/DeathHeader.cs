using System.Collections;
using SyncWorker.Messaging.Broker;

namespace SyncWorker.Messaging.DeadLetters;

/// <summary>
/// The latest entry of RabbitMQ's <c>x-death</c> header: the queue a message was dead-lettered from, why
/// (<c>delivery_limit</c>, <c>rejected</c>, <c>expired</c>, <c>maxlen</c>), how often, and when. RabbitMQ keeps the
/// most recent death first.
/// </summary>
public sealed record DeathHeader(string? Queue, string? Reason, long? Count, DateTimeOffset? Time)
{
    /// <summary>The header RabbitMQ sets when it dead-letters a message: an array of tables, most recent first.</summary>
    public const string Name = "x-death";

    /// <summary>The first (latest) entry of <c>x-death</c>, or null when the header is missing or not an array of tables.</summary>
    public static DeathHeader? Read(IDictionary<string, object?>? headers)
    {
        if (headers is null || !headers.TryGetValue(Name, out var value) || value is not IEnumerable entries || value is byte[] or string)
        {
            return null;
        }

        foreach (var entry in entries)
        {
            if (entry is not IDictionary<string, object?> table)
            {
                return null;
            }

            return new DeathHeader(
                HeaderValues.GetString(table, "queue"),
                HeaderValues.GetString(table, "reason"),
                table.TryGetValue("count", out var count) && count is IConvertible number ? ToInt64(number) : null,
                HeaderValues.GetTime(table, "time"));
        }

        return null;
    }

    private static long? ToInt64(IConvertible number)
    {
        try
        {
            return number.ToInt64(System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception exception) when (exception is FormatException or InvalidCastException or OverflowException)
        {
            return null;
        }
    }
}
