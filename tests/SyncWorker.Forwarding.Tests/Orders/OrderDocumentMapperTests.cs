using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Testing;

namespace SyncWorker.Forwarding.Tests.Orders;

[TestFixture]
public sealed class OrderDocumentMapperTests
{
    private static readonly OrderLineItem[] TwoItems =
    [
        new("li_A", "T-shirt (M, navy)", 3, "price_A", "prod_A", 1500, 4500, 0, 0, 4500, "usd"),
        new("li_B", "Gift wrap", 1, "price_B", null, null, 300, 50, 20, 270, "usd"),
    ];

    [Test]
    public void Maps_every_field_of_the_paid_fixture()
    {
        using var fixture = JsonDocument.Parse(StripeEvents.Text(OrderTestEvents.Paid));
        var envelope = fixture.RootElement;
        var session = envelope.GetProperty("data").GetProperty("object");
        var details = session.GetProperty("customer_details");
        var totals = session.GetProperty("total_details");

        using var output = MapToJson(OrderTestEvents.Fixture(OrderTestEvents.Paid), TwoItems);
        var doc = output.RootElement;

        Assert.Multiple(() =>
        {
            Assert.That(doc.GetProperty("object").GetString(), Is.EqualTo("syncworker.order"));
            Assert.That(doc.GetProperty("schema_version").GetInt32(), Is.EqualTo(1));
            Assert.That(doc.GetProperty("order_id").GetString(), Is.EqualTo(session.GetProperty("id").GetString()));
            Assert.That(doc.GetProperty("action").GetString(), Is.EqualTo("order.paid"));
            Assert.That(doc.GetProperty("account").GetString(), Is.EqualTo(envelope.GetProperty("account").GetString()));
            Assert.That(doc.GetProperty("livemode").GetBoolean(), Is.EqualTo(envelope.GetProperty("livemode").GetBoolean()));
            Assert.That(doc.GetProperty("created").GetString(), Is.EqualTo(IsoUtc(session.GetProperty("created").GetInt64())));

            var source = doc.GetProperty("source_event");
            Assert.That(source.GetProperty("id").GetString(), Is.EqualTo(envelope.GetProperty("id").GetString()));
            Assert.That(source.GetProperty("type").GetString(), Is.EqualTo("checkout.session.completed"));
            Assert.That(source.GetProperty("api_version").GetString(), Is.EqualTo(envelope.GetProperty("api_version").GetString()));
            Assert.That(source.GetProperty("created").GetString(), Is.EqualTo(IsoUtc(envelope.GetProperty("created").GetInt64())));

            Assert.That(doc.GetProperty("client_reference_id").GetString(), Is.EqualTo(session.GetProperty("client_reference_id").GetString()));

            var customer = doc.GetProperty("customer");
            Assert.That(customer.GetProperty("id").GetString(), Is.EqualTo(session.GetProperty("customer").GetString()));
            Assert.That(customer.GetProperty("email").GetString(), Is.EqualTo(details.GetProperty("email").GetString()));
            Assert.That(customer.GetProperty("name").GetString(), Is.EqualTo(details.GetProperty("name").GetString()));
            Assert.That(customer.GetProperty("phone").GetString(), Is.EqualTo(details.GetProperty("phone").GetString()));

            var shippingDetails = session.GetProperty("collected_information").GetProperty("shipping_details");
            var shipping = doc.GetProperty("shipping");
            Assert.That(shipping.GetProperty("name").GetString(), Is.EqualTo(shippingDetails.GetProperty("name").GetString()));
            Assert.That(shipping.GetProperty("phone").ValueKind, Is.EqualTo(JsonValueKind.Null));
            AssertAddress(shipping.GetProperty("address"), shippingDetails.GetProperty("address"));
            AssertAddress(doc.GetProperty("billing_address"), details.GetProperty("address"));

            Assert.That(doc.GetProperty("currency").GetString(), Is.EqualTo(session.GetProperty("currency").GetString()));
            var amounts = doc.GetProperty("amounts");
            Assert.That(amounts.GetProperty("subtotal").GetInt64(), Is.EqualTo(session.GetProperty("amount_subtotal").GetInt64()));
            Assert.That(amounts.GetProperty("tax").GetInt64(), Is.EqualTo(totals.GetProperty("amount_tax").GetInt64()));
            Assert.That(amounts.GetProperty("shipping").GetInt64(), Is.EqualTo(totals.GetProperty("amount_shipping").GetInt64()));
            Assert.That(amounts.GetProperty("discount").GetInt64(), Is.EqualTo(totals.GetProperty("amount_discount").GetInt64()));
            Assert.That(amounts.GetProperty("total").GetInt64(), Is.EqualTo(session.GetProperty("amount_total").GetInt64()));

            Assert.That(doc.GetProperty("payment_status").GetString(), Is.EqualTo("paid"));
            Assert.That(doc.GetProperty("payment_intent").GetString(), Is.EqualTo(session.GetProperty("payment_intent").GetString()));
            Assert.That(
                doc.GetProperty("metadata").EnumerateObject().Select(p => (p.Name, p.Value.GetString())),
                Is.EqualTo(session.GetProperty("metadata").EnumerateObject().Select(p => (p.Name, p.Value.GetString()))));
        });
    }

