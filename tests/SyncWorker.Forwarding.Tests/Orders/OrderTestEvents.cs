using System.Text.Json;
using System.Text.Json.Nodes;
using SyncWorker.Contracts;
using SyncWorker.Testing;

namespace SyncWorker.Forwarding.Tests.Orders;

/// <summary>Queue messages built from fixture events, the way the receiver builds them (read here independently).</summary>
internal static class OrderTestEvents
{
    public const string Paid = "checkout.session.completed.json";
    public const string AsyncUnpaid = "checkout.session.completed.async-unpaid.json";
    public const string AsyncSucceeded = "checkout.session.async_payment_succeeded.json";
    public const string Api20240620 = "api-versions/checkout.session.completed.api-2024-06-20.json";
    public const string Api20200827 = "api-versions/checkout.session.completed.api-2020-08-27.json";
    public const string LineItemsResponse = "checkout.session.line_items.response.json";

    public static readonly DateTimeOffset ReceivedAt = new(2026, 8, 6, 6, 0, 0, TimeSpan.Zero);

    public static StripeEventReceived Fixture(string name) => FromJson(StripeEvents.Text(name));

    public static StripeEventReceived FromJson(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        var dataObject = root.GetProperty("data").GetProperty("object");
        return new StripeEventReceived(
            root.GetProperty("id").GetString()!,
            root.GetProperty("type").GetString()!,
            root.TryGetProperty("account", out var account) && account.ValueKind == JsonValueKind.String ? account.GetString() : null,
            root.GetProperty("livemode").GetBoolean(),
            root.TryGetProperty("api_version", out var version) ? version.GetString() : null,
            DateTimeOffset.FromUnixTimeSeconds(root.GetProperty("created").GetInt64()),
            dataObject.TryGetProperty("object", out var type) ? type.GetString() ?? "" : "",
            dataObject.TryGetProperty("id", out var id) ? id.GetString() : null,
            ReceivedAt,
            json);
    }

    /// <summary>The fixture with <c>data.object</c> changed by <paramref name="edit"/> (re-serialized; fine for these tests).</summary>
    public static StripeEventReceived WithSession(string name, Action<JsonObject> edit)
    {
        var root = JsonNode.Parse(StripeEvents.Text(name))!.AsObject();
        edit(root["data"]!["object"]!.AsObject());
        return FromJson(root.ToJsonString());
    }
}
