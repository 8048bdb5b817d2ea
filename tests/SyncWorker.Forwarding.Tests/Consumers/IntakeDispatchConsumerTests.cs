using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Consumers;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Forwarding.Tests.Orders;
using SyncWorker.Testing;

namespace SyncWorker.Forwarding.Tests.Consumers;

/// <summary>The dispatcher on MassTransit's in-memory test harness: what it sends to which target queue.</summary>
[TestFixture]
public sealed class IntakeDispatchConsumerTests
{
    // Read from the fixtures by hand, not through the code under test.
    private const string PaidSessionId = "cs_live_a1Qx7ExampleSessionIdForDocsOnly000000000000000000000000";
    private const string AsyncSessionId = "cs_live_b1Qx7ExampleAsyncSessionForDocsOnly0000000000000000000000";
    private const string Merchant = "acct_1Qx7ExampleMrch01";

    private static readonly string[] CheckoutEvents = ["checkout.session.completed", "checkout.session.async_payment_succeeded"];

    private static TargetOptions OrderTarget(string name, string mode = "live", string[]? events = null, string[]? accounts = null) => new()
    {
        Name = name,
        Url = "https://fulfillment.example.com/webhooks/" + name,
        Mode = mode,
        Events = [.. events ?? CheckoutEvents],
        Accounts = [.. accounts ?? []],
        Format = TargetOptions.OrderFormat,
    };

    private static TargetOptions EventTarget(string name, params string[] events)
    {
        var target = OrderTarget(name, events: events);
        target.Format = TargetOptions.EventFormat;
        return target;
    }

    [Test]
    public async Task A_paid_session_goes_to_every_order_target_as_order_paid()
    {
        var message = OrderTestEvents.Fixture(OrderTestEvents.Paid);

        var dispatch = await Dispatch.RunAsync(message, OrderTarget("warehouse"), OrderTarget("backup-wms"), EventTarget("crm", "customer.*"));

        Assert.That(dispatch.Fault, Is.Null);
        Assert.That(dispatch.Sent.Select(sent => sent.Delivery.Target), Is.EquivalentTo(new[] { "warehouse", "backup-wms" }));
        foreach (var (delivery, queue, messageId) in dispatch.Sent)
        {
            var expectedId = DeliveryIds.For(delivery.Target, PaidSessionId, "order.paid");
            Assert.That(delivery.Format, Is.EqualTo("order"));
            Assert.That(delivery.Action, Is.EqualTo("order.paid"));
            Assert.That(delivery.DeliveryId, Is.EqualTo(expectedId));
            Assert.That(delivery.Event, Is.EqualTo(message));
            Assert.That(queue, Is.EqualTo("syncworker.target." + delivery.Target));
            Assert.That(messageId, Is.EqualTo(MessageIds.ForDelivery(expectedId)));
        }

        Assert.That(
            dispatch.Sent.Select(sent => sent.Delivery.DeliveryId).Distinct().Count(),
            Is.EqualTo(2),
            "two targets never share a delivery id");
    }