    [Test]
    public void Line_items_are_written_in_order_with_snake_case_fields()
    {
        using var output = MapToJson(OrderTestEvents.Fixture(OrderTestEvents.Paid), TwoItems);
        var items = output.RootElement.GetProperty("line_items").EnumerateArray().ToArray();

        Assert.That(items, Has.Length.EqualTo(2));
        Assert.That(items[0].EnumerateObject().Select(p => p.Name), Is.EqualTo(new[]
        {
            "id", "description", "quantity", "price_id", "product_id", "unit_amount",
            "amount_subtotal", "amount_discount", "amount_tax", "amount_total", "currency",
        }));
        Assert.Multiple(() =>
        {
            Assert.That(items[0].GetProperty("id").GetString(), Is.EqualTo("li_A"));
            Assert.That(items[0].GetProperty("quantity").GetInt64(), Is.EqualTo(3));
            Assert.That(items[0].GetProperty("unit_amount").GetInt64(), Is.EqualTo(1500));
            Assert.That(items[1].GetProperty("id").GetString(), Is.EqualTo("li_B"));
            Assert.That(items[1].GetProperty("product_id").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(items[1].GetProperty("unit_amount").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(items[1].GetProperty("amount_discount").GetInt64(), Is.EqualTo(50));
            Assert.That(items[1].GetProperty("amount_tax").GetInt64(), Is.EqualTo(20));
            Assert.That(items[1].GetProperty("amount_total").GetInt64(), Is.EqualTo(270));
        });
    }

    [Test]
    public void Json_is_snake_case_with_schema_version_1_and_every_field_present()
    {
        using var output = MapToJson(OrderTestEvents.Fixture(OrderTestEvents.Paid), []);
        var doc = output.RootElement;

        Assert.That(doc.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[]
        {
            "object", "schema_version", "order_id", "action", "account", "livemode", "created", "source_event",
            "client_reference_id", "customer", "shipping", "billing_address", "currency", "amounts", "payment_status",
            "payment_intent", "metadata", "line_items", "refund", "dispute",
        }));
        Assert.That(doc.GetProperty("schema_version").ValueKind, Is.EqualTo(JsonValueKind.Number));
        Assert.That(doc.GetProperty("source_event").EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "id", "type", "api_version", "created" }));
        Assert.That(doc.GetProperty("customer").EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "id", "email", "name", "phone" }));
        Assert.That(doc.GetProperty("shipping").EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "name", "phone", "address" }));
        Assert.That(doc.GetProperty("billing_address").EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "line1", "line2", "city", "state", "postal_code", "country" }));
        Assert.That(doc.GetProperty("amounts").EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "subtotal", "tax", "shipping", "discount", "total" }));
        Assert.That(doc.GetProperty("line_items").GetArrayLength(), Is.Zero);
    }

    [Test]
    public void Shipping_comes_from_top_level_shipping_details_in_api_2024_06_20()
    {
        using var fixture = JsonDocument.Parse(StripeEvents.Text(OrderTestEvents.Api20240620));
        var session = fixture.RootElement.GetProperty("data").GetProperty("object");
        Assert.That(session.TryGetProperty("collected_information", out _), Is.False, "the old-version fixture must not have the new shape");
        var expected = session.GetProperty("shipping_details");

        using var output = MapToJson(OrderTestEvents.Fixture(OrderTestEvents.Api20240620), TwoItems);
        var shipping = output.RootElement.GetProperty("shipping");

        Assert.That(shipping.GetProperty("name").GetString(), Is.EqualTo(expected.GetProperty("name").GetString()));
        Assert.That(shipping.GetProperty("phone").ValueKind, Is.EqualTo(JsonValueKind.Null));
        AssertAddress(shipping.GetProperty("address"), expected.GetProperty("address"));
        Assert.That(shipping.GetProperty("address").GetProperty("line2").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(output.RootElement.GetProperty("source_event").GetProperty("api_version").GetString(), Is.EqualTo("2024-06-20"));
    }

    [Test]
    public void Shipping_comes_from_top_level_shipping_in_api_2020_08_27()
    {
        using var fixture = JsonDocument.Parse(StripeEvents.Text(OrderTestEvents.Api20200827));
        var expected = fixture.RootElement.GetProperty("data").GetProperty("object").GetProperty("shipping");

        using var output = MapToJson(OrderTestEvents.Fixture(OrderTestEvents.Api20200827), TwoItems);
        var shipping = output.RootElement.GetProperty("shipping");

        Assert.That(shipping.GetProperty("name").GetString(), Is.EqualTo(expected.GetProperty("name").GetString()));
        Assert.That(shipping.GetProperty("phone").GetString(), Is.EqualTo(expected.GetProperty("phone").GetString()));
        AssertAddress(shipping.GetProperty("address"), expected.GetProperty("address"));
    }

    [Test]
    public void Collected_information_wins_when_both_shapes_are_present()
    {
        // 2025-02-24.acacia sends shipping in both places.
        var evt = OrderTestEvents.WithSession(OrderTestEvents.Paid, session =>
            session["shipping_details"] = new JsonObject { ["name"] = "Legacy Copy", ["address"] = new JsonObject { ["city"] = "Elsewhere" } });

        var document = OrderDocumentMapper.Map(evt, []);

        Assert.That(document.Shipping?.Name, Is.EqualTo("Jenny Rosen"));
        Assert.That(document.Shipping?.Address?.City, Is.EqualTo("Portland"));
    }

    [Test]
    public void Fields_Stripe_does_not_give_are_null()
    {
        // The 2020 fixture's customer_details has only the e-mail.
        using var output = MapToJson(OrderTestEvents.Fixture(OrderTestEvents.Api20200827), []);
        var doc = output.RootElement;

        Assert.That(doc.GetProperty("customer").GetProperty("email").GetString(), Is.EqualTo("jenny.rosen@example.com"));
        Assert.That(doc.GetProperty("customer").GetProperty("name").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(doc.GetProperty("customer").GetProperty("phone").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(doc.GetProperty("billing_address").ValueKind, Is.EqualTo(JsonValueKind.Null));
    }

    [Test]
    public void A_session_with_nothing_optional_maps_to_nulls()
    {
        var evt = OrderTestEvents.WithSession(OrderTestEvents.Paid, session =>
        {
            session.Remove("collected_information");
            session.Remove("created");
            session["customer"] = null;
            session["customer_details"] = null;
            session["client_reference_id"] = null;
            session["amount_subtotal"] = null;
            session["total_details"] = null;
            session["payment_intent"] = null;
            session.Remove("metadata");
            session.Remove("currency");
        });

        using var output = MapToJson(evt, []);
        var doc = output.RootElement;

        Assert.Multiple(() =>
        {
            foreach (var name in new[] { "created", "client_reference_id", "shipping", "billing_address", "currency", "payment_intent" })
            {
                Assert.That(doc.GetProperty(name).ValueKind, Is.EqualTo(JsonValueKind.Null), name);
            }

            foreach (var name in new[] { "id", "email", "name", "phone" })
            {
                Assert.That(doc.GetProperty("customer").GetProperty(name).ValueKind, Is.EqualTo(JsonValueKind.Null), "customer." + name);
            }

            var amounts = doc.GetProperty("amounts");
            foreach (var name in new[] { "subtotal", "tax", "shipping", "discount" })
            {
                Assert.That(amounts.GetProperty(name).ValueKind, Is.EqualTo(JsonValueKind.Null), "amounts." + name);
            }

            Assert.That(amounts.GetProperty("total").GetInt64(), Is.EqualTo(5000));
            Assert.That(doc.GetProperty("metadata").EnumerateObject().Count(), Is.Zero);
            Assert.That(doc.GetProperty("order_id").GetString(), Does.StartWith("cs_live_"));
        });
    }

    [Test]
    public void Metadata_keys_are_copied_as_written_and_not_renamed()
    {
        var evt = OrderTestEvents.WithSession(OrderTestEvents.Paid, session =>
            session["metadata"] = new JsonObject { ["OrderId"] = "A-1", ["gift-note"] = "Happy birthday!", ["count"] = 3 });

        using var output = MapToJson(evt, []);
        var metadata = output.RootElement.GetProperty("metadata");

        Assert.That(metadata.EnumerateObject().Select(p => (p.Name, p.Value.GetString())), Is.EqualTo(new[]
        {
            ("OrderId", "A-1"),
            ("gift-note", "Happy birthday!"),
            ("count", "3"),
        }));
    }

    [Test]
    public void Expanded_customer_and_payment_intent_map_to_their_ids()
    {
        var evt = OrderTestEvents.WithSession(OrderTestEvents.Paid, session =>
        {
            session["customer"] = new JsonObject { ["id"] = "cus_Expanded", ["object"] = "customer" };
            session["payment_intent"] = new JsonObject { ["id"] = "pi_Expanded", ["object"] = "payment_intent" };
        });

        var document = OrderDocumentMapper.Map(evt, []);

        Assert.That(document.Customer.Id, Is.EqualTo("cus_Expanded"));
        Assert.That(document.PaymentIntent, Is.EqualTo("pi_Expanded"));
    }

    [Test]
    public void Names_and_phone_numbers_are_written_as_readable_UTF8()
    {
        var evt = OrderTestEvents.WithSession(OrderTestEvents.Paid, session =>
            session["customer_details"]!["name"] = "José Müller-Łukasiewicz");

        var json = Encoding.UTF8.GetString(OrderDocumentMapper.Map(evt, []).ToJsonBytes());

        Assert.That(json, Does.Contain("\"name\":\"José Müller-Łukasiewicz\""));
        Assert.That(json, Does.Contain("\"phone\":\"+15555550123\""));
    }

    [Test]
    public void The_event_envelope_supplies_account_mode_and_source()
    {
        var evt = OrderTestEvents.Fixture(OrderTestEvents.Paid) with { Account = null, Livemode = false };

        var document = OrderDocumentMapper.Map(evt, []);

        Assert.That(document.Account, Is.Null);
        Assert.That(document.Livemode, Is.False);
        Assert.That(document.SourceEvent, Is.EqualTo(new OrderSourceEvent(evt.EventId, evt.Type, evt.ApiVersion, evt.Created)));
    }

    [TestCase("customer.created.json")]
    [TestCase("payment_intent.succeeded.json")]
    public void A_payload_that_is_not_a_checkout_session_is_a_permanent_failure(string fixture)
    {
        var evt = OrderTestEvents.Fixture(fixture);

        var failure = Assert.Throws<DeliveryFailedException>(() => OrderDocumentMapper.Map(evt, []));

        Assert.That(failure!.IsPermanent, Is.True);
        Assert.That(failure.Message, Does.Contain(evt.EventId).And.Contain("checkout.session"));
    }

    [TestCase("not json")]
    [TestCase("{\"data\": {}}")]
    [TestCase("{\"data\": {\"object\": {\"object\": \"checkout.session\"}}}")]
    public void A_broken_payload_is_a_permanent_failure(string payload)
    {
        var evt = OrderTestEvents.Fixture(OrderTestEvents.Paid) with { Payload = payload };

        var failure = Assert.Throws<DeliveryFailedException>(() => OrderDocumentMapper.Map(evt, []));

        Assert.That(failure!.IsPermanent, Is.True);
    }

    private static JsonDocument MapToJson(StripeEventReceived evt, IReadOnlyList<OrderLineItem> items) =>
        JsonDocument.Parse(OrderDocumentMapper.Map(evt, items).ToJsonBytes());

    private static string IsoUtc(long unixSeconds) =>
        DateTimeOffset.FromUnixTimeSeconds(unixSeconds).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static void AssertAddress(JsonElement actual, JsonElement expected)
    {
        Assert.That(actual.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "line1", "line2", "city", "state", "postal_code", "country" }));
        foreach (var name in new[] { "line1", "line2", "city", "state", "postal_code", "country" })
        {
            var want = expected.GetProperty(name);
            Assert.That(actual.GetProperty(name).ValueKind, Is.EqualTo(want.ValueKind), name);
            Assert.That(actual.GetProperty(name).GetString(), Is.EqualTo(want.GetString()), name);
        }
    }
}
