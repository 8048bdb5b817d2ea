using System.Collections.Concurrent;
using System.Globalization;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Consumers;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Forwarding.Tests.Orders;
using SyncWorker.Testing;

namespace SyncWorker.Forwarding.Tests.Consumers;

/// <summary>
/// The delivery consumer and its durable-retry scheduler on MassTransit's in-memory harness, with a failing target, a
/// recording (or failing) delay-queue sender and a fake clock: when the schedule ends, how pauses and an open circuit
/// count, and what happens when the broker will not take the message into a delay queue.
/// </summary>
[TestFixture]
public sealed class RedeliverySchedulerTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 2, 9, 0, 0, TimeSpan.Zero);

    /// <summary>The default schedule's total, 272105 s (about 75.6 h), read from the README's numbers by hand.</summary>
    private static readonly TimeSpan DefaultTotal = TimeSpan.FromSeconds(5 + 300 + 1800 + 7200 + 18000 + 36000 + 36000 + 43200 + 43200 + 43200 + 43200);

    [Test]
    public async Task A_first_failure_waits_in_a_delay_queue_of_a_fixed_wait_near_the_first_step_and_starts_the_clock()
    {
        await using var run = await Run.StartAsync();

        var result = await run.DeliverAsync(Failure(503));

        Assert.That(result.Fault, Is.Null);
        var sent = run.Sender.Sent.Single();
        Assert.That(sent.Wait.TotalSeconds, Is.AnyOf(4, 5, 6), "5 s with ±20% jitter, rounded to one of three waits");
        Assert.That(sent.Queue, Is.EqualTo($"syncworker.wait.{sent.Wait.TotalSeconds:0}s"), "the delay queue of that wait, shared by every target");
        Assert.That(sent.ReturnQueue, Is.EqualTo("syncworker.target.wms"));
        Assert.That(sent.Headers[DeliveryHeaders.RedeliveryCount], Is.EqualTo(1));
        Assert.That(sent.Headers[DeliveryHeaders.FirstFailedAt], Is.EqualTo(Start.ToString("O", CultureInfo.InvariantCulture)));
        Assert.That(sent.Headers[DeliveryHeaders.WaitEndsAt], Is.EqualTo((Start + sent.Wait).ToString("O", CultureInfo.InvariantCulture)));
    }

    [Test]
    public async Task A_Retry_After_longer_than_the_step_gets_a_wait_of_its_own_at_least_as_long()
    {
        await using var run = await Run.StartAsync();

        var result = await run.DeliverAsync(Failure(503, retryAfter: TimeSpan.FromSeconds(600)));

        Assert.That(result.Fault, Is.Null);
        var sent = run.Sender.Sent.Single();
        Assert.That(sent.Wait, Is.EqualTo(TimeSpan.FromSeconds(768)), "600 s rounded up to the next wait of 2^k or 3·2^(k-1) seconds");
        Assert.That(sent.Queue, Is.EqualTo("syncworker.wait.768s"));
    }

    [Test]
    public async Task A_delivery_failing_for_longer_than_the_schedule_total_is_dead_lettered_before_its_schedule_is_spent()
    {
        await using var run = await Run.StartAsync();
        var headers = Headers(redeliveries: 3, firstFailedAt: Start - DefaultTotal - TimeSpan.FromMinutes(1), waitEndsAt: Start - TimeSpan.FromMinutes(2));

        var result = await run.DeliverAsync(Failure(503), headers);

        Assert.That(result.Fault, Is.Not.Null, "dead-lettered");
        Assert.That(result.Fault!.Message, Does.Contain("503").And.Contain("75.6").And.Contain("redelivery schedule"));
        Assert.That(run.Sender.Sent, Is.Empty);
    }

    [Test]
    public async Task Just_inside_the_schedule_total_it_is_scheduled_again()
    {
        await using var run = await Run.StartAsync();
        var headers = Headers(redeliveries: 3, firstFailedAt: Start - DefaultTotal + TimeSpan.FromMinutes(1), waitEndsAt: Start - TimeSpan.FromMinutes(2));

        var result = await run.DeliverAsync(Failure(503), headers);

        Assert.That(result.Fault, Is.Null);
        Assert.That(run.Sender.Sent.Single().Headers[DeliveryHeaders.RedeliveryCount], Is.EqualTo(4));
    }

    [Test]
    public async Task An_open_circuit_keeps_the_step_but_not_the_clock_so_the_delivery_ends_after_the_schedule_total()
    {
        var circuit = new DeliveryFailedException("the target's circuit is open", isPermanent: false, attempts: 0, statusCode: null)
        {
            CircuitOpen = true,
            RetryAfter = TimeSpan.FromSeconds(20),
        };

        await using (var run = await Run.StartAsync())
        {
            var early = await run.DeliverAsync(circuit, Headers(redeliveries: 2, firstFailedAt: Start - TimeSpan.FromHours(1), waitEndsAt: Start));
            Assert.That(early.Fault, Is.Null);
            var sent = run.Sender.Sent.Single();
            Assert.That(sent.Headers[DeliveryHeaders.RedeliveryCount], Is.EqualTo(2), "an open circuit does not use up the schedule");
            Assert.That(sent.Wait, Is.EqualTo(TimeSpan.FromSeconds(24)), "the circuit's 20 s, rounded up");
        }

        await using (var run = await Run.StartAsync())
        {
            var late = await run.DeliverAsync(circuit, Headers(redeliveries: 2, firstFailedAt: Start - DefaultTotal, waitEndsAt: Start));
            Assert.That(late.Fault, Is.Not.Null, "after the schedule's total an open circuit no longer keeps the delivery");
            Assert.That(late.Fault!.Message, Does.Contain("circuit is open").And.Contain("redelivery schedule"));
            Assert.That(run.Sender.Sent, Is.Empty);
        }
    }

    [Test]
    public async Task Time_back_in_the_queue_while_the_target_was_paused_does_not_count()
    {
        // The delivery's last wait ended 10 h 5 min ago; the target was paused for the 10 hours after that.
        var backInQueue = Start - TimeSpan.FromHours(10) - TimeSpan.FromMinutes(5);
        var firstFailedAt = Start - DefaultTotal - TimeSpan.FromHours(2);
        await using var run = await Run.StartAsync(backInQueue);
        run.Time.Advance(TimeSpan.FromMinutes(1));
        run.Pauses.Observe("wms", paused: true);
        run.Time.Advance(TimeSpan.FromHours(10));
        run.Pauses.Observe("wms", paused: false);
        run.Time.SetUtcNow(Start);

        var result = await run.DeliverAsync(Failure(503), Headers(redeliveries: 5, firstFailedAt, backInQueue));

        Assert.That(result.Fault, Is.Null, "77.6 h since the first failure, 10 h of it paused: 67.6 h counted, inside 75.6 h");
        var sent = run.Sender.Sent.Single();
        Assert.That(sent.Headers[DeliveryHeaders.PausedSeconds], Is.EqualTo(36000d), "the paused time travels with the delivery");
        Assert.That(sent.Headers[DeliveryHeaders.FirstFailedAt], Is.EqualTo(firstFailedAt.ToString("O", CultureInfo.InvariantCulture)));
    }

    [Test]
    public async Task Paused_time_already_counted_in_the_header_is_left_out_again()
    {
        await using var run = await Run.StartAsync();
        var headers = Headers(redeliveries: 5, firstFailedAt: Start - DefaultTotal - TimeSpan.FromHours(2), waitEndsAt: Start - TimeSpan.FromMinutes(1));
        headers[DeliveryHeaders.PausedSeconds] = 3 * 3600d;

        var result = await run.DeliverAsync(Failure(503), headers);

        Assert.That(result.Fault, Is.Null);
        Assert.That(run.Sender.Sent.Single().Headers[DeliveryHeaders.PausedSeconds], Is.EqualTo(3 * 3600d));
    }

    [Test]
    public async Task A_Retry_After_past_the_end_of_the_schedule_dead_letters_with_that_reason()
    {
        await using var run = await Run.StartAsync();
        var headers = Headers(redeliveries: 1, firstFailedAt: Start - DefaultTotal + TimeSpan.FromHours(1), waitEndsAt: Start - TimeSpan.FromMinutes(1));

        var result = await run.DeliverAsync(Failure(503, retryAfter: TimeSpan.FromHours(2)), headers);

        Assert.That(result.Fault, Is.Not.Null);
        Assert.That(result.Fault!.Message, Does.Contain("Retry-After").And.Contain("7200 s"));
        Assert.That(run.Sender.Sent, Is.Empty);
    }

    [Test]
    public async Task When_the_broker_refuses_the_delay_queue_send_it_is_tried_again_after_a_wait_and_never_dead_lettered()
    {
        await using var run = await Run.StartAsync();
        run.Sender.FailNext(3, attempt => attempt switch
        {
            1 => new MassTransit.MessageReturnedException("exchange:x returned: NO_ROUTE"),
            2 => new InvalidOperationException("channel closed: connection lost"),
            _ => null, // hangs until cancelled: a publish the broker never confirms
        });

        var delivery = run.DeliverInBackground(Failure(503));
        Assert.That(await Eventually.TrueAsync(() => run.Sender.Calls == 1, TimeSpan.FromSeconds(20)), Is.True);
        Assert.That(delivery.IsCompleted, Is.False, "not handed back or dead-lettered at once: it waits");

        // First 1 s, then 2 s; the third try hangs until the 15 s send timeout, then 4 s more.
        await run.AdvanceUntilAsync(() => run.Sender.Calls >= 4);
        var result = await delivery;

        Assert.That(result.Fault, Is.Null, "the delivery never went to the error queue for broker trouble");
        Assert.That(run.Sender.Calls, Is.EqualTo(4));
        Assert.That(run.Sender.Sent, Has.Count.EqualTo(1), "confirmed at the fourth try");
        // Fake time moves in 1 s steps, so a wait can end up to a step later than asked.
        var gaps = run.Sender.CallTimes.Zip(run.Sender.CallTimes.Skip(1), (a, b) => b - a).ToArray();
        var expected = new[] { TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), RedeliveryScheduler.SendTimeout + TimeSpan.FromSeconds(4) };
        Assert.That(gaps, Has.Length.EqualTo(3));
        for (var i = 0; i < 3; i++)
        {
            Assert.That(gaps[i], Is.InRange(expected[i], expected[i] + TimeSpan.FromSeconds(2)),
                "waits between tries: 1 s, 2 s, and after the try that timed out, 4 s");
        }

        Assert.That(run.TargetCalls, Is.EqualTo(1), "the target is not called again for broker trouble");
    }

    private static DeliveryFailedException Failure(int status, TimeSpan? retryAfter = null) =>
        new($"Delivering event evt_x to target 'wms' failed after 1 attempt; last: {status} Service Unavailable.", isPermanent: false, attempts: 1, statusCode: status)
        {
            RetryAfter = retryAfter,
        };

    private static Dictionary<string, object> Headers(int redeliveries, DateTimeOffset firstFailedAt, DateTimeOffset waitEndsAt) => new(StringComparer.Ordinal)
    {
        [DeliveryHeaders.RedeliveryCount] = redeliveries,
        [DeliveryHeaders.FirstFailedAt] = firstFailedAt.ToString("O", CultureInfo.InvariantCulture),
        [DeliveryHeaders.WaitEndsAt] = waitEndsAt.ToString("O", CultureInfo.InvariantCulture),
    };

    /// <summary>A consumer on a fresh in-memory bus with a target that always fails with the given exception.</summary>
    private sealed class Run : IAsyncDisposable
    {
        private readonly ServiceProvider _provider;
        private readonly ITestHarness _harness;
        private readonly FailingTarget _target;

        private Run(ServiceProvider provider, ITestHarness harness, FakeTimeProvider time, FailingTarget target, RecordingSender sender, TargetPauseHistory pauses)
        {
            _provider = provider;
            _harness = harness;
            _target = target;
            Time = time;
            Sender = sender;
            Pauses = pauses;
        }

        public FakeTimeProvider Time { get; }

        public RecordingSender Sender { get; }

        public TargetPauseHistory Pauses { get; }

        public int TargetCalls => _target.Calls;

        public static async Task<Run> StartAsync(DateTimeOffset? clock = null)
        {
            var time = new FakeTimeProvider(clock ?? Start);
            var target = new FailingTarget();
            var sender = new RecordingSender(time);
            var pauses = new TargetPauseHistory(time);
            var options = new TargetOptions
            {
                Name = "wms",
                Url = "https://fulfillment.example.com/webhooks/wms",
                Mode = "live",
                Events = ["checkout.session.completed"],
                Format = TargetOptions.EventFormat,
            };
            var provider = new ServiceCollection()
                .AddLogging()
                .AddSingleton<TimeProvider>(time)
                .AddSingleton(new TargetRegistry(Options.Create(new FulfillmentOptions { Targets = [options] })))
                .AddSingleton<ILineItemSource, NoLineItems>()
                .AddSingleton<ITargetSender>(target)
                .AddSingleton<PreparationRetry>()
                .AddSingleton(new LaterActionResolver(new StripeLineItemSource(Options.Create(new StripeApiOptions())), new PreparationRetry(time)))
                .AddSingleton<TargetActivity>()
                .AddSingleton(pauses)
                .AddSingleton(new TargetCircuitStates(time))
                .AddSingleton(new RedeliveryScheduler(sender, pauses, time, NullLogger<RedeliveryScheduler>.Instance))
                .AddMassTransitTestHarness(bus => bus.AddConsumer<TargetDeliveryConsumer>())
                .BuildServiceProvider(validateScopes: true);
            var harness = provider.GetRequiredService<ITestHarness>();
            harness.TestTimeout = TimeSpan.FromSeconds(30);
            await harness.Start();
            return new Run(provider, harness, time, target, sender, pauses);
        }

        public Task<Result> DeliverAsync(DeliveryFailedException failure, Dictionary<string, object>? headers = null) =>
            DeliverInBackground(failure, headers);

        public async Task<Result> DeliverInBackground(DeliveryFailedException failure, Dictionary<string, object>? headers = null)
        {
            _target.Failure = failure;
            var message = OrderTestEvents.Fixture(OrderTestEvents.Paid);
            var delivery = new FulfillmentDelivery("wms", "msg_" + Guid.NewGuid().ToString("N"), TargetOptions.EventFormat, message.Type, message);
            await _harness.Bus.Publish(delivery, context =>
            {
                foreach (var (name, value) in headers ?? [])
                {
                    context.Headers.Set(name, value);
                }
            });

            var consumer = _harness.GetConsumerHarness<TargetDeliveryConsumer>();
            Assert.That(
                await consumer.Consumed.Any<FulfillmentDelivery>(c => c.Context.Message.DeliveryId == delivery.DeliveryId),
                Is.True,
                "consumed");
            var entry = consumer.Consumed.Select<FulfillmentDelivery>(c => c.Context.Message.DeliveryId == delivery.DeliveryId).Single();
            return new Result(entry.Exception);
        }

        /// <summary>Moves the fake clock on, a second at a time, until <paramref name="done"/> (at most an hour of it).</summary>
        public async Task AdvanceUntilAsync(Func<bool> done)
        {
            for (var i = 0; i < 3600 && !done(); i++)
            {
                await Task.Delay(5);
                Time.Advance(TimeSpan.FromSeconds(1));
                await Task.Delay(5);
            }

            Assert.That(done(), Is.True, "reached within an hour of fake time");
        }

        public async ValueTask DisposeAsync()
        {
            await _harness.Stop();
            await _provider.DisposeAsync();
        }
    }

    private sealed record Result(Exception? Fault);

    private sealed class FailingTarget : ITargetSender
    {
        private int _calls;

        public DeliveryFailedException Failure { get; set; } = null!;

        public int Calls => Volatile.Read(ref _calls);

        public Task<DeliveryReport> SendAsync(string targetName, TargetDelivery delivery, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            throw Failure;
        }
    }

    private sealed class NoLineItems : ILineItemSource
    {
        public Task<IReadOnlyList<OrderLineItem>> GetLineItemsAsync(string sessionId, string? account, StripeEnvironment environment, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("event-format deliveries need no line items");
    }

    /// <summary>Records what would be sent; can fail (or hang until cancelled) for the next few calls.</summary>
    internal sealed class RecordingSender(TimeProvider time) : IDelayQueueSender
    {
        private readonly ConcurrentQueue<(string Queue, string ReturnQueue, TimeSpan Wait, IReadOnlyDictionary<string, object> Headers)> _sent = new();
        private readonly ConcurrentQueue<DateTimeOffset> _callTimes = new();
        private Func<int, Exception?>? _fault;
        private int _faults;
        private int _calls;

        public IReadOnlyList<(string Queue, string ReturnQueue, TimeSpan Wait, IReadOnlyDictionary<string, object> Headers)> Sent => [.. _sent];

        public IReadOnlyList<DateTimeOffset> CallTimes => [.. _callTimes];

        public int Calls => Volatile.Read(ref _calls);

        /// <summary>The next <paramref name="count"/> calls fail with what <paramref name="fault"/> returns, or hang when null.</summary>
        public void FailNext(int count, Func<int, Exception?> fault)
        {
            _faults = count;
            _fault = fault;
        }

        public async Task SendAsync(ConsumeContext<FulfillmentDelivery> context, string delayQueue, string returnQueue, TimeSpan wait,
            IReadOnlyDictionary<string, object> headers, CancellationToken cancellationToken)
        {
            var call = Interlocked.Increment(ref _calls);
            _callTimes.Enqueue(time.GetUtcNow());
            if (call <= _faults && _fault is { } fault)
            {
                if (fault(call) is { } exception)
                {
                    throw exception;
                }

                await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            }

            _sent.Enqueue((delayQueue, returnQueue, wait, new Dictionary<string, object>(headers)));
        }
    }
}
