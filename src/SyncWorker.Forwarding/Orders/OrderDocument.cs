using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SyncWorker.Forwarding.Orders;

/// <summary>
/// The order document sent to targets with <c>Format: order</c>: a paid Checkout Session with its line items, in a
/// versioned snake_case JSON shape that does not depend on the Stripe API version the event was rendered with.
/// Every field is always written; a value Stripe does not give is <c>null</c>. See <c>Orders/ORDER-DOCUMENT.md</c>.
/// </summary>
public sealed record OrderDocument
{
    /// <summary>The value of <see cref="ObjectType"/> (<c>object</c>).</summary>
    public const string ObjectName = "syncworker.order";

    /// <summary>
    /// The value of <see cref="SchemaVersion"/>. Raised only by a breaking change (a field removed, renamed or given
    /// another type or meaning); added fields keep the version.
    /// </summary>
    public const int CurrentSchemaVersion = 1;

    /// <summary><c>object</c>: always <c>syncworker.order</c>.</summary>
    [JsonPropertyName("object")]
    public string ObjectType { get; } = ObjectName;

    /// <summary><c>schema_version</c>: always <see cref="CurrentSchemaVersion"/>.</summary>
    public int SchemaVersion { get; } = CurrentSchemaVersion;

    /// <summary><c>order_id</c>: the Checkout Session id (<c>cs_…</c>).</summary>
    public required string OrderId { get; init; }

    /// <summary><c>action</c>: <c>order.paid</c>, <c>order.refunded</c>, <c>order.disputed</c> or <c>order.dispute_closed</c> (<see cref="OrderActions"/>).</summary>
    public string Action { get; init; } = OrderEventClassifier.PaidAction;

    /// <summary><c>account</c>: the merchant's Stripe account (<c>acct_…</c>), null for the app's own account.</summary>
    public string? Account { get; init; }

    /// <summary><c>livemode</c>: the event's mode.</summary>
    public bool Livemode { get; init; }

    /// <summary><c>created</c>: when the Checkout Session was created (ISO 8601, UTC).</summary>
    public DateTimeOffset? Created { get; init; }

    /// <summary><c>source_event</c>: the Stripe event this document was built from.</summary>
    public required OrderSourceEvent SourceEvent { get; init; }

    /// <summary><c>client_reference_id</c>: the merchant's own cart or order reference.</summary>
    public string? ClientReferenceId { get; init; }

    /// <summary><c>customer</c>: who paid.</summary>
    public required OrderCustomer Customer { get; init; }

    /// <summary><c>shipping</c>: where to ship, or null when Checkout collected no shipping address.</summary>
    public OrderShipping? Shipping { get; init; }

    /// <summary><c>billing_address</c>: the customer's address from <c>customer_details.address</c>.</summary>
    public OrderAddress? BillingAddress { get; init; }

    /// <summary><c>currency</c>: ISO 4217 code, lower case, as Stripe gives it (<c>usd</c>).</summary>
    public string? Currency { get; init; }

    /// <summary><c>amounts</c>: totals in the currency's minor unit.</summary>
    public required OrderAmounts Amounts { get; init; }

    /// <summary><c>payment_status</c>: <c>paid</c> or <c>no_payment_required</c> for a fulfilled order.</summary>
    public string? PaymentStatus { get; init; }

    /// <summary><c>payment_intent</c>: the PaymentIntent id (<c>pi_…</c>), null when there is none.</summary>
    public string? PaymentIntent { get; init; }

    /// <summary><c>metadata</c>: the session's metadata, keys as the merchant wrote them.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    /// <summary><c>line_items</c>: what was bought, in Stripe's order.</summary>
    public IReadOnlyList<OrderLineItem> LineItems { get; init; } = [];

    /// <summary><c>refund</c>: for <c>order.refunded</c>, the refund; null for the other actions.</summary>
    public OrderRefund? Refund { get; init; }

    /// <summary><c>dispute</c>: for <c>order.disputed</c> and <c>order.dispute_closed</c>, the dispute; null for the others.</summary>
    public OrderDispute? Dispute { get; init; }

