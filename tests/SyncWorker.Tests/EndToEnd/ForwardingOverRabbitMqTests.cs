using System.Net;
using System.Text;
using System.Text.Json;
using MassTransit;
using Response = WireMock.ResponseBuilders.Response;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using StandardWebhooks;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Installs;
using SyncWorker.Store.Installs;
using SyncWorker.Store.Ledger;
using SyncWorker.Testing;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Tests.EndToEnd;

/// <summary>
/// Signed webhook in, order document out: the whole flow over a real RabbitMQ node and WireMock.Net peers, once with
/// classic queues and once with quorum queues (<c>RabbitMq:QueueType</c>).
/// </summary>
[NonParallelizable]
[TestFixture("classic")]
[TestFixture("quorum")]
public sealed class ForwardingOverRabbitMqTests(string queueType)
{
    private const string Completed = "checkout.session.completed.json";

    /// <summary>The Checkout Session of <see cref="Completed"/>.</summary>
    private const string SessionId = "cs_live_a1Qx7ExampleSessionIdForDocsOnly000000000000000000000000";
    private static readonly string SigningSecret = "whsec_" + Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
    private RabbitMqNode _node = null!;
    private WireMockServer _stripe = null!;
    private readonly List<WireMockServer> _targets = [];

    [OneTimeSetUp]
    public async Task StartBrokerAsync() => _node = await RabbitMqNode.LaunchAsync();

    [OneTimeTearDown]
    public async Task StopBrokerAsync() => await _node.DisposeAsync();

    [SetUp]
    public void StartStripe()
    {
        _stripe = WireMockServer.Start();
        _stripe.Given(Request.Create().WithPath("/v1/checkout/sessions/*/line_items").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json")
                .WithBody(StripeEvents.Text("checkout.session.line_items.response.json")));
    }

    [TearDown]
    public void StopPeers()
    {
        _stripe.Stop();
        _stripe.Dispose();
        foreach (var target in _targets)
        {
            target.Stop();
            target.Dispose();
        }

        _targets.Clear();
    }

    [Test]
    public async Task Paid_checkout_session_becomes_one_signed_order_document_at_the_target()
    {
        var target = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, ("wms", target, "live", "order", 2));
        var eventId = StripeEvents.NewEventId();

