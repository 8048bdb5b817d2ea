using SyncWorker.Forwarding.Orders;
using SyncWorker.Testing;

namespace SyncWorker.Forwarding.Tests.Orders;

[TestFixture]
public sealed class OrderEventClassifierTests
{
    private const string PaidSessionId = "cs_live_a1Qx7ExampleSessionIdForDocsOnly000000000000000000000000";
    private const string AsyncSessionId = "cs_live_b1Qx7ExampleAsyncSessionForDocsOnly0000000000000000000000";

    [Test]
    public void Completed_and_paid_is_fulfilled()
    {
        var result = OrderEventClassifier.Classify(OrderTestEvents.Fixture(OrderTestEvents.Paid));

        Assert.That(result, Is.EqualTo(new OrderClassification(true, PaidSessionId, "payment_status paid")));
    }

    [Test]
    public void Completed_with_no_payment_required_is_fulfilled()
    {
        var evt = OrderTestEvents.WithSession(OrderTestEvents.Paid, session => session["payment_status"] = "no_payment_required");

        var result = OrderEventClassifier.Classify(evt);

        Assert.That(result.Fulfil, Is.True);
        Assert.That(result.SessionId, Is.EqualTo(PaidSessionId));
        Assert.That(result.Reason, Does.Contain("no_payment_required"));
    }

    [Test]
    public void Completed_but_unpaid_waits_for_the_async_payment()
    {
        var result = OrderEventClassifier.Classify(OrderTestEvents.Fixture(OrderTestEvents.AsyncUnpaid));

        Assert.That(result.Fulfil, Is.False);
        Assert.That(result.SessionId, Is.EqualTo(AsyncSessionId));
        Assert.That(result.Reason, Does.Contain("unpaid").And.Contain("checkout.session.async_payment_succeeded"));
    }

    [Test]
    public void Async_payment_succeeded_is_fulfilled()
    {
        var result = OrderEventClassifier.Classify(OrderTestEvents.Fixture(OrderTestEvents.AsyncSucceeded));

        Assert.That(result.Fulfil, Is.True);
        Assert.That(result.SessionId, Is.EqualTo(AsyncSessionId));
    }

    [TestCase("checkout.session.async_payment_failed", "async payment failed")]
    [TestCase("checkout.session.expired", "expired")]
    public void Failed_and_expired_sessions_are_not_fulfilled(string type, string reason)
    {
        var json = StripeEvents.WithId(OrderTestEvents.AsyncUnpaid, StripeEvents.NewEventId(), type: type);
        var evt = OrderTestEvents.FromJson(json);
        Assert.That(evt.Type, Is.EqualTo(type), "the fixture edit changed the envelope's type");

        var result = OrderEventClassifier.Classify(evt);

        Assert.That(result.Fulfil, Is.False);
        Assert.That(result.SessionId, Is.EqualTo(AsyncSessionId));
        Assert.That(result.Reason, Does.Contain(reason));
    }

    [Test]
    public void Async_payment_failed_is_not_fulfilled_even_when_the_session_says_paid()
    {
        var json = StripeEvents.WithId(OrderTestEvents.Paid, StripeEvents.NewEventId(), type: "checkout.session.async_payment_failed");

        var result = OrderEventClassifier.Classify(OrderTestEvents.FromJson(json));

        Assert.That(result.Fulfil, Is.False);
    }

    [Test]
    public void Missing_payment_status_is_not_fulfilled_and_says_so()
    {
        var evt = OrderTestEvents.WithSession(OrderTestEvents.Paid, session => session.Remove("payment_status"));

        var result = OrderEventClassifier.Classify(evt);

        Assert.That(result.Fulfil, Is.False);
        Assert.That(result.SessionId, Is.EqualTo(PaidSessionId));
        Assert.That(result.Reason, Does.Contain("payment_status missing"));
    }

    [TestCase("null")]
    [TestCase("42")]
    [TestCase("\"refunded\"")]
    public void Unexpected_payment_status_is_not_fulfilled(string value)
    {
        var evt = OrderTestEvents.WithSession(OrderTestEvents.Paid, session => session["payment_status"] = System.Text.Json.Nodes.JsonNode.Parse(value));

        var result = OrderEventClassifier.Classify(evt);

        Assert.That(result.Fulfil, Is.False);
        Assert.That(result.Reason, Does.Contain("payment_status"));
    }

    [Test]
    public void Other_event_types_are_not_order_events()
    {
        var result = OrderEventClassifier.Classify(OrderTestEvents.Fixture("customer.created.json"));

        Assert.That(result, Is.EqualTo(new OrderClassification(false, null, "not an order event")));
    }

    [Test]
    public void Payment_intent_succeeded_is_not_an_order_event_either()
    {
        // PaymentIntent events also fire for Checkout payments: fulfilling on them would ship twice.
        var result = OrderEventClassifier.Classify(OrderTestEvents.Fixture("payment_intent.succeeded.json"));

        Assert.That(result.Fulfil, Is.False);
        Assert.That(result.Reason, Is.EqualTo("not an order event"));
    }

    [TestCase("not json at all")]
    [TestCase("[]")]
    [TestCase("{\"data\": 3}")]
    [TestCase("{\"data\": {\"object\": {\"object\": \"checkout.session\"}}}")]
    [TestCase("{\"data\": {\"object\": {\"object\": \"payment_intent\", \"id\": \"pi_1\", \"payment_status\": \"paid\"}}}")]
    public void Unexpected_shapes_are_not_fulfilled_and_do_not_throw(string payload)
    {
        var evt = OrderTestEvents.Fixture(OrderTestEvents.Paid) with { Payload = payload };

        var result = OrderEventClassifier.Classify(evt);

        Assert.That(result.Fulfil, Is.False);
        Assert.That(result.Reason, Is.Not.Empty);
    }
}