    /// <summary>An order document as stored (<see cref="ToJsonBytes"/>), or null when it is not one.</summary>
    public static OrderDocument? FromJsonBytes(ReadOnlySpan<byte> json)
    {
        try
        {
            return JsonSerializer.Deserialize<OrderDocument>(json, OrderJson.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The document as compact UTF-8 JSON, the body of an order delivery.</summary>
    public byte[] ToJsonBytes() => JsonSerializer.SerializeToUtf8Bytes(this, OrderJson.Options);
}

/// <summary><c>refund</c> of an <c>order.refunded</c> document: one refund of the order's payment.</summary>
/// <param name="Id"><c>id</c>: the refund (<c>re_…</c>); <c>null</c> when Stripe listed none for the charge.</param>
/// <param name="Amount"><c>amount</c>: this refund's amount, in the currency's minor unit.</param>
/// <param name="AmountRefunded"><c>amount_refunded</c>: everything refunded of the payment so far, this refund included.</param>
/// <param name="Currency"><c>currency</c>.</param>
/// <param name="Full"><c>full</c>: true when the whole payment is now refunded (cancel the order), false for a partial refund.</param>
public sealed record OrderRefund(string? Id, long? Amount, long? AmountRefunded, string? Currency, bool Full);

/// <summary><c>dispute</c> of an <c>order.disputed</c> or <c>order.dispute_closed</c> document.</summary>
/// <param name="Id"><c>id</c>: the dispute (<c>dp_…</c> or <c>du_…</c>).</param>
/// <param name="Amount"><c>amount</c>: the disputed amount.</param>
/// <param name="Currency"><c>currency</c>.</param>
/// <param name="Reason"><c>reason</c>: Stripe's dispute reason (<c>fraudulent</c>, <c>product_not_received</c>, …).</param>
/// <param name="Status"><c>status</c>: Stripe's dispute status (<c>needs_response</c>, …, <c>won</c>, <c>lost</c>).</param>
/// <param name="Outcome">
/// <c>outcome</c>: what the partner should do: <c>hold</c> (disputed: do not ship yet), <c>release</c> (closed, won or a
/// warning closed: ship) or <c>cancel</c> (closed, lost: do not ship).
/// </param>
public sealed record OrderDispute(string Id, long? Amount, string? Currency, string? Reason, string? Status, string? Outcome)
{
    /// <summary><c>hold</c>.</summary>
    public const string Hold = "hold";

    /// <summary><c>release</c>.</summary>
    public const string Release = "release";

    /// <summary><c>cancel</c>.</summary>
    public const string Cancel = "cancel";

    /// <summary>The outcome of a closed dispute of <paramref name="status"/>: won or warning_closed release, lost cancels.</summary>
    public static string? OutcomeOf(string? status) =>
        status switch
        {
            "won" or "warning_closed" => Release,
            "lost" => Cancel,
            _ => null,
        };
}

/// <summary><c>source_event</c>: the Stripe event an order document was built from.</summary>
/// <param name="Id"><c>id</c>: the event id (<c>evt_…</c>).</param>
/// <param name="Type"><c>type</c>: such as <c>checkout.session.completed</c>.</param>
/// <param name="ApiVersion"><c>api_version</c>: the version the event was rendered with.</param>
/// <param name="Created"><c>created</c>: when Stripe created the event (ISO 8601, UTC).</param>
public sealed record OrderSourceEvent(string Id, string Type, string? ApiVersion, DateTimeOffset Created);

/// <summary><c>customer</c> of an order document.</summary>
/// <param name="Id"><c>id</c>: the session's <c>customer</c> (<c>cus_…</c>); null for guest checkouts.</param>
/// <param name="Email"><c>email</c>: <c>customer_details.email</c>.</param>
/// <param name="Name"><c>name</c>: <c>customer_details.name</c>.</param>
/// <param name="Phone"><c>phone</c>: <c>customer_details.phone</c>.</param>
public sealed record OrderCustomer(string? Id, string? Email, string? Name, string? Phone);

/// <summary><c>shipping</c> of an order document.</summary>
/// <param name="Name"><c>name</c>: the recipient.</param>
/// <param name="Phone"><c>phone</c>: the recipient's phone, when the Stripe shape carries one (only the oldest does).</param>
/// <param name="Address"><c>address</c>: where to ship.</param>
public sealed record OrderShipping(string? Name, string? Phone, OrderAddress? Address);

/// <summary>A postal address, as Stripe gives it.</summary>
/// <param name="Line1"><c>line1</c>.</param>
/// <param name="Line2"><c>line2</c>.</param>
/// <param name="City"><c>city</c>.</param>
/// <param name="State"><c>state</c>: state, county, province or region.</param>
/// <param name="PostalCode"><c>postal_code</c>.</param>
/// <param name="Country"><c>country</c>: ISO 3166-1 alpha-2.</param>
public sealed record OrderAddress(string? Line1, string? Line2, string? City, string? State, string? PostalCode, string? Country);

/// <summary><c>amounts</c> of an order document, in the currency's minor unit (cents for <c>usd</c>); null when Stripe gives none.</summary>
/// <param name="Subtotal"><c>subtotal</c>: <c>amount_subtotal</c>, before discounts and taxes.</param>
/// <param name="Tax"><c>tax</c>: <c>total_details.amount_tax</c>.</param>
/// <param name="Shipping"><c>shipping</c>: <c>total_details.amount_shipping</c>.</param>
/// <param name="Discount"><c>discount</c>: <c>total_details.amount_discount</c>.</param>
/// <param name="Total"><c>total</c>: <c>amount_total</c>, after discounts and taxes.</param>
public sealed record OrderAmounts(long? Subtotal, long? Tax, long? Shipping, long? Discount, long? Total);

/// <summary>The serializer settings of order documents.</summary>
internal static class OrderJson
{
    /// <summary>
    /// snake_case property names; nulls written; metadata keys kept as they are; non-ASCII text (names, addresses)
    /// written as UTF-8 rather than <c>\u</c> escapes, since the body is JSON for a machine and never embedded in HTML.
    /// </summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new UtcTimestampConverter() },
    };

    /// <summary>Writes an instant as ISO 8601 UTC with a <c>Z</c>: <c>2026-08-06T06:00:00Z</c> (fractions only when present).</summary>
    private sealed class UtcTimestampConverter : JsonConverter<DateTimeOffset>
    {
        public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            DateTimeOffset.Parse(reader.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

        public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options)
        {
            ArgumentNullException.ThrowIfNull(writer);
            writer.WriteStringValue(value.UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss.FFFFFFF'Z'", CultureInfo.InvariantCulture));
        }
    }
}
