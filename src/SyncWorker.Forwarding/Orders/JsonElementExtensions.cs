using System.Text.Json;

namespace SyncWorker.Forwarding.Orders;

/// <summary>
/// Tolerant reads of Stripe objects: a missing property, a JSON <c>null</c> and a value of another kind all read as
/// null, so a shape from another API version never throws.
/// </summary>
internal static class JsonElementExtensions
{
    /// <summary>The property when it is a JSON object.</summary>
    public static JsonElement? GetObjectOrNull(this JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object
            ? value
            : null;

    /// <summary>The property when it is a JSON string.</summary>
    public static string? GetStringOrNull(this JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;

    /// <summary>The property when it is a JSON integer that fits a <see cref="long"/>.</summary>
    public static long? GetInt64OrNull(this JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number
            && value.TryGetInt64(out var number)
            ? number
            : null;

    /// <summary>
    /// The id of an expandable reference: the string itself, or the <c>id</c> of an expanded object.
    /// </summary>
    public static string? GetIdOrNull(this JsonElement element, string name) =>
        element.GetStringOrNull(name) ?? element.GetObjectOrNull(name)?.GetStringOrNull("id");
}
