using System.Text.Json;
using System.Text.Json.Nodes;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Orders;

namespace SyncWorker.Forwarding.Tests.Orders;

public sealed class OrderActionsTests
{
    private const string Refunded = "charge.refunded.json";
    private const string DisputeCreated = "charge.dispute.created.json";

    [TestCase("charge.refunded", "order.refunded")]
    [TestCase("charge.dispute.created", "order.disputed")]
    [TestCase("charge.dispute.closed", "order.dispute_closed")]
    [TestCase("charge.dispute.updated", null)]
    [TestCase("charge.dispute.funds_withdrawn", null)]
    [TestCase("checkout.session.completed", null)]
    public void Each_event_has_its_later_action_or_none(string eventType, string? action)
    {
        Assert.That(OrderActions.LaterActionOf(eventType), Is.EqualTo(action));
        Assert.That(OrderActions.IsOrderEvent(eventType), Is.EqualTo(eventType.StartsWith("charge.", StringComparison.Ordinal)));
    }

    [Test]
    public void A_refunded_charge_gives_its_payment_intent_cumulative_amount_and_no_embedded_refunds()
    {
        var facts = OrderActionFacts.Read(OrderTestEvents.Fixture(Refunded), OrderActions.Refunded);
        Assert.That(facts, Is.EqualTo(new OrderActionFacts(
            OrderActions.Refunded, "pi_3Qx7ExampleMrch01a1B2c3D4", "ch_3Qx7ExampleMrch01a1B2c3D4", "usd", 5000, 5000, null, null)));
    }

    [Test]
    public void Refunds_embedded_by_an_older_api_version_are_read()
    {
        var evt = OrderTestEvents.WithSession(Refunded, charge => charge["refunds"] = JsonNode.Parse("""
            {"object": "list", "data": [
              {"id": "re_2", "amount": 3000, "status": "succeeded", "created": 1786176000},
              {"id": "re_1", "amount": 2000, "status": "succeeded", "created": 1786170000}]}
            """));
        var facts = OrderActionFacts.Read(evt, OrderActions.Refunded);
        Assert.That(facts.Refunds!.Select(r => r.Id), Is.EqualTo(new[] { "re_2", "re_1" }));
    }

    [Test]
    public void A_dispute_created_means_hold_and_a_closed_one_release_or_cancel_by_its_status()
    {
        var created = OrderActionFacts.Read(OrderTestEvents.Fixture(DisputeCreated), OrderActions.Disputed);
        Assert.That(created.PaymentIntent, Is.EqualTo("pi_3Qx7ExampleMrch01a1B2c3D4"));
        Assert.That(created.Dispute, Is.EqualTo(new OrderDispute("dp_1Qx7ExampleDispute01", 5000, "usd", "product_not_received", "needs_response", "hold")));

        foreach (var (status, outcome) in new[] { ("won", "release"), ("warning_closed", "release"), ("lost", "cancel") })
        {
            var closed = OrderActionFacts.Read(OrderTestEvents.WithSession(DisputeCreated, d => d["status"] = status), OrderActions.DisputeClosed);
            Assert.That(closed.Dispute!.Outcome, Is.EqualTo(outcome), status);
        }
    }

    [Test]
    public void An_event_whose_object_is_not_what_its_type_promises_is_refused_permanently()
    {
        var failure = Assert.Throws<DeliveryFailedException>(() => OrderActionFacts.Read(OrderTestEvents.Fixture(DisputeCreated), OrderActions.Refunded));
        Assert.That(failure!.IsPermanent, Is.True);
        Assert.That(failure.Message, Does.Contain("not a charge"));
    }

