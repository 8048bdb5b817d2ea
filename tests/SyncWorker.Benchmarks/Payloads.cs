using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Manifest;

namespace SyncWorker.Benchmarks;

/// <summary>
/// Benchmark inputs built from the repository's fixtures: a <c>checkout.session.completed</c> event padded to an
/// exact size with metadata entries, signed as Stripe signs it, and the session's line items.
/// </summary>
internal static class Payloads
{
    /// <summary>The Stripe endpoint secret of the fixtures (tests/SyncWorker.Testing/Fixtures/events/signatures.tsv).</summary>
    public const string StripeSecret = "whsec_test_ExampleSecretForFixturesOnly";

    /// <summary>A Standard Webhooks secret for outgoing signing (whsec_ + base64 of 32 bytes).</summary>
    public const string TargetSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// <summary>The <c>webhook-id</c> used for outgoing signing.</summary>
    public const string WebhookId = "msg_0f5c2d1e8a7b4c3d9e6f1a2b3c4d5e6f";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
    private static readonly JsonSerializerOptions Compact = new() { WriteIndented = false };

    /// <summary>
    /// A <c>checkout.session.completed</c> event of exactly <paramref name="size"/> bytes: the fixture in Stripe's
    /// indented format when it fits (8 and 64 KiB). 1 KiB holds only a compact digital order without null fields
    /// (<see cref="MakeDigitalOrder"/>).
    /// </summary>
    public static byte[] CheckoutSessionCompleted(int size)
    {
        var root = JsonNode.Parse(Resource("checkout.session.completed.json"))!.AsObject();
        var options = Indented;
        if (Serialize(root, options).Length > size)
        {
            options = Compact;
        }

        if (Serialize(root, options).Length > size)
        {
            RemoveNulls(root["data"]!["object"]!.AsObject());
        }

        if (Serialize(root, options).Length > size)
        {
            MakeDigitalOrder(root["data"]!["object"]!.AsObject());
        }

        if (Serialize(root, options).Length > size)
        {
            throw new InvalidOperationException($"The fixture does not fit in {size} bytes.");
        }

        // Pad with metadata, as merchants do (Stripe allows 50 keys of up to 500 characters; the 64 KB event has more).
        var metadata = root["data"]!["object"]!["metadata"]!.AsObject();
        var index = 0;
        while (true)
        {
            var key = string.Create(CultureInfo.InvariantCulture, $"note_{index++:D3}");
            metadata[key] = string.Empty;
            var room = size - Serialize(root, options).Length;
            if (room < 0)
            {
                // Not even an empty entry fits: remove it and lengthen the previous value instead.
                metadata.Remove(key);
                var previous = metadata.Last();
                var deficit = size - Serialize(root, options).Length;
                metadata[previous.Key] = previous.Value!.GetValue<string>() + Filler(deficit, previous.Value!.GetValue<string>().Length);
                break;
            }

            metadata[key] = Filler(Math.Min(room, 400), 0);
            if (room <= 400)
            {
                break;
            }
        }

        var bytes = Serialize(root, options);
        return bytes.Length == size ? bytes : throw new InvalidOperationException($"Built {bytes.Length} bytes, wanted {size}.");
    }

    /// <summary>A <c>Stripe-Signature</c> header for <paramref name="body"/> signed now, computed independently of SyncWorker's code.</summary>
    public static string SignatureHeader(byte[] body, long timestamp) =>
        "t=" + timestamp.ToString(CultureInfo.InvariantCulture) + ",v1=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(StripeSecret), SignedPayload(body, timestamp)));

    /// <summary>The bytes Stripe signs: <c>"{t}." + body</c>.</summary>
    public static byte[] SignedPayload(byte[] body, long timestamp)
    {
        var prefix = Encoding.ASCII.GetBytes(timestamp.ToString(CultureInfo.InvariantCulture) + ".");
        return [.. prefix, .. body];
    }