    [Test]
    public async Task Four_order_targets_share_one_order_document_built_from_one_line_items_listing()
    {
        var message = OrderTestEvents.Fixture(OrderTestEvents.Paid);
        var lineItems = new CountingLineItems();

        var dispatch = await Dispatch.RunAsync(message, lineItems,
            OrderTarget("wms-a"), OrderTarget("wms-b"), OrderTarget("wms-c"), OrderTarget("wms-d"), EventTarget("archive", "*"));

        Assert.That(dispatch.Fault, Is.Null);
        Assert.That(lineItems.Calls, Is.EqualTo(new[] { (PaidSessionId, (string?)Merchant, StripeEnvironment.Live) }), "one listing for the order, with its account and mode");
        var orders = dispatch.Sent.Where(sent => sent.Delivery.Format == "order").Select(sent => sent.Delivery).ToList();
        Assert.That(orders.Select(delivery => delivery.Target), Is.EquivalentTo(new[] { "wms-a", "wms-b", "wms-c", "wms-d" }));
        var expected = new JsonBytes(OrderDocumentMapper.Map(message, CountingLineItems.Items).ToJsonBytes());
        Assert.That(orders.Select(delivery => delivery.Document), Is.All.EqualTo(expected), "every order target carries the same document");
        using var document = System.Text.Json.JsonDocument.Parse(expected.Utf8);
        Assert.That(document.RootElement.GetProperty("line_items").GetArrayLength(), Is.EqualTo(1));
        Assert.That(dispatch.Sent.Single(sent => sent.Delivery.Target == "archive").Delivery.Document, Is.Null, "an event delivery carries no document");
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task When_Stripe_cannot_be_read_at_dispatch_the_deliveries_go_out_without_a_document(bool permanent)
    {
        var message = OrderTestEvents.Fixture(OrderTestEvents.Paid);
        var lineItems = new CountingLineItems(new DeliveryFailedException("Stripe answered 503 (test)", isPermanent: permanent, attempts: 1, statusCode: 503));

        var dispatch = await Dispatch.RunAsync(message, lineItems, OrderTarget("wms-a"), OrderTarget("wms-b"));

        Assert.That(dispatch.Fault, Is.Null, "the event is not held at the intake for Stripe");
        Assert.That(lineItems.Calls, Has.Count.EqualTo(1), "one attempt at dispatch; the targets' consumers retry");
        Assert.That(dispatch.Sent.Select(sent => sent.Delivery.Target), Is.EquivalentTo(new[] { "wms-a", "wms-b" }));
        Assert.That(dispatch.Sent.Select(sent => sent.Delivery.Document), Is.All.Null);
    }

    [Test]
    public async Task An_unpaid_session_goes_to_no_order_target_and_is_consumed_without_fault()
    {
        var message = OrderTestEvents.Fixture(OrderTestEvents.AsyncUnpaid);

        var dispatch = await Dispatch.RunAsync(message, OrderTarget("warehouse"), OrderTarget("everything", events: ["*"]));

        Assert.That(dispatch.Fault, Is.Null);
        Assert.That(dispatch.Sent, Is.Empty);
    }

    [Test]
    public async Task An_event_target_subscribed_to_checkout_sessions_gets_the_unpaid_one_as_an_event()
    {
        var message = OrderTestEvents.Fixture(OrderTestEvents.AsyncUnpaid);

        var dispatch = await Dispatch.RunAsync(message, OrderTarget("warehouse"), EventTarget("archive", "checkout.session.*"));

        Assert.That(dispatch.Fault, Is.Null);
        Assert.That(dispatch.Sent, Has.Count.EqualTo(1));
        var (delivery, queue, _) = dispatch.Sent[0];
        Assert.That(delivery.Target, Is.EqualTo("archive"));
        Assert.That(delivery.Format, Is.EqualTo("event"));
        Assert.That(delivery.Action, Is.EqualTo("checkout.session.completed"));
        Assert.That(delivery.DeliveryId, Is.EqualTo(DeliveryIds.For("archive", message.EventId, "checkout.session.completed")));
        Assert.That(delivery.Event.Payload.ToString(), Is.EqualTo(StripeEvents.Text(OrderTestEvents.AsyncUnpaid)));
        Assert.That(queue, Is.EqualTo("syncworker.target.archive"));
    }

    [TestCase("checkout.session.expired")]
    [TestCase("checkout.session.async_payment_failed")]
    public async Task An_expired_or_failed_session_goes_to_no_order_target_but_to_event_targets(string type)
    {
        var message = OrderTestEvents.FromJson(StripeEvents.WithId(OrderTestEvents.AsyncUnpaid, StripeEvents.NewEventId(), type: type));

        var dispatch = await Dispatch.RunAsync(message, OrderTarget("warehouse", events: ["checkout.session.*"]), EventTarget("archive", "*"));

        Assert.That(dispatch.Fault, Is.Null);
        Assert.That(dispatch.Sent.Select(sent => (sent.Delivery.Target, sent.Delivery.Format, sent.Delivery.Action)), Is.EqualTo(new[] { ("archive", "event", type) }));
    }

    [Test]
    public async Task Completed_paid_and_async_payment_succeeded_of_one_session_carry_the_same_delivery_id()
    {
        var completedPaid = OrderTestEvents.WithSession(OrderTestEvents.AsyncUnpaid, session => session["payment_status"] = "paid");
        var asyncSucceeded = OrderTestEvents.Fixture(OrderTestEvents.AsyncSucceeded);
        Assert.That(completedPaid.EventId, Is.Not.EqualTo(asyncSucceeded.EventId));

        var first = await Dispatch.RunAsync(completedPaid, OrderTarget("warehouse"));
        var second = await Dispatch.RunAsync(asyncSucceeded, OrderTarget("warehouse"));

        Assert.That(first.Sent, Has.Count.EqualTo(1));
        Assert.That(second.Sent, Has.Count.EqualTo(1));
        // python3: "msg_" + sha256(b"warehouse\n" + session id + b"\norder.paid").hexdigest()[:32]
        Assert.That(first.Sent[0].Delivery.DeliveryId, Is.EqualTo("msg_3851b67ee45203223ca36ea778a5f8fe"));
        Assert.That(second.Sent[0].Delivery.DeliveryId, Is.EqualTo(first.Sent[0].Delivery.DeliveryId));
        Assert.That(second.Sent[0].MessageId, Is.EqualTo(first.Sent[0].MessageId));
        Assert.That(first.Sent[0].Delivery.DeliveryId, Is.EqualTo(DeliveryIds.For("warehouse", AsyncSessionId, "order.paid")));
        Assert.That(second.Sent[0].Delivery.Event, Is.EqualTo(asyncSucceeded));
    }

    [Test]
    public async Task A_test_mode_event_reaches_only_the_test_target()
    {
        var message = OrderTestEvents.FromJson(StripeEvents.WithId(OrderTestEvents.Paid, StripeEvents.NewEventId(), livemode: false));
        Assert.That(message.Livemode, Is.False);

        var dispatch = await Dispatch.RunAsync(message, OrderTarget("warehouse", "live"), OrderTarget("warehouse-test", "test"));

        Assert.That(dispatch.Sent.Select(sent => sent.Delivery.Target), Is.EqualTo(new[] { "warehouse-test" }));
        Assert.That(dispatch.Sent[0].Queue, Is.EqualTo("syncworker.target.warehouse-test"));
    }

    [Test]
    public async Task A_live_event_reaches_only_the_live_target()
    {
        var message = OrderTestEvents.Fixture(OrderTestEvents.Paid);
        Assert.That(message.Livemode, Is.True);

        var dispatch = await Dispatch.RunAsync(message, OrderTarget("warehouse-test", "test"), OrderTarget("warehouse", "live"));

        Assert.That(dispatch.Sent.Select(sent => sent.Delivery.Target), Is.EqualTo(new[] { "warehouse" }));
    }

    [Test]
    public async Task An_event_reaches_only_targets_that_serve_its_account()
    {
        var message = OrderTestEvents.Fixture(OrderTestEvents.Paid);

        var dispatch = await Dispatch.RunAsync(
            message,
            OrderTarget("merchant-wms", accounts: [Merchant]),
            OrderTarget("other-wms", accounts: ["acct_1Qx7ExampleMrch99"]));

        Assert.That(dispatch.Sent.Select(sent => sent.Delivery.Target), Is.EqualTo(new[] { "merchant-wms" }));
    }

    [Test]
    public async Task An_event_no_target_wants_sends_nothing_and_is_consumed_without_fault()
    {
        var message = OrderTestEvents.Fixture("customer.created.json");

        var dispatch = await Dispatch.RunAsync(message, OrderTarget("warehouse", events: ["checkout.session.*"]), EventTarget("refunds", "charge.*"));

        Assert.That(dispatch.Fault, Is.Null);
        Assert.That(dispatch.Sent, Is.Empty);
    }

    [Test]
    public async Task With_no_targets_at_all_the_event_is_consumed_without_fault()
    {
        var dispatch = await Dispatch.RunAsync(OrderTestEvents.Fixture(OrderTestEvents.Paid));

        Assert.That(dispatch.Fault, Is.Null);
        Assert.That(dispatch.Sent, Is.Empty);
    }

    [Test]
    public async Task Another_event_type_goes_to_an_order_target_subscribed_to_everything_as_an_event()
    {
        var message = OrderTestEvents.Fixture("customer.created.json");

        var dispatch = await Dispatch.RunAsync(message, OrderTarget("warehouse", events: ["*"]));

        Assert.That(dispatch.Fault, Is.Null);
        Assert.That(dispatch.Sent, Has.Count.EqualTo(1));
        var delivery = dispatch.Sent[0].Delivery;
        Assert.That(delivery.Target, Is.EqualTo("warehouse"));
        Assert.That(delivery.Format, Is.EqualTo("event"));
        Assert.That(delivery.Action, Is.EqualTo("customer.created"));
        Assert.That(delivery.DeliveryId, Is.EqualTo(DeliveryIds.For("warehouse", "evt_1Qx7ExampleCusCreated01", "customer.created")));
        Assert.That(delivery.Event, Is.EqualTo(message));
    }

    /// <summary>What one run of the dispatcher did with one message.</summary>
    private sealed record Dispatch(IReadOnlyList<(FulfillmentDelivery Delivery, string Queue, Guid? MessageId)> Sent, Exception? Fault)
    {
        /// <summary>
        /// Publishes <paramref name="message"/> on a fresh in-memory bus with the dispatcher and <paramref name="targets"/>,
        /// waits until the dispatcher has consumed it, and reports what it sent. Each run has its own harness: the harness
        /// lists one entry per message id, and repeats of one delivery deliberately share a message id.
        /// </summary>
        public static Task<Dispatch> RunAsync(StripeEventReceived message, params TargetOptions[] targets) =>
            RunAsync(message, lineItems: null, targets);

        /// <summary>As above, with <paramref name="lineItems"/> as the dispatcher's Stripe line-items source.</summary>
        public static async Task<Dispatch> RunAsync(StripeEventReceived message, ILineItemSource? lineItems, params TargetOptions[] targets)
        {
            var services = new ServiceCollection();
            if (lineItems is not null)
            {
                services.AddSingleton(lineItems);
            }

            await using var provider = services
                .AddLogging()
                .AddSingleton(new TargetRegistry(Options.Create(new FulfillmentOptions { Targets = [.. targets] })))
                .AddMassTransitTestHarness(bus => bus.AddConsumer<IntakeDispatchConsumer>())
                .BuildServiceProvider(validateScopes: true);
            var harness = provider.GetRequiredService<ITestHarness>();
            harness.TestTimeout = TimeSpan.FromSeconds(10);
            await harness.Start();

            await harness.Bus.Publish(message);
            var consumer = harness.GetConsumerHarness<IntakeDispatchConsumer>();
            var consumed = await consumer.Consumed.Any<StripeEventReceived>(received => received.Context.Message.EventId == message.EventId);
            Assert.That(consumed, Is.True, $"the dispatcher did not consume {message.EventId}");

            // The sends complete inside Consume, so everything is recorded: stop waiting for more.
            harness.ForceInactive();
            var fault = consumer.Consumed.Select<StripeEventReceived>().Single().Exception;
            Assert.That(harness.Published.Select<Fault<StripeEventReceived>>().Any(), Is.False, "no fault is published");
            var sent = harness.Sent.Select<FulfillmentDelivery>()
                .Select(entry => (entry.Context.Message, Queue(entry.Context.DestinationAddress), entry.Context.MessageId))
                .ToList();
            return new Dispatch(sent, fault);
        }

        private static string Queue(Uri? address) => address?.AbsolutePath.TrimStart('/') ?? "";
    }

    /// <summary>A Stripe stand-in for the dispatcher that records each call and answers one line item (or throws).</summary>
    private sealed class CountingLineItems(Exception? failure = null) : ILineItemSource
    {
        public static readonly IReadOnlyList<OrderLineItem> Items =
            [new OrderLineItem("li_1", "T-shirt", 2, "price_1", "prod_1", 1500, 3000, 0, 0, 3000, "usd")];

        public List<(string SessionId, string? Account, StripeEnvironment Environment)> Calls { get; } = [];

        public Task<IReadOnlyList<OrderLineItem>> GetLineItemsAsync(string sessionId, string? account, StripeEnvironment environment, CancellationToken ct)
        {
            lock (Calls)
            {
                Calls.Add((sessionId, account, environment));
            }

            return failure is null ? Task.FromResult(Items) : Task.FromException<IReadOnlyList<OrderLineItem>>(failure);
        }
    }
}