    [Test]
    public void The_refund_of_an_event_is_the_one_that_brought_the_cumulative_amount_to_what_the_event_says()
    {
        var t = DateTimeOffset.FromUnixTimeSeconds(1786170000);
        // As Stripe lists them: newest first. A failed refund does not count.
        RefundFacts[] refunds =
        [
            new("re_3", 1000, "succeeded", t.AddMinutes(2)),
            new("re_failed", 4000, "failed", t.AddMinutes(1)),
            new("re_2", 1500, "pending", t.AddMinutes(1)),
            new("re_1", 2000, "succeeded", t),
        ];
        Assert.Multiple(() =>
        {
            Assert.That(RefundFacts.Matching(refunds, 2000)!.Id, Is.EqualTo("re_1"));
            Assert.That(RefundFacts.Matching(refunds, 3500)!.Id, Is.EqualTo("re_2"));
            Assert.That(RefundFacts.Matching(refunds, 4500)!.Id, Is.EqualTo("re_3"));
            Assert.That(RefundFacts.Matching(refunds, 9999)!.Id, Is.EqualTo("re_3"), "no exact match: the newest that counts");
            Assert.That(RefundFacts.Matching([], 2000), Is.Null);
        });
    }

    [Test]
    public void A_later_action_repeats_the_order_fields_of_the_paid_document_with_its_own_action_source_and_refund()
    {
        var paidEvent = OrderTestEvents.Fixture(OrderTestEvents.Paid);
        var paid = OrderDocumentMapper.Map(paidEvent, [new OrderLineItem("li_1", "T-shirt", 2, "price_1", "prod_1", 1500, 3000, 0, 0, 3000, "usd")]);
        var refundEvent = OrderTestEvents.Fixture(Refunded);
        var facts = OrderActionFacts.Read(refundEvent, OrderActions.Refunded);

        var document = OrderDocumentMapper.MapLaterAction(refundEvent, facts, paid.OrderId, new RefundFacts("re_1", 5000, "succeeded", null), paid.ToJsonBytes());

        using var json = JsonDocument.Parse(document.ToJsonBytes());
        var root = json.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("schema_version").GetInt32(), Is.EqualTo(1));
            Assert.That(root.GetProperty("action").GetString(), Is.EqualTo("order.refunded"));
            Assert.That(root.GetProperty("order_id").GetString(), Is.EqualTo(paid.OrderId));
            Assert.That(root.GetProperty("source_event").GetProperty("id").GetString(), Is.EqualTo(refundEvent.EventId));
            Assert.That(root.GetProperty("customer").GetProperty("email").GetString(), Is.EqualTo(paid.Customer.Email));
            Assert.That(root.GetProperty("line_items").GetArrayLength(), Is.EqualTo(1));
            var refund = root.GetProperty("refund");
            Assert.That(refund.GetProperty("id").GetString(), Is.EqualTo("re_1"));
            Assert.That(refund.GetProperty("amount").GetInt64(), Is.EqualTo(5000));
            Assert.That(refund.GetProperty("amount_refunded").GetInt64(), Is.EqualTo(5000));
            Assert.That(refund.GetProperty("full").GetBoolean(), Is.True);
            Assert.That(root.GetProperty("dispute").ValueKind, Is.EqualTo(JsonValueKind.Null));
        });
    }

    [Test]
    public void Without_the_paid_document_a_later_action_carries_the_order_id_and_what_the_event_says()
    {
        var disputeEvent = OrderTestEvents.Fixture(DisputeCreated);
        var facts = OrderActionFacts.Read(disputeEvent, OrderActions.Disputed);

        var document = OrderDocumentMapper.MapLaterAction(disputeEvent, facts, "cs_live_purged", null, []);

        Assert.Multiple(() =>
        {
            Assert.That(document.OrderId, Is.EqualTo("cs_live_purged"));
            Assert.That(document.Action, Is.EqualTo("order.disputed"));
            Assert.That(document.PaymentIntent, Is.EqualTo("pi_3Qx7ExampleMrch01a1B2c3D4"));
            Assert.That(document.Account, Is.EqualTo(disputeEvent.Account));
            Assert.That(document.LineItems, Is.Empty);
            Assert.That(document.Refund, Is.Null);
            Assert.That(document.Dispute!.Outcome, Is.EqualTo("hold"));
        });
    }

    [Test]
    public void A_paid_document_still_writes_refund_and_dispute_as_null()
    {
        var paid = OrderDocumentMapper.Map(OrderTestEvents.Fixture(OrderTestEvents.Paid), []);
        using var json = JsonDocument.Parse(paid.ToJsonBytes());
        Assert.That(json.RootElement.GetProperty("refund").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(json.RootElement.GetProperty("dispute").ValueKind, Is.EqualTo(JsonValueKind.Null));
    }
}