        using (var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, eventId)))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(() => target.LogEntries.Count > 0, TimeSpan.FromSeconds(30)), Is.True, "the order reached the target");
        var request = target.LogEntries.Single().RequestMessage;
        var body = request.Body!;
        var headers = new HeaderDictionary(request.Headers!.ToDictionary(h => h.Key, h => new Microsoft.Extensions.Primitives.StringValues(h.Value.ToArray())));
        Assert.DoesNotThrow(() => new StandardWebhook(SigningSecret).Verify(body, headers), "verifiable with the StandardWebhooks library");

        using var order = JsonDocument.Parse(body);
        var root = order.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("object").GetString(), Is.EqualTo("syncworker.order"));
            Assert.That(root.GetProperty("order_id").GetString(), Does.StartWith("cs_"));
            Assert.That(root.GetProperty("account").GetString(), Is.EqualTo("acct_1Qx7ExampleMrch01"));
            Assert.That(root.GetProperty("source_event").GetProperty("id").GetString(), Is.EqualTo(eventId));
            Assert.That(root.GetProperty("line_items").GetArrayLength(), Is.GreaterThan(0));
            Assert.That(request.Headers!["Idempotency-Key"].Single(), Is.EqualTo(request.Headers["webhook-id"].Single()));
        });

        var lineItemCall = _stripe.LogEntries.Single().RequestMessage;
        Assert.That(lineItemCall.Headers!["Stripe-Account"].Single(), Is.EqualTo("acct_1Qx7ExampleMrch01"));
        Assert.That(await QueuesDrainedAsync(vhost, "wms"), Is.True);
    }

    [Test]
    public async Task Four_order_targets_get_one_order_document_built_from_one_line_items_listing()
    {
        var target = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        string[] names = ["wms-a", "wms-b", "wms-c", "wms-d"];
        await using var worker = await StartWorkerAsync(vhost, names.Select(name => (name, target, "live", "order", 2)).ToArray());
        var eventId = StripeEvents.NewEventId();

        using (var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, eventId)))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(() => target.LogEntries.Count >= names.Length, TimeSpan.FromSeconds(30)), Is.True, "the order reached every target");
        Assert.That(await QueuesDrainedAsync(vhost, names), Is.True);
        var requests = target.LogEntries.Select(entry => entry.RequestMessage).ToList();
        Assert.That(requests.Select(request => request.Path), Is.EquivalentTo(names.Select(name => "/fulfillment/" + name)), "one delivery per target");
        Assert.That(requests.Select(request => request.Body).Distinct().Count(), Is.EqualTo(1), "the same document for every target");
        foreach (var request in requests)
        {
            var headers = new HeaderDictionary(request.Headers!.ToDictionary(h => h.Key, h => new Microsoft.Extensions.Primitives.StringValues(h.Value.ToArray())));
            Assert.DoesNotThrow(() => new StandardWebhook(SigningSecret).Verify(request.Body!, headers), "each signed for its target");
        }

        using var order = JsonDocument.Parse(requests[0].Body!);
        Assert.That(order.RootElement.GetProperty("source_event").GetProperty("id").GetString(), Is.EqualTo(eventId));
        Assert.That(order.RootElement.GetProperty("line_items").GetArrayLength(), Is.GreaterThan(0));
        Assert.That(_stripe.LogEntries.Count(entry => entry.RequestMessage.Path.EndsWith("/line_items", StringComparison.Ordinal)), Is.EqualTo(1),
            "one line-items listing for the order, not one per target");
    }

    [Test]
    public async Task An_order_delivery_queued_without_a_document_by_an_earlier_version_is_built_by_the_target_consumer()
    {
        var target = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, ("wms", target, "live", "order", 2));
        Assert.That(await Eventually.TrueAsync(async () => await ConsumersAsync(vhost, Topology.TargetQueue("wms")) == 1, TimeSpan.FromSeconds(30)), Is.True);
        var eventId = StripeEvents.NewEventId();
        var now = DateTimeOffset.UtcNow;
        var delivery = new FulfillmentDelivery("wms", "msg_order_without_document_01", "order", "order.paid",
            new StripeEventReceived(eventId, "checkout.session.completed", "acct_1Qx7ExampleMrch01", true, "2025-10-29.clover", now,
                "checkout.session", "cs_live_without_document", now, StripeEvents.WithId(Completed, eventId)));

        // As earlier versions sent order deliveries: no document, so the consumer reads the line items itself.
        await SendInEnvelopeAsync(worker, delivery);

        Assert.That(await Eventually.TrueAsync(() => target.LogEntries.Count > 0, TimeSpan.FromSeconds(30)), Is.True, "the order reached the target");
        using var order = JsonDocument.Parse(target.LogEntries.Single().RequestMessage.Body!);
        Assert.That(order.RootElement.GetProperty("source_event").GetProperty("id").GetString(), Is.EqualTo(eventId));
        Assert.That(order.RootElement.GetProperty("line_items").GetArrayLength(), Is.GreaterThan(0));
        Assert.That(_stripe.LogEntries, Has.Count.EqualTo(1), "the consumer read the line items");
    }

    [Test]
    public async Task The_same_order_sent_twice_by_Stripe_is_posted_once_and_the_repeat_is_counted_in_the_ledger()
    {
        var target = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, ("wms", target, "live", "order", 2));

        // Stripe can create two events for one change, and send one event twice; the order and action are the same.
        var first = StripeEvents.NewEventId();
        foreach (var id in new[] { first, StripeEvents.NewEventId(), first })
        {
            using var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, id));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        var ledger = worker.Services.GetRequiredService<IDeliveryLedger>();
        Assert.That(await Eventually.TrueAsync(async () => (await ledger.FindBySubjectAsync(SessionId, CancellationToken.None)) is [{ RepeatsSuppressed: 2 }], TimeSpan.FromSeconds(30)), Is.True,
            "both repeats were suppressed");
        Assert.That(await QueuesDrainedAsync(vhost, "wms"), Is.True);
        Assert.That(target.LogEntries, Has.Count.EqualTo(1), "one POST for the order");
        var row = (await ledger.FindBySubjectAsync(SessionId, CancellationToken.None)).Single();
        Assert.That((row.Key, row.State, row.WebhookId), Is.EqualTo(($"wms/order.paid/{SessionId}", DeliveryState.Delivered, target.LogEntries[0].RequestMessage.Headers!["webhook-id"].Single())));
        Assert.That(row.LastStatus, Is.EqualTo(200));
        Assert.That(await ledger.AttemptsAsync(row.Key, CancellationToken.None), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Every_request_of_every_round_is_recorded_in_the_ledger()
    {
        // Two 503s in the first round (one in-process retry), then a durable redelivery that gets 200.
        var target = WireMockServer.Start();
        _targets.Add(target);
        target.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).InScenario("flaky").WillSetStateTo("once")
            .RespondWith(Response.Create().WithStatusCode(503));
        target.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).InScenario("flaky").WhenStateIs("once").WillSetStateTo("up")
            .RespondWith(Response.Create().WithStatusCode(503));
        target.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).InScenario("flaky").WhenStateIs("up")
            .RespondWith(Response.Create().WithStatusCode(200));
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, [("wms", target, "live", "order", 1)],
            ("Fulfillment:Targets:0:Redelivery:DelaysSeconds:0", "1"));

        using (var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId())))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        var ledger = worker.Services.GetRequiredService<IDeliveryLedger>();
        Assert.That(await Eventually.TrueAsync(async () => (await ledger.FindBySubjectAsync(SessionId, CancellationToken.None)) is [{ State: DeliveryState.Delivered }], TimeSpan.FromSeconds(30)), Is.True);
        var row = (await ledger.FindBySubjectAsync(SessionId, CancellationToken.None)).Single();
        var attempts = await ledger.AttemptsAsync(row.Key, CancellationToken.None);
        Assert.That(attempts.Select(a => (a.Attempt, a.Outcome, a.Status)), Is.EqualTo(new[] { (1, "failed", (int?)503), (2, "failed", 503), (3, "delivered", 200) }));
        Assert.That(attempts[1].Error, Does.Contain("failed after 2 attempts"), "the first round's reason is on its last request");
        Assert.That(attempts.Select(a => a.Owner).Distinct().Count(), Is.EqualTo(2), "two rounds, each under its own lease");
        Assert.That(row.Attempts, Is.EqualTo(3));
        Assert.That(target.LogEntries, Has.Count.EqualTo(3));
    }

    [Test]
    public async Task A_delivery_replayed_with_force_is_sent_again_and_a_plain_copy_is_not()
    {
        var target = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, ("wms", target, "live", "event", 2));
        var eventId = StripeEvents.NewEventId();
        var payload = StripeEvents.WithId(Completed, eventId);
        using (var response = await worker.PostSignedAsync(payload))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(() => target.LogEntries.Count == 1, TimeSpan.FromSeconds(30)), Is.True, "delivered once");
        var webhookId = target.LogEntries[0].RequestMessage.Headers!["webhook-id"].Single();
        var now = DateTimeOffset.UtcNow;
        var copy = new FulfillmentDelivery("wms", webhookId, "event", "checkout.session.completed",
            new StripeEventReceived(eventId, "checkout.session.completed", "acct_1Qx7ExampleMrch01", true, "2025-10-29.clover", now, "checkout.session", SessionId, now, payload));
        var publisher = worker.Services.GetRequiredService<Messaging.RabbitMqPublisher>();
        var ledger = worker.Services.GetRequiredService<IDeliveryLedger>();

        // What `dead-letters replay --force` sends: the delivery with SyncWorker-Force-Resend.
        await publisher.PublishAsync(
            Messaging.DeliveryMessages.Create(Topology.TargetQueue("wms"), copy, Guid.NewGuid(), new Dictionary<string, object> { [DeliveryHeaders.ForceResend] = "true" }),
            Messaging.RabbitMqPublisher.ForwardTimeout, CancellationToken.None);
        Assert.That(await Eventually.TrueAsync(() => target.LogEntries.Count == 2, TimeSpan.FromSeconds(30)), Is.True, "sent again when forced");

        // The same copy without the header: the ledger has it delivered.
        await publisher.PublishAsync(
            Messaging.DeliveryMessages.Create(Topology.TargetQueue("wms"), copy, Guid.NewGuid()),
            Messaging.RabbitMqPublisher.ForwardTimeout, CancellationToken.None);
        Assert.That(await Eventually.TrueAsync(async () => (await ledger.GetAsync($"wms/event/{eventId}", CancellationToken.None))?.RepeatsSuppressed == 1, TimeSpan.FromSeconds(30)), Is.True,
            "the plain copy was suppressed");
        Assert.That(await QueuesDrainedAsync(vhost, "wms"), Is.True);
        Assert.That(target.LogEntries, Has.Count.EqualTo(2), "no third POST");
        Assert.That(target.LogEntries.Select(e => e.RequestMessage.Headers!["webhook-id"].Single()).Distinct(), Is.EqualTo(new[] { webhookId }));
    }

    [Test]
    public async Task A_refund_arriving_before_its_payment_waits_then_follows_it_and_stale_or_repeated_refunds_are_not_sent()
    {
        StripeKnowsOrder(PaymentIntent, SessionId);
        _stripe.Given(Request.Create().WithPath("/v1/refunds").WithParam("charge", "ch_3Qx7ExampleMrch01a1B2c3D4").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody("""
                {"object": "list", "url": "/v1/refunds", "has_more": false, "data": [
                  {"id": "re_second", "object": "refund", "amount": 3000, "currency": "usd", "status": "succeeded", "created": 1786176000},
                  {"id": "re_first", "object": "refund", "amount": 2000, "currency": "usd", "status": "succeeded", "created": 1786170000}]}
                """));
        var target = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, [("wms", target, "live", "order", 2)], OrderActionEvents);
        var ledger = worker.Services.GetRequiredService<IDeliveryLedger>();

        // The second refund (cumulative 5000: the whole payment) arrives before the order's payment.
        await PostAsync(worker, RefundEvent(StripeEvents.NewEventId(), 5000));
        Assert.That(await Eventually.TrueAsync(async () => (await ledger.GetAsync($"wms/order.refunded/{SessionId}/re_second", CancellationToken.None))?.State == DeliveryState.Waiting,
            TimeSpan.FromSeconds(30)), Is.True, "the refund waits for the payment");
        Assert.That(target.LogEntries, Is.Empty, "nothing before order.paid");

        await PostAsync(worker, StripeEvents.WithId(Completed, StripeEvents.NewEventId()));
        Assert.That(await Eventually.TrueAsync(() => target.LogEntries.Count == 2, TimeSpan.FromSeconds(60)), Is.True, "the payment, then the refund");
        var bodies = target.LogEntries.Select(e => JsonDocument.Parse(e.RequestMessage.Body!).RootElement).ToList();
        Assert.That(bodies.Select(b => b.GetProperty("action").GetString()), Is.EqualTo(new[] { "order.paid", "order.refunded" }), "in order");
        var refund = bodies[1];
        Assert.Multiple(() =>
        {
            Assert.That(refund.GetProperty("order_id").GetString(), Is.EqualTo(SessionId));
            Assert.That(refund.GetProperty("refund").GetProperty("id").GetString(), Is.EqualTo("re_second"));
            Assert.That(refund.GetProperty("refund").GetProperty("amount").GetInt64(), Is.EqualTo(3000));
            Assert.That(refund.GetProperty("refund").GetProperty("amount_refunded").GetInt64(), Is.EqualTo(5000));
            Assert.That(refund.GetProperty("refund").GetProperty("full").GetBoolean(), Is.True);
            Assert.That(refund.GetProperty("customer").GetProperty("email").GetString(), Is.EqualTo(bodies[0].GetProperty("customer").GetProperty("email").GetString()),
                "the order's fields come from its order.paid document");
            Assert.That(refund.GetProperty("line_items").GetArrayLength(), Is.EqualTo(bodies[0].GetProperty("line_items").GetArrayLength()));
        });

        // The first refund's event arrives late (it says 2000: less than what was sent), and the second one's again.
        await PostAsync(worker, RefundEvent(StripeEvents.NewEventId(), 2000));
        await PostAsync(worker, RefundEvent(StripeEvents.NewEventId(), 5000));
        Assert.That(await Eventually.TrueAsync(async () => (await ledger.GetAsync($"wms/order.refunded/{SessionId}/re_first", CancellationToken.None))?.State == DeliveryState.Skipped
            && (await ledger.GetAsync($"wms/order.refunded/{SessionId}/re_second", CancellationToken.None))?.RepeatsSuppressed == 1,
            TimeSpan.FromSeconds(30)), Is.True, "the stale refund is skipped and the repeat suppressed");
        Assert.That(await QueuesDrainedAsync(vhost, "wms"), Is.True);
        Assert.That(target.LogEntries, Has.Count.EqualTo(2), "nothing more was posted");
        Assert.That((await ledger.GetAsync($"wms/order.refunded/{SessionId}/re_first", CancellationToken.None))!.LastError, Does.StartWith("stale"));
    }

    [Test]
    public async Task A_refund_that_waited_longer_than_WaitForPaymentHours_is_dead_lettered_with_the_reason_and_the_fix()
    {
        StripeKnowsOrder(PaymentIntent, SessionId);
        _stripe.Given(Request.Create().WithPath("/v1/refunds").WithParam("charge", "ch_3Qx7ExampleMrch01a1B2c3D4").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody("""
                {"object": "list", "url": "/v1/refunds", "has_more": false, "data": [
                  {"id": "re_late", "object": "refund", "amount": 5000, "currency": "usd", "status": "succeeded", "created": 1786176000}]}
                """));
        var target = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, [("wms", target, "live", "order", 2)], OrderActionEvents);
        var ledger = worker.Services.GetRequiredService<IDeliveryLedger>();

        // The refund has waited for its order's payment since 73 hours ago (its row was first written then).
        Assert.That(await Eventually.TrueAsync(() => worker.Services.GetRequiredService<SyncWorker.Store.Hosting.StoreMonitor>().IsAvailable, TimeSpan.FromSeconds(30)), Is.True,
            "the worker migrated its store");
        var key = DeliveryKey.ForOrder("wms", SessionId, "order.refunded", "re_late");
        var earlier = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow.AddHours(-73));
        using (var then = new SqlDeliveryLedger(worker.Services.GetRequiredService<SyncWorker.Store.StoreSettings>(), earlier))
        {
            await then.ClaimAsync(new DeliveryClaim(key, "evt_earlier", "msg_earlier"), "forwarder-then", TimeSpan.FromMinutes(5), false, CancellationToken.None);
            await then.FinishAsync(key.Value, "forwarder-then", DeliveryState.Waiting, null, "waiting for order.paid", [], CancellationToken.None);
        }

        await PostAsync(worker, RefundEvent(StripeEvents.NewEventId(), 5000));

        Assert.That(await Eventually.TrueAsync(async () => await CountAsync(vhost, Topology.TargetErrorQueue("wms")) == 1, TimeSpan.FromSeconds(30)), Is.True,
            "dead-lettered, not left waiting");
        var row = await ledger.GetAsync(key.Value, CancellationToken.None);
        Assert.That(row!.State, Is.EqualTo(DeliveryState.DeadLettered));
        Assert.That(row.LastError, Does.Contain("longer than Orders:WaitForPaymentHours (72 h)").And.Contain("backfill checkout.session.completed"));
        var letter = (await _node.DrainAsync(vhost, Topology.TargetErrorQueue("wms"))).Single();
        Assert.That(Encoding.UTF8.GetString(letter.Body.Span), Does.Contain("re_late").Or.Contain("charge.refunded"), "the refund's delivery");
        Assert.That(target.LogEntries, Is.Empty, "nothing was sent before its payment");
    }

    [Test]
    public async Task Disputes_are_held_then_released_or_cancelled_a_stale_opening_is_skipped_and_a_charge_of_no_order_is_nothing()
    {
        StripeKnowsOrder("pi_not_a_checkout_payment", sessionId: null);
        var target = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, [("wms", target, "live", "order", 2)], OrderActionEvents);
        var ledger = worker.Services.GetRequiredService<IDeliveryLedger>();
        await PostAsync(worker, StripeEvents.WithId(Completed, StripeEvents.NewEventId()));
        Assert.That(await Eventually.TrueAsync(() => target.LogEntries.Count == 1, TimeSpan.FromSeconds(30)), Is.True, "paid");

        await PostAsync(worker, DisputeEvent("dp_one", "charge.dispute.created", "needs_response"));
        Assert.That(await Eventually.TrueAsync(() => target.LogEntries.Count == 2, TimeSpan.FromSeconds(30)), Is.True, "disputed");
        await PostAsync(worker, DisputeEvent("dp_one", "charge.dispute.closed", "won"));
        Assert.That(await Eventually.TrueAsync(() => target.LogEntries.Count == 3, TimeSpan.FromSeconds(30)), Is.True, "closed");
        // A second dispute whose close arrives before its opening.
        await PostAsync(worker, DisputeEvent("dp_two", "charge.dispute.closed", "lost"));
        Assert.That(await Eventually.TrueAsync(() => target.LogEntries.Count == 4, TimeSpan.FromSeconds(30)), Is.True, "closed first");
        await PostAsync(worker, DisputeEvent("dp_two", "charge.dispute.created", "needs_response"));
        // A refund of a charge that no Checkout Session paid for.
        await PostAsync(worker, RefundEvent(StripeEvents.NewEventId(), 5000).Replace(PaymentIntent, "pi_not_a_checkout_payment", StringComparison.Ordinal));

        Assert.That(await Eventually.TrueAsync(async () => (await ledger.GetAsync($"wms/order.disputed/{SessionId}/dp_two", CancellationToken.None))?.State == DeliveryState.Skipped,
            TimeSpan.FromSeconds(30)), Is.True, "the opening that arrived after the close is stale");
        Assert.That(await Eventually.TrueAsync(() => _stripe.LogEntries.Any(e => e.RequestMessage.Url.Contains("payment_intent=pi_not_a_checkout_payment", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30)), Is.True, "Stripe was asked whose charge it is");
        Assert.That(await QueuesDrainedAsync(vhost, "wms"), Is.True);
        var posted = target.LogEntries.Select(e => JsonDocument.Parse(e.RequestMessage.Body!).RootElement)
            .Select(b => (b.GetProperty("action").GetString(), b.GetProperty("dispute").ValueKind == JsonValueKind.Null ? null : b.GetProperty("dispute").GetProperty("outcome").GetString()))
            .ToList();
        Assert.That(posted, Is.EqualTo(new (string?, string?)[]
        {
            ("order.paid", null), ("order.disputed", "hold"), ("order.dispute_closed", "release"), ("order.dispute_closed", "cancel"),
        }), "nothing for the stale opening nor for the charge of no order");
        Assert.That(target.LogEntries.Select(e => e.RequestMessage.Headers!["webhook-id"].Single()).Distinct().Count(), Is.EqualTo(4), "each action its own webhook-id");
    }

    [Test]
    public async Task Completed_then_async_payment_succeeded_for_one_session_is_one_order_to_an_order_target_and_two_events_to_an_event_target()
    {
        var orders = Target(200);
        var events = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, ("wms", orders, "live", "order", 2), ("audit", events, "live", "event", 2));

        // The same session id in both fixtures: a session paid at completion whose async_payment_succeeded also arrives.
        using (var completed = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId())))
        using (var succeeded = await worker.PostSignedAsync(StripeEvents.WithId("checkout.session.async_payment_succeeded.json", StripeEvents.NewEventId())
            .Replace("cs_live_b1Qx7ExampleAsyncSessionForDocsOnly0000000000000000000000", SessionId, StringComparison.Ordinal)))
        {
            Assert.That(completed.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(succeeded.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(() => events.LogEntries.Count == 2, TimeSpan.FromSeconds(30)), Is.True, "each event once to the event target");
        Assert.That(await QueuesDrainedAsync(vhost, "wms", "audit"), Is.True);
        Assert.That(orders.LogEntries, Has.Count.EqualTo(1), "one order document for the session");
    }

    [Test]
    public async Task Unpaid_completion_waits_for_async_payment_succeeded()
    {
        var target = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, ("wms", target, "live", "order", 2));

        using (var unpaid = await worker.PostSignedAsync(StripeEvents.WithId("checkout.session.completed.async-unpaid.json", StripeEvents.NewEventId())))
        {
            Assert.That(unpaid.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await QueuesDrainedAsync(vhost, "wms"), Is.True);
        Assert.That(target.LogEntries, Is.Empty, "an unpaid session is not fulfilled");

        using (var paid = await worker.PostSignedAsync(StripeEvents.WithId("checkout.session.async_payment_succeeded.json", StripeEvents.NewEventId())))
        {
            Assert.That(paid.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(() => target.LogEntries.Count == 1, TimeSpan.FromSeconds(30)), Is.True);
    }

    [Test]
    public async Task Test_mode_events_never_reach_a_live_target_and_live_events_never_a_test_target()
    {
        var live = Target(200);
        var test = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, ("live-partner", live, "live", "event", 2), ("test-partner", test, "test", "event", 2));
        var liveId = StripeEvents.NewEventId();
        var testId = StripeEvents.NewEventId();

        using (var a = await worker.PostSignedAsync(StripeEvents.WithId(Completed, liveId, livemode: true)))
        using (var b = await worker.PostSignedAsync(StripeEvents.WithId(Completed, testId, livemode: false)))
        {
            Assert.That(a.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(b.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(() => live.LogEntries.Count > 0 && test.LogEntries.Count > 0, TimeSpan.FromSeconds(30)), Is.True);
        Assert.That(await QueuesDrainedAsync(vhost, "live-partner", "test-partner"), Is.True);
        Assert.That(live.LogEntries.Select(EventIdOf), Is.EquivalentTo(new[] { liveId }));
        Assert.That(test.LogEntries.Select(EventIdOf), Is.EquivalentTo(new[] { testId }));
    }

    [Test]
    public async Task An_account_that_uninstalled_the_app_gets_nothing_recorded_as_skipped_until_it_installs_again()
    {
        const string account = "acct_1Qx7ExampleMrch01";
        var wms = Target(200);
        var feed = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, ("wms", wms, "live", "order", 2), ("feed", feed, "live", "event", 2));
        var installs = worker.Services.GetRequiredService<IInstallRegistry>();

        // The merchant uninstalls (live mode); the registry says so before anything else of that account is dispatched.
        using (var response = await worker.PostSignedAsync(StripeEvents.WithId("account.application.deauthorized.json", StripeEvents.NewEventId())))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(async () => (await installs.GetAsync(account, true, CancellationToken.None))?.Status == InstallStatus.Uninstalled, TimeSpan.FromSeconds(30)), Is.True);
        // Deliveries check the forwarder's copy of the registry, which takes the change just after the store has it.
        var copy = worker.Services.GetRequiredService<InstallState>();
        Assert.That(await Eventually.TrueAsync(() => copy.IsUninstalled(account, true), TimeSpan.FromSeconds(30)), Is.True);

        var whileUninstalled = StripeEvents.NewEventId();
        using (var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, whileUninstalled)))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), "Stripe is answered as for any event");
        }

        var ledger = worker.Services.GetRequiredService<IDeliveryLedger>();
        Assert.That(await Eventually.TrueAsync(async () =>
            (await ledger.GetAsync($"wms/order.paid/{SessionId}", CancellationToken.None))?.State == DeliveryState.Skipped
            && (await ledger.GetAsync($"feed/event/{whileUninstalled}", CancellationToken.None))?.State == DeliveryState.Skipped, TimeSpan.FromSeconds(30)), Is.True,
            "both deliveries recorded as skipped");
        var skipped = await ledger.GetAsync($"wms/order.paid/{SessionId}", CancellationToken.None);
        Assert.That(skipped!.LastError, Does.Contain("uninstalled"));
        Assert.That(await QueuesDrainedAsync(vhost, "wms", "feed"), Is.True);
        Assert.That(wms.LogEntries, Is.Empty, "no order reached the warehouse");
        Assert.That(feed.LogEntries, Is.Empty);
        Assert.That(_stripe.LogEntries, Is.Empty, "nothing was read from Stripe for an account that withdrew its authorization");

        // Installed again (an event created after the uninstall): its next events go out.
        var reinstall = StripeEvents.WithId("account.application.authorized.json", StripeEvents.NewEventId()).Replace("\"created\": 1785916800", "\"created\": 1788595260", StringComparison.Ordinal);
        using (var response = await worker.PostSignedAsync(reinstall))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(async () => (await installs.GetAsync(account, true, CancellationToken.None))?.Status == InstallStatus.Installed, TimeSpan.FromSeconds(30)), Is.True);
        Assert.That(await Eventually.TrueAsync(() => !copy.IsUninstalled(account, true), TimeSpan.FromSeconds(30)), Is.True);
        var afterwards = StripeEvents.NewEventId();
        using (var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, afterwards)))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(() => feed.LogEntries.Count == 1, TimeSpan.FromSeconds(30)), Is.True);
        Assert.That(EventIdOf(feed.LogEntries.Single()), Is.EqualTo(afterwards));
    }

    [Test]
    public async Task Live_and_test_order_targets_in_one_worker_read_Stripe_with_their_own_modes_key()
    {
        const string liveKey = "sk_live_e2e_key_of_live_mode_0000";
        const string testKey = "sk_test_e2e_key_of_test_mode_0000";
        var live = Target(200);
        var test = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, ("live-wms", live, "live", "order", 2), ("test-wms", test, "test", "order", 2),
            ("Stripe:ApiKeys:Live", liveKey), ("Stripe:ApiKeys:Test", testKey));

        using (var a = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId(), livemode: true)))
        using (var b = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId(), livemode: false)))
        {
            Assert.That(a.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(b.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(() => live.LogEntries.Count == 1 && test.LogEntries.Count == 1, TimeSpan.FromSeconds(30)), Is.True, "each mode's order reached its target");
        Assert.That(_stripe.LogEntries.Select(e => e.RequestMessage.Headers!["Authorization"].Single()), Is.EquivalentTo(new[] { $"Bearer {liveKey}", $"Bearer {testKey}" }),
            "one line-items listing per order, each with its mode's key");
        Assert.That(await QueuesDrainedAsync(vhost, "live-wms", "test-wms"), Is.True);
    }

    [Test]
    public async Task A_sandbox_secrets_events_reach_test_targets_and_read_Stripe_with_the_sandbox_key_also_when_the_target_consumer_builds_the_order()
    {
        const string testKey = "sk_test_e2e_key_of_test_mode_0000";
        const string sandboxKey = "sk_test_e2e_key_of_the_sandbox_00";
        const string sandboxSecret = "whsec_e2e_secret_of_the_sandbox_0001";
        var live = Target(200);
        var test = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, ("live-wms", live, "live", "order", 2), ("test-wms", test, "test", "order", 2),
            ("Stripe:ApiKeys:Test", testKey), ("Stripe:ApiKeys:Sandbox", sandboxKey),
            ("Stripe:WebhookSecrets:1:Secret", sandboxSecret), ("Stripe:WebhookSecrets:1:Mode", "sandbox"));

        // A test-mode event of the test-mode endpoint: the test key.
        using (var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId(), livemode: false)))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(() => test.LogEntries.Count == 1, TimeSpan.FromSeconds(30)), Is.True, "the test-mode order reached the test target");
        Assert.That(_stripe.LogEntries.Select(e => e.RequestMessage.Headers!["Authorization"].Single()), Is.EqualTo(new[] { $"Bearer {testKey}" }));

        // A sandbox event: Stripe fails the dispatcher's one attempt, so the delivery goes out without its document and the
        // target's consumer builds it, knowing the event is a sandbox's only from the delivery's header.
        _stripe.Reset();
        _stripe.Given(Request.Create().WithPath("/v1/checkout/sessions/*/line_items").UsingGet())
            .InScenario("stripe").WillSetStateTo("recovered")
            .RespondWith(Response.Create().WithStatusCode(503).WithBody("{\"error\":{\"type\":\"api_error\"}}"));
        _stripe.Given(Request.Create().WithPath("/v1/checkout/sessions/*/line_items").UsingGet())
            .InScenario("stripe").WhenStateIs("recovered")
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json")
                .WithBody(StripeEvents.Text("checkout.session.line_items.response.json")));
        var sandboxEvent = StripeEvents.NewEventId();
        var sandboxOrder = StripeEvents.WithId(Completed, sandboxEvent, livemode: false).Replace(SessionId, "cs_test_e2eSandboxSessionOfAnotherOrder0001", StringComparison.Ordinal);
        using (var response = await worker.PostSignedAsync(sandboxOrder, sandboxSecret))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(() => test.LogEntries.Count == 2, TimeSpan.FromSeconds(30)), Is.True, "the sandbox order reached the test target");
        using (var document = JsonDocument.Parse(test.LogEntries[^1].RequestMessage.Body!))
        {
            Assert.That(document.RootElement.GetProperty("source_event").GetProperty("id").GetString(), Is.EqualTo(sandboxEvent));
            Assert.That(document.RootElement.GetProperty("livemode").GetBoolean(), Is.False);
            Assert.That(document.RootElement.GetProperty("line_items").GetArrayLength(), Is.GreaterThan(0), "built with the line items");
        }
        Assert.That(_stripe.LogEntries.Select(e => e.RequestMessage.Headers!["Authorization"].Single()), Is.EqualTo(new[] { $"Bearer {sandboxKey}", $"Bearer {sandboxKey}" }),
            "the dispatcher's failed listing and the target consumer's listing both with the sandbox key");

        // A live event signed with the sandbox secret is refused; nothing reaches the live target.
        using (var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId(), livemode: true), sandboxSecret))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(await response.Content.ReadAsStringAsync(), Does.Contain("live-event-sandbox-secret"));
        }

        Assert.That(await QueuesDrainedAsync(vhost, "live-wms", "test-wms"), Is.True);
        Assert.That(live.LogEntries, Is.Empty);
    }

    [Test]
    public async Task A_dead_target_does_not_delay_a_healthy_one_and_its_deliveries_are_dead_lettered_with_the_reason()
    {
        var dead = Target(503);
        var healthy = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, ("dead", dead, "live", "event", 3), ("healthy", healthy, "live", "event", 3),
            ("Fulfillment:Targets:0:Retry:BaseDelaySeconds", "1"), ("Fulfillment:Targets:0:Redelivery:DelaysSeconds:0", "1"));
        var ids = Enumerable.Range(0, 5).Select(_ => StripeEvents.NewEventId()).ToList();
        var posted = System.Diagnostics.Stopwatch.StartNew();

        foreach (var id in ids)
        {
            using var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, id));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        // The dead target's retries take at least about 6.6 s per delivery (three backoffs from a 1 s base with Polly's
        // jitter, at least 2.8 s a round, twice, with a 1 s redelivery through RabbitMQ in between); the healthy one must
        // not wait for them. Checked by what the dead target had got when the healthy one had everything (not by a clock,
        // which a busy machine would stretch for both).
        Assert.That(await Eventually.TrueAsync(() => healthy.LogEntries.Count == ids.Count, TimeSpan.FromSeconds(30)), Is.True,
            $"the healthy target got every event (it got {healthy.LogEntries.Count} in {posted.Elapsed.TotalSeconds:0.0} s)");
        var deadRequestsThen = dead.LogEntries.Count;
        var deadLetteredThen = await CountAsync(vhost, Topology.TargetErrorQueue("dead"));
        var then = $"{posted.Elapsed.TotalSeconds:0.0} s after the events were posted, the dead target had got {deadRequestsThen} requests";
        Assert.That(deadLetteredThen, Is.Zero, $"none of the dead target's deliveries had ended its retries when the healthy target had all of them ({then})");
        Assert.That(deadRequestsThen, Is.LessThan(ids.Count * 8), $"the dead target's retries were still running ({then})");

        Assert.That(await Eventually.TrueAsync(async () => await CountAsync(vhost, Topology.TargetErrorQueue("dead")) == ids.Count, TimeSpan.FromSeconds(90)), Is.True,
            $"every dead delivery was dead-lettered ({await CountAsync(vhost, Topology.TargetErrorQueue("dead"))} of {ids.Count} after {posted.Elapsed.TotalSeconds:0.0} s, {dead.LogEntries.Count} requests)");
        var deadLetters = await _node.DrainAsync(vhost, Topology.TargetErrorQueue("dead"));
        foreach (var letter in deadLetters)
        {
            var headers = letter.BasicProperties.Headers!;
            Assert.That(Header(headers, "SyncWorker-Failure-Status"), Is.EqualTo("503"));
            Assert.That(Header(headers, "SyncWorker-Failure-Attempts"), Is.EqualTo("4"));
            Assert.That(Header(headers, "SyncWorker-Failure-Permanent"), Is.EqualTo("false"));
            Assert.That(Header(headers, "SyncWorker-Failure-Reason"), Does.Contain("503").And.Contain("4 attempts"));
            Assert.That(Header(headers, "SyncWorker-Redelivery-Count"), Is.EqualTo("1"), "one durable redelivery (the schedule has one step)");
            Assert.That(Header(headers, "SyncWorker-Failure-History")!.Split('\n'), Has.Length.EqualTo(1), "the history of the first round");
        }

        Assert.That(dead.LogEntries.Count, Is.EqualTo(ids.Count * 8), "each dead delivery was tried 1 + 3 times, twice (once after the redelivery wait)");
    }

    [Test]
    public async Task A_long_Retry_After_does_not_hold_up_deliveries_that_fail_after_it()
    {
        // The first delivery this target sees is answered 503 with Retry-After: 600, every time; every other delivery is
        // answered a plain 503 once, then 200. The schedule starts with a 2 s wait (its 3602 s total leaves room for the
        // 600 s), and there are no in-process retries.
        var attempts = new System.Collections.Concurrent.ConcurrentDictionary<string, List<DateTimeOffset>>(StringComparer.Ordinal);
        string? slow = null;
        var target = WireMockServer.Start();
        _targets.Add(target);
        target.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).RespondWith(Response.Create().WithCallback(request =>
        {
            var id = request.Headers!["webhook-id"].Single();
            var times = attempts.GetOrAdd(id, _ => []);
            int count;
            lock (times)
            {
                times.Add(DateTimeOffset.UtcNow);
                count = times.Count;
            }

            Interlocked.CompareExchange(ref slow, id, null);
            var answer = new WireMock.ResponseMessage { StatusCode = id == slow || count == 1 ? 503 : 200 };
            if (id == slow)
            {
                answer.AddHeader("Retry-After", "600");
            }

            return answer;
        }));
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, [("wms", target, "live", "event", 0)],
            [("Fulfillment:Targets:0:Redelivery:DelaysSeconds:0", "2"), ("Fulfillment:Targets:0:Redelivery:DelaysSeconds:1", "3600")]);

        using (var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId())))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(async () => slow is not null && await CountAsync(vhost, Topology.TargetQueue("wms")) == 0
            && target.LogEntries.Count == 1, TimeSpan.FromSeconds(30)), Is.True, "the first delivery was answered Retry-After: 600 and is waiting");
        await Task.Delay(TimeSpan.FromSeconds(1));

        var others = Enumerable.Range(0, 20).Select(_ => StripeEvents.NewEventId()).ToList();
        foreach (var id in others)
        {
            using var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, id));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        // Each of the twenty waits 2 s after its failure; allow a generous margin for a busy machine, far below 600 s.
        var arrived = await Eventually.TrueAsync(
            () => attempts.Count == 21 && attempts.Where(a => a.Key != slow).All(a => a.Value.Count >= 2),
            TimeSpan.FromSeconds(60));
        var gaps = attempts.Where(a => a.Key != slow && a.Value.Count >= 2)
            .Select(a => (a.Value[1] - a.Value[0]).TotalSeconds).OrderBy(s => s).ToList();
        await TestContext.Out.WriteLineAsync(FormattableString.Invariant(
            $"{queueType}: {gaps.Count} of 20 retried; failure-to-retry gap min {(gaps.Count > 0 ? gaps[0] : double.NaN):0.00} s, max {(gaps.Count > 0 ? gaps[^1] : double.NaN):0.00} s (schedule 2 s)"));
        Assert.That(arrived, Is.True, $"the twenty were redelivered on their own 2 s schedule, not after the 600 s Retry-After ahead of them ({gaps.Count} of 20 were)");
        Assert.That(attempts[slow!], Has.Count.EqualTo(1), "the delivery that asked for 600 s is still waiting");
    }

    [Test]
    public async Task A_delay_queue_the_broker_refuses_holds_the_delivery_back_without_dead_lettering_or_requeueing_it()
    {
        // Fault injected at the broker: the delay queue the delivery needs already exists with other arguments, so every
        // declaration of it is refused (PRECONDITION_FAILED) and nothing can be published to it. (The names of earlier
        // versions too, so the test means the same on them.)
        var calls = 0;
        var target = WireMockServer.Start();
        _targets.Add(target);
        target.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).RespondWith(Response.Create().WithCallback(_ =>
            new WireMock.ResponseMessage { StatusCode = Interlocked.Increment(ref calls) == 1 ? 503 : 200 }));
        var vhost = await _node.CreateVirtualHostAsync();
        var blocked = new[] { Topology.DelayQueue(2), Topology.TargetDelayQueue("wms", 2), "syncworker.target.wms.delay.2s" };
        await using (var connection = await _node.ConnectAsync(vhost))
        await using (var channel = await connection.CreateChannelAsync())
        {
            foreach (var queue in blocked)
            {
                await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false,
                    Messaging.QueueArguments.For(QueueTypeSetting, [KeyValuePair.Create<string, object?>("x-max-length", 1)]));
            }
        }

        await using var worker = await StartWorkerAsync(vhost, [("wms", target, "live", "event", 0)],
            [("Fulfillment:Targets:0:Redelivery:DelaysSeconds:0", "2"), ("Fulfillment:Targets:0:Redelivery:Jitter", "0")]);
        using (var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId())))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(() => Volatile.Read(ref calls) == 1, TimeSpan.FromSeconds(30)), Is.True, "the first attempt failed");
        await Task.Delay(TimeSpan.FromSeconds(6));
        Assert.That(await CountAsync(vhost, Topology.TargetErrorQueue("wms")), Is.EqualTo(0), "not dead-lettered for broker trouble");
        Assert.That(await CountAsync(vhost, Topology.TargetQueue("wms")), Is.EqualTo(0), "not handed back to its queue either (held, unacknowledged)");
        Assert.That(Volatile.Read(ref calls), Is.EqualTo(1), "and not tried again at the target meanwhile");

        // The broker trouble ends: the next try declares the delay queue and the delivery takes its 2 s wait.
        await using (var connection = await _node.ConnectAsync(vhost))
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeleteAsync(blocked[0], ifUnused: false, ifEmpty: false);
        }

        Assert.That(await Eventually.TrueAsync(() => Volatile.Read(ref calls) == 2, TimeSpan.FromSeconds(60)), Is.True, "delivered after the wait");
        Assert.That(await QueuesDrainedAsync(vhost, "wms"), Is.True);
        Assert.That(await CountAsync(vhost, Topology.TargetErrorQueue("wms")), Is.EqualTo(0));
    }

    [TestCase("delay")]
    [TestCase("wait")]
    public async Task A_delivery_left_in_a_per_target_delay_queue_of_an_earlier_version_still_comes_back_and_is_delivered(string kind)
    {
        var target = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, ("wms", target, "live", "event", 0));
        Assert.That(await Eventually.TrueAsync(async () => await ConsumersAsync(vhost, Topology.TargetQueue("wms")) == 1, TimeSpan.FromSeconds(30)), Is.True);

        // What an earlier version left behind, holding a delivery with the headers of its first redelivery: "delay", the
        // oldest, syncworker.target.wms.delay.5s without a queue TTL and a per-message expiration; "wait", the version
        // before the shared delay queues, syncworker.target.wms.wait.2s with a fixed x-message-ttl. Both dead-letter to
        // the target queue by an x-dead-letter-routing-key of their own.
        var legacy = kind == "delay" ? Topology.LegacyDelayQueue("wms", 5) : Topology.TargetDelayQueue("wms", 2);
        var eventId = StripeEvents.NewEventId();
        var payload = StripeEvents.WithId(Completed, eventId);
        var envelope = new System.Text.Json.Nodes.JsonObject
        {
            ["messageId"] = Guid.NewGuid().ToString(),
            ["messageType"] = new System.Text.Json.Nodes.JsonArray("urn:message:SyncWorker.Contracts:FulfillmentDelivery"),
            ["message"] = new System.Text.Json.Nodes.JsonObject
            {
                ["target"] = "wms",
                ["deliveryId"] = "msg_0123456789abcdef0123456789abcdef",
                ["format"] = "event",
                ["action"] = "checkout.session.completed",
                ["event"] = new System.Text.Json.Nodes.JsonObject
                {
                    ["eventId"] = eventId,
                    ["type"] = "checkout.session.completed",
                    ["account"] = "acct_1Qx7ExampleMrch01",
                    ["livemode"] = true,
                    ["apiVersion"] = "2025-10-29.clover",
                    ["created"] = "2025-11-20T09:55:00+00:00",
                    ["objectType"] = "checkout.session",
                    ["objectId"] = "cs_test_a1",
                    ["receivedAt"] = "2025-11-20T09:55:01+00:00",
                    ["payload"] = payload,
                },
            },
        };
        await using (var connection = await _node.ConnectAsync(vhost))
        await using (var channel = await connection.CreateChannelAsync(new RabbitMQ.Client.CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true)))
        {
            await channel.QueueDeclareAsync(legacy, durable: true, exclusive: false, autoDelete: false,
                Messaging.QueueArguments.DeadLetteringTo(QueueTypeSetting, Topology.TargetQueue("wms"), kind == "delay" ? null : TimeSpan.FromSeconds(2)));
            var properties = new RabbitMQ.Client.BasicProperties
            {
                ContentType = "application/vnd.masstransit+json",
                DeliveryMode = RabbitMQ.Client.DeliveryModes.Persistent,
                Expiration = kind == "delay" ? "1500" : null,
                Headers = new Dictionary<string, object?> { [DeliveryHeaders.RedeliveryCount] = 1 },
            };
            await channel.BasicPublishAsync("", legacy, mandatory: true, properties, Encoding.UTF8.GetBytes(envelope.ToJsonString()));
        }

        Assert.That(await Eventually.TrueAsync(() => target.LogEntries.Count == 1, TimeSpan.FromSeconds(30)), Is.True, "it expired back to the target queue and was delivered");
        Assert.That(EventIdOf(target.LogEntries.Single()), Is.EqualTo(eventId));
        Assert.That(await CountAsync(vhost, legacy), Is.EqualTo(0));
        Assert.That(await CountAsync(vhost, Topology.TargetErrorQueue("wms")), Is.EqualTo(0));
    }

    [Test]
    public async Task A_400_is_dead_lettered_at_once_without_retry()
    {
        var target = Target(400);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, ("strict", target, "live", "event", 3));

        using (var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId())))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(async () => await CountAsync(vhost, Topology.TargetErrorQueue("strict")) == 1, TimeSpan.FromSeconds(30)), Is.True);
        var letter = (await _node.DrainAsync(vhost, Topology.TargetErrorQueue("strict"))).Single();
        Assert.That(Header(letter.BasicProperties.Headers!, "SyncWorker-Failure-Status"), Is.EqualTo("400"));
        Assert.That(Header(letter.BasicProperties.Headers!, "SyncWorker-Failure-Permanent"), Is.EqualTo("true"));
        Assert.That(target.LogEntries.Count, Is.EqualTo(1));
    }

    [Test]
    public async Task A_receiver_only_and_a_forwarder_only_instance_together_deliver_the_order()
    {
        var target = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var receiver = await StartWorkerAsync(vhost, [("wms", target, "live", "order", 2)], [("Worker:Role", "Receiver")]);
        using (var response = await receiver.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId())))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await CountAsync(vhost, Topology.IntakeQueue), Is.EqualTo(1), "queued, and no forwarder yet");
        await using var forwarder = await StartWorkerAsync(vhost, [("wms", target, "live", "order", 2)], [("Worker:Role", "Forwarder")]);
        using (var notHere = await forwarder.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId())))
        {
            Assert.That(notHere.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "a forwarder does not receive webhooks");
        }

        Assert.That(await Eventually.TrueAsync(() => target.LogEntries.Count == 1, TimeSpan.FromSeconds(30)), Is.True);
    }

    [Test]
    public async Task A_transient_Stripe_API_failure_is_retried_and_a_revoked_key_dead_letters()
    {
        var target = Target(200);
        _stripe.Reset();
        _stripe.Given(Request.Create().WithPath("/v1/checkout/sessions/*/line_items").UsingGet())
            .InScenario("stripe").WillSetStateTo("recovered")
            .RespondWith(Response.Create().WithStatusCode(503).WithBody("{\"error\":{\"type\":\"api_error\"}}"));
        _stripe.Given(Request.Create().WithPath("/v1/checkout/sessions/*/line_items").UsingGet())
            .InScenario("stripe").WhenStateIs("recovered")
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json")
                .WithBody(StripeEvents.Text("checkout.session.line_items.response.json")));
        var vhost = await _node.CreateVirtualHostAsync();
        await using (var worker = await StartWorkerAsync(vhost, ("wms", target, "live", "order", 2)))
        {
            using var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId()));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await Eventually.TrueAsync(() => target.LogEntries.Count == 1, TimeSpan.FromSeconds(30)), Is.True, "delivered after Stripe recovered");
        }

        _stripe.Reset();
        _stripe.Given(Request.Create().WithPath("/v1/checkout/sessions/*/line_items").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(401).WithBody("{\"error\":{\"type\":\"invalid_request_error\",\"message\":\"Invalid API Key provided\"}}"));
        var vhost2 = await _node.CreateVirtualHostAsync();
        await using (var worker = await StartWorkerAsync(vhost2, ("wms", target, "live", "order", 2)))
        {
            using var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId()));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await Eventually.TrueAsync(async () => await CountAsync(vhost2, Topology.TargetErrorQueue("wms")) == 1, TimeSpan.FromSeconds(30)), Is.True);
        }

        var letter = (await _node.DrainAsync(vhost2, Topology.TargetErrorQueue("wms"))).Single();
        Assert.That(Header(letter.BasicProperties.Headers!, "SyncWorker-Failure-Permanent"), Is.EqualTo("true"));
        Assert.That(Header(letter.BasicProperties.Headers!, "SyncWorker-Failure-Reason"), Does.Contain("Stripe:ApiKey").And.Not.Contain("sk_live_forwarding_e2e_0000"));
        Assert.That(target.LogEntries.Count, Is.EqualTo(1), "nothing more reached the target");
    }

    [Test]
    public async Task A_paused_target_keeps_queueing_and_receives_nothing_until_resumed()
    {
        var target = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, ("wms", target, "live", "event", 2));
        Assert.That(await Eventually.TrueAsync(async () => await ConsumersAsync(vhost, Topology.TargetQueue("wms")) == 1, TimeSpan.FromSeconds(30)), Is.True);

        // What `targets pause wms` does: the marker queue exists while the target is paused.
        await using (var connection = await _node.ConnectAsync(vhost))
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeclareAsync(Topology.PausedMarker("wms"), durable: true, exclusive: false, autoDelete: false,
                Messaging.QueueArguments.For(QueueTypeSetting, [KeyValuePair.Create<string, object?>("x-max-length", 0)]));
        }

        Assert.That(await Eventually.TrueAsync(async () => await ConsumersAsync(vhost, Topology.TargetQueue("wms")) == 0, TimeSpan.FromSeconds(30)), Is.True, "the forwarder stopped consuming");
        for (var i = 0; i < 20; i++)
        {
            using var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId()));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(async () => await CountAsync(vhost, Topology.TargetQueue("wms")) == 20, TimeSpan.FromSeconds(30)), Is.True, "deliveries keep queueing");
        Assert.That(target.LogEntries, Is.Empty, "a paused target receives nothing");

        await using (var connection = await _node.ConnectAsync(vhost))
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeleteAsync(Topology.PausedMarker("wms"), ifUnused: false, ifEmpty: false);
        }

        Assert.That(await Eventually.TrueAsync(() => target.LogEntries.Count == 20, TimeSpan.FromSeconds(30)), Is.True, "resumed: everything arrives");
    }

    [Test]
    public async Task The_dispatcher_sends_each_delivery_persistent_with_the_event_bytes_as_its_body_the_delivery_message_id_and_the_trace_parent()
    {
        var target = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        // Paused from the start (what `targets pause wms` leaves): the delivery stays in the target queue to be read here.
        await using (var connection = await _node.ConnectAsync(vhost))
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeclareAsync(Topology.PausedMarker("wms"), durable: true, exclusive: false, autoDelete: false,
                Messaging.QueueArguments.For(QueueTypeSetting, [KeyValuePair.Create<string, object?>("x-max-length", 0)]));
        }

        // Spans are made only when they can be exported (or Telemetry:Tracing says so): the trace parent needs them.
        await using var worker = await StartWorkerAsync(vhost, [("wms", target, "live", "event", 2)], ("Telemetry:Tracing", "true"));
        var eventId = StripeEvents.NewEventId();
        using (var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, eventId)))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(async () => await CountAsync(vhost, Topology.TargetQueue("wms")) == 1, TimeSpan.FromSeconds(30)), Is.True,
            "the dispatcher queued one delivery");
        var message = (await _node.DrainAsync(vhost, Topology.TargetQueue("wms"))).Single();
        var headers = message.BasicProperties.Headers!;
        using var fields = JsonDocument.Parse(Header(headers, "SyncWorker-Delivery")!);
        var deliveryId = fields.RootElement.GetProperty("deliveryId").GetString()!;
        Assert.Multiple(() =>
        {
            Assert.That(message.BasicProperties.ContentType, Is.EqualTo("application/vnd.syncworker.delivery+json"), "the body as it is posted, fields in headers");
            Assert.That(message.Body.ToArray(), Is.EqualTo(Encoding.UTF8.GetBytes(StripeEvents.WithId(Completed, eventId))), "the event exactly as Stripe signed it");
            Assert.That(message.BasicProperties.Persistent, Is.True);
            Assert.That(message.BasicProperties.MessageId, Is.EqualTo(MessageIds.ForDelivery(deliveryId).ToString()));
            Assert.That(Header(message.BasicProperties.Headers!, "MT-MessageType"), Is.EqualTo("urn:message:SyncWorker.Contracts:FulfillmentDelivery"));
            Assert.That(Header(message.BasicProperties.Headers!, "MT-Activity-Id"), Does.StartWith("00-"), "the trace continues (W3C trace parent)");
            Assert.That(fields.RootElement.GetProperty("target").GetString(), Is.EqualTo("wms"));
            Assert.That(fields.RootElement.GetProperty("eventId").GetString(), Is.EqualTo(eventId));
            Assert.That(deliveryId, Does.StartWith("msg_"));
        });
    }

    [Test]
    public async Task A_delivery_queued_as_raw_json_by_the_previous_version_is_delivered_also_after_a_durable_redelivery()
    {
        // The target fails the first attempt (no in-process retry), so the delivery also goes through a delay queue.
        var target = WireMockServer.Start();
        _targets.Add(target);
        target.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).InScenario("flaky").WillSetStateTo("up")
            .RespondWith(Response.Create().WithStatusCode(503));
        target.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).InScenario("flaky").WhenStateIs("up")
            .RespondWith(Response.Create().WithStatusCode(200));
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, [("wms", target, "live", "event", 0)],
            ("Fulfillment:Targets:0:Redelivery:DelaysSeconds:0", "1"));
        Assert.That(await Eventually.TrueAsync(async () => await ConsumersAsync(vhost, Topology.TargetQueue("wms")) == 1, TimeSpan.FromSeconds(30)), Is.True);
        var eventId = StripeEvents.NewEventId();
        var payload = StripeEvents.WithId(Completed, eventId);
        var now = DateTimeOffset.UtcNow;
        var delivery = new FulfillmentDelivery("wms", "msg_raw_json_previous_version1", "event", "checkout.session.completed",
            new StripeEventReceived(eventId, "checkout.session.completed", "acct_1Qx7ExampleMrch01", true, "2025-10-29.clover", now, "checkout.session", "cs_live_raw", now, payload));

        // Exactly what the previous version's dispatcher published: MassTransit's raw JSON, the payload a JSON string.
        var old = Messaging.RawJsonMessages.Delivery(Topology.TargetQueue("wms"), delivery, MessageIds.ForDelivery(delivery.DeliveryId));
        using (var body = JsonDocument.Parse(old.Body))
        {
            Assert.That(body.RootElement.GetProperty("event").GetProperty("payload").GetString(), Is.EqualTo(payload), "the old format, checked");
        }

        await using (var connection = await _node.ConnectAsync(vhost))
        await using (var channel = await connection.CreateChannelAsync(new RabbitMQ.Client.CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true)))
        {
            var properties = new RabbitMQ.Client.BasicProperties
            {
                ContentType = "application/json",
                DeliveryMode = RabbitMQ.Client.DeliveryModes.Persistent,
                MessageId = old.MessageId,
                Headers = new Dictionary<string, object?> { ["MT-MessageType"] = old.MessageType },
            };
            await channel.BasicPublishAsync("", Topology.TargetQueue("wms"), mandatory: true, properties, old.Body);
        }

        Assert.That(await Eventually.TrueAsync(() => target.LogEntries.Count == 2, TimeSpan.FromSeconds(30)), Is.True, "failed once, then delivered from the delay queue");
        foreach (var entry in target.LogEntries)
        {
            Assert.That(entry.RequestMessage.Body, Is.EqualTo(payload), "the event exactly as Stripe signed it, both times");
            Assert.That(entry.RequestMessage.Headers!["webhook-id"].Single(), Is.EqualTo("msg_raw_json_previous_version1"));
        }

        Assert.That(await CountAsync(vhost, Topology.TargetErrorQueue("wms")), Is.Zero, "nothing dead-lettered");
    }

    [Test]
    public async Task A_delivery_queued_in_MassTransit_envelope_format_by_an_earlier_version_is_still_delivered()
    {
        var target = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, ("wms", target, "live", "event", 2));
        Assert.That(await Eventually.TrueAsync(async () => await ConsumersAsync(vhost, Topology.TargetQueue("wms")) == 1, TimeSpan.FromSeconds(30)), Is.True);
        var eventId = StripeEvents.NewEventId();
        var payload = StripeEvents.WithId(Completed, eventId);
        var now = DateTimeOffset.UtcNow;
        var delivery = new FulfillmentDelivery("wms", "msg_envelope_format_0001", "event", "checkout.session.completed",
            new StripeEventReceived(eventId, "checkout.session.completed", "acct_1Qx7ExampleMrch01", true, "2025-10-29.clover", now, "checkout.session", "cs_live_envelope", now, payload));

        await SendInEnvelopeAsync(worker, delivery);

        Assert.That(await Eventually.TrueAsync(() => target.LogEntries.Count > 0, TimeSpan.FromSeconds(30)), Is.True, "the envelope-format delivery reached the target");
        var request = target.LogEntries.Single().RequestMessage;
        Assert.That(request.Headers!["webhook-id"].Single(), Is.EqualTo("msg_envelope_format_0001"));
        Assert.That(EventIdOf(target.LogEntries.Single()), Is.EqualTo(eventId));
        Assert.That(await CountAsync(vhost, Topology.TargetErrorQueue("wms")), Is.Zero, "nothing dead-lettered");
    }

    [Test]
    public async Task Every_queue_the_worker_declares_has_the_configured_type_and_two_targets_share_one_delay_queue_each_getting_its_own_delivery_back()
    {
        // Two dead targets with the same 1 s schedule step (its jitter rounds to 1 s too) share syncworker.wait.1s; the
        // healthy target never waits. One event for all three, with a body each target can tell apart.
        var dead = Target(503);
        var down = Target(503);
        var healthy = Target(200);
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, [("dead", dead, "live", "event", 0), ("down", down, "live", "event", 0), ("healthy", healthy, "live", "event", 0)],
            ("Fulfillment:Targets:0:Redelivery:DelaysSeconds:0", "1"), ("Fulfillment:Targets:1:Redelivery:DelaysSeconds:0", "1"));
        var eventIds = new[] { StripeEvents.NewEventId(), StripeEvents.NewEventId() };

        foreach (var eventId in eventIds)
        {
            using var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, eventId));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        // Each dead target's deliveries go through the shared delay queue and back to its own queue, then to its own
        // dead-letter queue: a delivery that came back to the wrong target, or nowhere, breaks the counts.
        Assert.That(await Eventually.TrueAsync(async () => await CountAsync(vhost, Topology.TargetErrorQueue("dead")) == 2
            && await CountAsync(vhost, Topology.TargetErrorQueue("down")) == 2, TimeSpan.FromSeconds(60)), Is.True,
            $"each dead target's deliveries were redelivered once through the shared delay queue, then dead-lettered (dead {await CountAsync(vhost, Topology.TargetErrorQueue("dead"))}, down {await CountAsync(vhost, Topology.TargetErrorQueue("down"))})");
        Assert.That(healthy.LogEntries, Has.Count.EqualTo(2));
        foreach (var (name, server) in new[] { ("dead", dead), ("down", down) })
        {
            Assert.That(server.LogEntries.Select(entry => entry.RequestMessage.Path), Is.All.EqualTo($"/fulfillment/{name}"), $"{name} got only its own deliveries");
            Assert.That(server.LogEntries.Select(EventIdOf).Order(), Is.EqualTo(eventIds.Concat(eventIds).Order()),
                $"{name}: each event tried once, and once more after the wait in the shared delay queue");
            var letters = await _node.DrainAsync(vhost, Topology.TargetErrorQueue(name));
            Assert.That(letters.Select(letter => Header(letter.BasicProperties.Headers!, "SyncWorker-Redelivery-Count")), Is.All.EqualTo("1"), name);
        }

        var output = await _node.CtlAsync(["list_queues", "-p", vhost, "-q", "name", "type"]);
        var types = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split('\t'))
            .Where(parts => parts.Length == 2 && parts[0].StartsWith("syncworker.", StringComparison.Ordinal))
            .ToDictionary(parts => parts[0], parts => parts[1], StringComparer.Ordinal);
        Assert.That(types.Keys, Is.SupersetOf(new[]
        {
            Topology.IntakeQueue,
            Topology.TargetQueue("dead"),
            Topology.TargetQueue("down"),
            Topology.TargetQueue("healthy"),
            Topology.TargetErrorQueue("dead"),
            Topology.DelayQueue(1),
        }), output);
        Assert.That(types.Keys.Where(name => name.StartsWith(Topology.TargetQueuePrefix, StringComparison.Ordinal) && name.Contains(".wait.", StringComparison.Ordinal)), Is.Empty,
            $"no per-target delay queue:\n{output}");
        Assert.That(types.Where(t => t.Value != queueType), Is.Empty, $"every SyncWorker queue is {queueType}:\n{output}");
    }

    private Messaging.QueueType QueueTypeSetting => queueType == "quorum" ? Messaging.QueueType.Quorum : Messaging.QueueType.Classic;

    private const string PaymentIntent = "pi_3Qx7ExampleMrch01a1B2c3D4";

    /// <summary>The order target also subscribed to refunds and disputes.</summary>
    private static readonly (string Key, string Value)[] OrderActionEvents =
    [
        ("Fulfillment:Targets:0:Events:1", "charge.refunded"),
        ("Fulfillment:Targets:0:Events:2", "charge.dispute.*"),
    ];

    /// <summary>Stripe answers <c>GET /v1/checkout/sessions?payment_intent=</c> with the session, or with none.</summary>
    private void StripeKnowsOrder(string paymentIntent, string? sessionId) =>
        _stripe.Given(Request.Create().WithPath("/v1/checkout/sessions").WithParam("payment_intent", paymentIntent).UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(
                $$"""{"object": "list", "url": "/v1/checkout/sessions", "has_more": false, "data": [{{(sessionId is null ? "" : $$"""{"id": "{{sessionId}}", "object": "checkout.session"}""")}}]}"""));

    /// <summary>The refund fixture (charge of the order's payment intent, 5000 charged) saying <paramref name="amountRefunded"/> is refunded so far.</summary>
    private static string RefundEvent(string eventId, long amountRefunded)
    {
        var text = StripeEvents.WithId("charge.refunded.json", eventId);
        var at = text.IndexOf("\"amount_refunded\": 5000,", StringComparison.Ordinal);
        return string.Concat(text.AsSpan(0, at), $"\"amount_refunded\": {amountRefunded},", text.AsSpan(at + "\"amount_refunded\": 5000,".Length));
    }

    private static string DisputeEvent(string disputeId, string type, string status) =>
        StripeEvents.WithId("charge.dispute.created.json", StripeEvents.NewEventId(), type: type)
            .Replace("dp_1Qx7ExampleDispute01", disputeId, StringComparison.Ordinal)
            .Replace("\"needs_response\"", $"\"{status}\"", StringComparison.Ordinal);

    private static async Task PostAsync(WorkerHost worker, string payload)
    {
        using var response = await worker.PostSignedAsync(payload);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), "accepted");
    }

    private WireMockServer Target(int status)
    {
        var server = WireMockServer.Start();
        server.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).RespondWith(Response.Create().WithStatusCode(status));
        _targets.Add(server);
        return server;
    }

    private Task<WorkerHost> StartWorkerAsync(string vhost, params (string Name, WireMockServer Server, string Mode, string Format, int Retries)[] targets) =>
        StartWorkerAsync(vhost, targets, []);

    private Task<WorkerHost> StartWorkerAsync(string vhost, (string Name, WireMockServer Server, string Mode, string Format, int Retries) a, (string Name, WireMockServer Server, string Mode, string Format, int Retries) b, params (string Key, string Value)[] extra) =>
        StartWorkerAsync(vhost, [a, b], extra);

    private Task<WorkerHost> StartWorkerAsync(string vhost, (string Name, WireMockServer Server, string Mode, string Format, int Retries)[] targets, params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["RabbitMq:Uri"] = _node.AmqpUri(vhost).ToString(),
            ["RabbitMq:QueueType"] = queueType,
            ["Stripe:ApiKey"] = "sk_live_forwarding_e2e_0000",
            ["Stripe:ApiBase"] = _stripe.Url,
            ["Manifest:Path"] = TestManifest.WithConnectSrc(targets.Select(t => t.Server.Url + "/fulfillment/").ToArray()),
        };
        for (var i = 0; i < targets.Length; i++)
        {
            var (name, server, mode, format, retries) = targets[i];
            var key = $"Fulfillment:Targets:{i}";
            settings[$"{key}:Name"] = name;
            settings[$"{key}:Url"] = $"{server.Url}/fulfillment/{name}";
            settings[$"{key}:Events:0"] = "checkout.session.*";
            settings[$"{key}:Mode"] = mode;
            settings[$"{key}:Format"] = format;
            settings[$"{key}:SigningSecret"] = SigningSecret;
            settings[$"{key}:Headers:X-Partner-Key"] = "partner-api-key-" + name;
            settings[$"{key}:Retry:MaxRetryAttempts"] = retries.ToString(System.Globalization.CultureInfo.InvariantCulture);
            settings[$"{key}:Retry:BaseDelaySeconds"] = "0.05";
            settings[$"{key}:CircuitBreaker:MinimumThroughput"] = "100";
        }

        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return StartedAsync(settings, targets.Select(t => t.Name).ToArray());
    }

    /// <summary>
    /// Starts the worker and waits until each target's endpoint consumes (or is paused): the tests here are about a
    /// running worker. Endpoints start while the first events are dispatched otherwise, and on a busy machine that start
    /// has been seen to lose the bus connection (RabbitMQ.Client closing it with 541 INTERNAL_ERROR as consumers were
    /// added), which redelivers what was in flight: correct, and the ledger suppresses the copies, but not what these tests
    /// count.
    /// </summary>
    private static async Task<WorkerHost> StartedAsync(Dictionary<string, string?> settings, string[] targets)
    {
        var worker = await WorkerHost.StartAsync(settings);
        if (settings.GetValueOrDefault("Worker:Role") is "Receiver")
        {
            return worker;
        }

        var supervisor = worker.Services.GetRequiredService<SyncWorker.Forwarding.Hosting.TargetEndpointSupervisor>();
        if (!await Eventually.TrueAsync(() => targets.All(t => supervisor.IsConsuming(t) || supervisor.IsPaused(t)), TimeSpan.FromSeconds(60)))
        {
            await worker.DisposeAsync();
            Assert.Fail($"The worker's target endpoints did not start within 60 s: {string.Join(", ", targets.Where(t => !supervisor.IsConsuming(t)))} not consuming.");
        }

        return worker;
    }

    /// <summary>
    /// Sends <paramref name="delivery"/> to its target queue as the dispatcher of earlier versions did: MassTransit's send,
    /// its JSON envelope (<c>application/vnd.masstransit+json</c>).
    /// </summary>
    private static async Task SendInEnvelopeAsync(WorkerHost worker, FulfillmentDelivery delivery)
    {
        var bus = worker.Services.GetRequiredService<MassTransit.IBus>();
        var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{Topology.TargetQueue(delivery.Target)}?type=fanout&durable=true&autodelete=false"));
        await endpoint.Send(delivery, send => send.MessageId = MessageIds.ForDelivery(delivery.DeliveryId));
    }

    /// <summary>Waits until the intake and the named targets' queues hold nothing ready or in flight.</summary>
    private async Task<bool> QueuesDrainedAsync(string vhost, params string[] targets) =>
        await Eventually.TrueAsync(async () =>
        {
            var output = await _node.CtlAsync(["list_queues", "-p", vhost, "-q", "name", "messages"]);
            var counts = output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => line.Split('\t'))
                .Where(parts => parts.Length == 2 && int.TryParse(parts[1], out _))
                .ToDictionary(parts => parts[0], parts => int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
            return counts.GetValueOrDefault(Topology.IntakeQueue) == 0
                && targets.All(t => counts.ContainsKey(Topology.TargetQueue(t)) && counts[Topology.TargetQueue(t)] == 0);
        }, TimeSpan.FromSeconds(30));

    private async Task<uint> ConsumersAsync(string vhost, string queue)
    {
        await using var connection = await _node.ConnectAsync(vhost);
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            return (await channel.QueueDeclarePassiveAsync(queue)).ConsumerCount;
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return 0;
        }
    }

    private async Task<int> CountAsync(string vhost, string queue)
    {
        try
        {
            return (int)await _node.MessageCountAsync(vhost, queue);
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return 0; // not declared yet
        }
    }

    private static string EventIdOf(WireMock.Logging.ILogEntry entry)
    {
        using var json = JsonDocument.Parse(entry.RequestMessage.Body!);
        return json.RootElement.GetProperty("id").GetString()!;
    }

    private static string? Header(IDictionary<string, object?> headers, string name) =>
        headers.TryGetValue(name, out var value) ? value switch
        {
            byte[] bytes => Encoding.UTF8.GetString(bytes),
            null => null,
            _ => value.ToString(),
        } : null;
}
