using System.Collections;
using System.Globalization;
using System.Text;
using RabbitMQ.Client;

namespace SyncWorker.Messaging.Broker;

/// <summary>
/// Reads AMQP header values as RabbitMQ.Client delivers them: strings arrive as UTF-8 <c>byte[]</c>; numbers, booleans
/// and timestamps as their CLR types.
/// </summary>
public static class HeaderValues
{
    /// <summary>The header as text, or null when it is absent.</summary>
    public static string? GetString(IDictionary<string, object?>? headers, string name) =>
        headers is not null && headers.TryGetValue(name, out var value) ? AsString(value) : null;

    public static int? GetInt32(IDictionary<string, object?>? headers, string name) =>
        int.TryParse(GetString(headers, name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? number : null;

    public static bool? GetBoolean(IDictionary<string, object?>? headers, string name) =>
        bool.TryParse(GetString(headers, name), out var flag) ? flag : null;

    /// <summary>The header as a time: ISO 8601 text (assumed UTC without an offset) or an AMQP timestamp.</summary>
    public static DateTimeOffset? GetTime(IDictionary<string, object?>? headers, string name)
    {
        if (headers is null || !headers.TryGetValue(name, out var value) || value is null)
        {
            return null;
        }

        switch (value)
        {
            case AmqpTimestamp timestamp:
                return DateTimeOffset.FromUnixTimeSeconds(timestamp.UnixTime);
            case DateTime time:
                return new DateTimeOffset(DateTime.SpecifyKind(time, time.Kind == DateTimeKind.Unspecified ? DateTimeKind.Utc : time.Kind));
            case DateTimeOffset offset:
                return offset;
        }

        return DateTimeOffset.TryParse(
            AsString(value),
            CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal,
            out var parsed)
            ? parsed
            : null;
    }

    /// <summary>Any header value as text.</summary>
    public static string? AsString(object? value) => value switch
    {
        null => null,
        byte[] bytes => Encoding.UTF8.GetString(bytes),
        string text => text,
        AmqpTimestamp timestamp => DateTimeOffset.FromUnixTimeSeconds(timestamp.UnixTime).ToString("O", CultureInfo.InvariantCulture),
        bool flag => flag ? "true" : "false",
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        IEnumerable items => string.Join(", ", items.Cast<object?>().Select(AsString)),
        _ => value.ToString(),
    };
}