    /// <summary>
    /// <paramref name="count"/> line items shaped like Stripe's (the fixture's list response), each with its own id,
    /// as <see cref="StripeLineItemSource"/> would return them.
    /// </summary>
    public static IReadOnlyList<OrderLineItem> LineItems(int count)
    {
        using var document = JsonDocument.Parse(Resource("checkout.session.line_items.response.json"));
        var item = document.RootElement.GetProperty("data")[0];
        var price = item.GetProperty("price");
        return Enumerable.Range(1, count)
            .Select(i => new OrderLineItem(
                string.Create(CultureInfo.InvariantCulture, $"{item.GetProperty("id").GetString()}{i:D3}"),
                item.GetProperty("description").GetString(),
                item.GetProperty("quantity").GetInt64(),
                price.GetProperty("id").GetString(),
                price.GetProperty("product").GetString(),
                price.GetProperty("unit_amount").GetInt64(),
                item.GetProperty("amount_subtotal").GetInt64(),
                item.GetProperty("amount_discount").GetInt64(),
                item.GetProperty("amount_tax").GetInt64(),
                item.GetProperty("amount_total").GetInt64(),
                item.GetProperty("currency").GetString()))
            .ToList();
    }

    /// <summary>The message the receiver publishes for <paramref name="body"/> (what the forwarder consumes).</summary>
    public static StripeEventReceived Received(byte[] body)
    {
        using var document = JsonDocument.Parse(body);
        var root = document.RootElement;
        var session = root.GetProperty("data").GetProperty("object");
        return new StripeEventReceived(
            root.GetProperty("id").GetString()!,
            root.GetProperty("type").GetString()!,
            root.GetProperty("account").GetString(),
            root.GetProperty("livemode").GetBoolean(),
            root.GetProperty("api_version").GetString(),
            DateTimeOffset.FromUnixTimeSeconds(root.GetProperty("created").GetInt64()),
            session.GetProperty("object").GetString()!,
            session.GetProperty("id").GetString(),
            DateTimeOffset.UtcNow,
            Encoding.UTF8.GetString(body));
    }

    /// <summary>The repository's manifest (<c>manifest/stripe-app.json</c>).</summary>
    public static AppManifest Manifest() =>
        ManifestLoader.Parse(Encoding.UTF8.GetString(Resource("stripe-app.json")), "stripe-app.json");

    private static byte[] Resource(string name)
    {
        using var stream = typeof(Payloads).Assembly.GetManifestResourceStream("Fixtures." + name)
            ?? throw new InvalidOperationException($"Embedded fixture {name} is missing.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static byte[] Serialize(JsonNode node, JsonSerializerOptions options) => JsonSerializer.SerializeToUtf8Bytes(node, options);

    /// <summary>Plain ASCII text (no JSON escapes), so its length in bytes is its length in characters.</summary>
    private static string Filler(int length, int offset) =>
        string.Create(length, offset, static (span, start) =>
        {
            const string Text = "Gift wrap, deliver to the back door, ring twice. ";
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = Text[(start + i) % Text.Length];
            }
        });

    /// <summary>
    /// The smallest realistic session: a digital order (no shipping collected; billing address "auto", so only
    /// country and postal code), holding only the fields that routing and the order document read.
    /// </summary>
    private static void MakeDigitalOrder(JsonObject session)
    {
        string[] keep =
        [
            "id", "object", "amount_subtotal", "amount_total", "client_reference_id", "created", "currency", "customer",
            "customer_details", "livemode", "metadata", "mode", "payment_intent", "payment_status", "status", "total_details",
        ];
        foreach (var property in session.ToList().Where(p => !keep.Contains(p.Key)))
        {
            session.Remove(property.Key);
        }

        var details = session["customer_details"]!.AsObject();
        details.Remove("tax_ids");
        details["address"] = new JsonObject
        {
            ["country"] = details["address"]!["country"]!.GetValue<string>(),
            ["postal_code"] = details["address"]!["postal_code"]!.GetValue<string>(),
        };
        session["total_details"]!["amount_shipping"] = 0;
    }

    private static void RemoveNulls(JsonObject node)
    {
        foreach (var property in node.ToList())
        {
            switch (property.Value)
            {
                case null:
                    node.Remove(property.Key);
                    break;
                case JsonObject child:
                    RemoveNulls(child);
                    if (child.Count == 0 && property.Key != "metadata")
                    {
                        node.Remove(property.Key);
                    }

                    break;
                case JsonArray { Count: 0 }:
                    node.Remove(property.Key);
                    break;
                default:
                    break;
            }
        }
    }
}
