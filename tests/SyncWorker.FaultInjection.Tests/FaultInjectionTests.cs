using System.Globalization;
using SyncWorker.Testing;

namespace SyncWorker.FaultInjection.Tests;

/// <summary>
/// "Once we have said 200, the event is ours to keep." Each scenario streams hundreds of signed events from a fake
/// Stripe (which retries anything but a 2xx, as Stripe does) into a real worker process on a real RabbitMQ node, injects
/// a fault, and then checks every target's ledger: every acknowledged event reached every target that wants it at
/// least once, and every repeat carried the same webhook-id and Idempotency-Key. Counts go to the test output and to
/// <c>fault-report.txt</c> in the test work directory.
/// </summary>
[NonParallelizable]
public sealed class FaultInjectionTests
{
    private const int EventCount = 300;
    private const int SenderConcurrency = 8;

    private static readonly string[] EventTypes =
        [StripeEventToSend.Completed, StripeEventToSend.ChargeRefunded, StripeEventToSend.CustomerCreated];

    private static readonly string[] OrderTypes = [StripeEventToSend.Completed, StripeEventToSend.AsyncPaymentSucceeded];

    private static readonly TimeSpan DeliveryDeadline = TimeSpan.FromSeconds(60);

    private RabbitMqNode _node = null!;

    [OneTimeSetUp]
    public async Task StartBrokerAsync()
    {
        // This process plays several independent parties at once (Stripe, the partners, Stripe's API) on few cores:
        // enough pool threads up front that none of them waits for thread injection and skews the timing.
        ThreadPool.GetMinThreads(out var workers, out var completionPorts);
        ThreadPool.SetMinThreads(Math.Max(workers, 32), Math.Max(completionPorts, 32));
        _node = await RabbitMqNode.LaunchAsync();
    }

    [OneTimeTearDown]
    public async Task StopBrokerAsync() => await _node.DisposeAsync();

    [Test]
    public async Task S1_worker_killed_with_SIGKILL_mid_stream_and_restarted_loses_no_acknowledged_event()
    {
        await using var scenario = await Scenario.CreateAsync("s1-sigkill", _node);
        // The partners answer in 100 ms (4 in flight each), slower than events arrive, so a backlog of acknowledged
        // events is queued and deliveries are in flight when the process dies.
        var events = await StartTwoTargetScenarioAsync(scenario, latency: TimeSpan.FromMilliseconds(100));
        var sending = scenario.Stripe.SendAllAsync(events, SenderConcurrency, Scenario.SendDeadline, pace: TimeSpan.FromMilliseconds(15));

        await scenario.Stripe.WaitForAcknowledgedAsync(EventCount / 3, TimeSpan.FromSeconds(30));
        await scenario.Worker.KillAsync();
        var acknowledgedAtKill = scenario.Stripe.AcknowledgedCount;
        var deliveredAtKill = scenario.Targets.Sum(t => t.Ledger.AcceptedKeys().Count);
        scenario.Notes.Add($"SIGKILL after {acknowledgedAtKill} acknowledged; the targets had accepted {deliveredAtKill} deliveries (of about {acknowledgedAtKill * 17 / 10} due)");
        var down = System.Diagnostics.Stopwatch.StartNew();
        await scenario.Worker.RestartAsync();
        scenario.Notes.Add($"restarted on port {scenario.Worker.Port}, answering again after {down.Elapsed.TotalSeconds:F1} s");

        var sends = await sending;
        await scenario.WaitForDeliveriesAsync(sends, DeliveryDeadline);
        var checks = await scenario.ReportAsync(sends);
        Assert.Multiple(() =>
        {
            Assert.That(deliveredAtKill, Is.GreaterThan(0), "the worker was forwarding before it was killed\n" + Failures(scenario));
            Assert.That(deliveredAtKill, Is.LessThan(acknowledgedAtKill * 17 / 10),
                "the kill struck while acknowledged events were still on their way (7 in 10 go to both targets)");
        });
        await scenario.AssertLedgerAsync(sends, checks);
    }

    [Test]
    public async Task S2_broker_stopped_mid_stream_answers_503_meanwhile_and_loses_no_acknowledged_event()
    {
        await using var scenario = await Scenario.CreateAsync("s2-broker-restart", _node);
        // The partners answer slowly (4 in flight, 250 ms each), so a backlog of acknowledged events sits in the broker's
        // queues when it stops, and deliveries are in flight.
        var events = await StartTwoTargetScenarioAsync(scenario, latency: TimeSpan.FromMilliseconds(250));
        // Paced (25 events a second) so that the stream outlasts `rabbitmqctl stop`, which takes a few seconds itself.
        var sending = scenario.Stripe.SendAllAsync(events, SenderConcurrency, Scenario.SendDeadline, pace: TimeSpan.FromMilliseconds(40));

        await scenario.Stripe.WaitForAcknowledgedAsync(EventCount / 3, TimeSpan.FromSeconds(30));
        var acknowledgedAtStop = scenario.Stripe.AcknowledgedCount;
        var outage = System.Diagnostics.Stopwatch.StartNew();
        await _node.StopAsync();
        var stopping = outage.Elapsed;
        var acknowledgedWhenStopped = scenario.Stripe.AcknowledgedCount;
        var deliveredWhenStopped = scenario.Targets.Sum(t => t.Ledger.AcceptedKeys().Count);
        var attemptsWhenStopped = scenario.Stripe.AttemptCount;

        // Stripe keeps trying while the broker is away; hold the outage until it has been refused a good number of times.
        var refusedMeanwhile = await Eventually.TrueAsync(() => scenario.Stripe.AttemptCount - attemptsWhenStopped >= 3 * SenderConcurrency, TimeSpan.FromSeconds(20));
        var acknowledgedWhileDown = scenario.Stripe.AcknowledgedCount - acknowledgedWhenStopped;
        var answersWhileDown = scenario.Stripe.StatusCounts();
        var restarting = outage.Elapsed;
        await _node.StartAsync();
        scenario.Notes.Add($"broker stop requested after {acknowledgedAtStop} acknowledged, stopped {stopping.TotalSeconds:F1} s later with {acknowledgedWhenStopped} acknowledged; " +
            $"restarted {restarting.TotalSeconds:F1} s after the stop request, broker up again {outage.Elapsed.TotalSeconds:F1} s after the stop request");
        scenario.Notes.Add($"while down: {scenario.Stripe.AttemptCount - attemptsWhenStopped} attempts, {acknowledgedWhileDown} answered 200; answers so far {answersWhileDown}; " +
            $"the targets had accepted {deliveredWhenStopped} deliveries (of about {acknowledgedWhenStopped * 17 / 10} due)");

        var sends = await sending;
        await scenario.WaitForDeliveriesAsync(sends, DeliveryDeadline);
        var checks = await scenario.ReportAsync(sends);
        Assert.Multiple(() =>
        {
            Assert.That(refusedMeanwhile, Is.True, "Stripe's retries reached the worker while the broker was down");
            Assert.That(acknowledgedWhileDown, Is.Zero, "no event is answered 200 while no broker can keep it");
            Assert.That(scenario.Stripe.StatusCount(503), Is.GreaterThan(0), "the receiver answers 503 while the broker is down");
            Assert.That(deliveredWhenStopped, Is.GreaterThan(0), "the worker was forwarding before the broker stopped\n" + Failures(scenario));
            Assert.That(deliveredWhenStopped, Is.LessThan(acknowledgedWhenStopped * 17 / 10), "acknowledged events were still queued when the broker stopped");
        });
        await scenario.AssertLedgerAsync(sends, checks);
    }

    [Test]
    public async Task S3_targets_down_for_longer_than_several_retry_delays_get_every_event_once_they_recover()
    {
        await using var scenario = await Scenario.CreateAsync("s3-target-down", _node);
        // Durable retries on a shortened schedule (1, 1, 2, 2, 2, 2 s: 10 s in all); the targets are down for 7 s, longer
        // than the first four waits together. One in-process retry only, so the durable schedule does the work. One
        // target's circuit opens (its deliveries wait at the first step); the other's never does (each failure uses up a step).
        var redelivery = new Dictionary<string, string>
        {
            ["Retry:MaxRetryAttempts"] = "1",
            ["Retry:BaseDelaySeconds"] = "0.02",
            ["Retry:MaxDelaySeconds"] = "0.05",
            ["Redelivery:DelaysSeconds:0"] = "1",
            ["Redelivery:DelaysSeconds:1"] = "1",
            ["Redelivery:DelaysSeconds:2"] = "2",
            ["Redelivery:DelaysSeconds:3"] = "2",
            ["Redelivery:DelaysSeconds:4"] = "2",
            ["Redelivery:DelaysSeconds:5"] = "2",
            ["Redelivery:Jitter"] = "0.1",
        };
        var breaking = await scenario.AddTargetAsync("flaky-events", "event", EventTypes, new(redelivery)
        {
            ["CircuitBreaker:BreakDurationSeconds"] = "1",
        });
        var scheduled = await scenario.AddTargetAsync("flaky-orders", "order", OrderTypes, new(redelivery)
        {
            ["CircuitBreaker:FailureRatio"] = "1",
            ["CircuitBreaker:MinimumThroughput"] = "100000",
        });
        await scenario.StartWorkerAsync();
        var events = StripeEventToSend.Mix(EventCount, "s3x");
        var sending = scenario.Stripe.SendAllAsync(events, SenderConcurrency, Scenario.SendDeadline, pace: TimeSpan.FromMilliseconds(15));

        var downFor = TimeSpan.FromSeconds(7);
        await scenario.Stripe.WaitForAcknowledgedAsync(EventCount / 3, TimeSpan.FromSeconds(30));
        // The outage must hit deliveries under way: on a busy machine the worker may still be starting its target
        // endpoints (after the store's migration) when a third of the events are acknowledged.
        Assert.That(await Eventually.TrueAsync(() => breaking.Ledger.AcceptedKeys().Count > 0 && scheduled.Ledger.AcceptedKeys().Count > 0, TimeSpan.FromSeconds(60)),
            Is.True, "both targets were receiving deliveries before the outage");
        var wentDown = DateTimeOffset.UtcNow;
        breaking.Ledger.GoDown();
        scheduled.Ledger.GoDown();
        var acceptedWhenDown = breaking.Ledger.AcceptedKeys().Count + scheduled.Ledger.AcceptedKeys().Count;
        await Task.Delay(downFor); // The fault's duration, not a wait for a condition.
        breaking.Ledger.ComeBack();
        scheduled.Ledger.ComeBack();
        var refused = scenario.Targets.ToDictionary(t => t.Name, t => t.Ledger.Entries.Count(e => e.Status == 503));
        var longest = scheduled.Ledger.Entries.Where(e => e.Status == 503).GroupBy(e => e.Key).MaxBy(g => g.Count());
        var mostRefusals = longest?.Count() ?? 0;
        scenario.Notes.Add($"both targets down for {downFor.TotalSeconds} s after {acceptedWhenDown} accepted deliveries; 503 answers: " +
            string.Join(", ", refused.Select(r => $"{r.Key} {r.Value}")));
        scenario.Notes.Add($"most 503s for one flaky-orders delivery: {mostRefusals}, at " +
            string.Join(" ", (longest ?? Enumerable.Empty<LedgerEntry>()).Select(e => string.Create(CultureInfo.InvariantCulture, $"+{(e.At - wentDown).TotalSeconds:F2}s"))));

        var sends = await sending;
        await scenario.WaitForDeliveriesAsync(sends, DeliveryDeadline);
        var checks = await scenario.ReportAsync(sends);
        Assert.Multiple(() =>
        {
            Assert.That(refused.Values, Has.All.GreaterThan(0), "deliveries were attempted (and refused) while the targets were down");
            // Two attempts a round (one in-process retry): at least three refused rounds means the delivery went through
            // the durable schedule and was refused again after its waits (usually five rounds: 0, 1, 2, 4, 6 s).
            Assert.That(mostRefusals, Is.GreaterThanOrEqualTo(6), "the outage outlasted several durable retries of one delivery");
        });
        await scenario.AssertLedgerAsync(sends, checks);
    }

    [Test]
    public async Task S4_orders_refused_with_400_are_dead_lettered_then_replayed_after_the_fix_and_arrive()
    {
        await using var scenario = await Scenario.CreateAsync("s4-replay", _node);
        var strict = await scenario.AddTargetAsync("strict", "order", OrderTypes, new()
        {
            ["Retry:MaxRetryAttempts"] = "1",
            ["Retry:BaseDelaySeconds"] = "0.02",
            ["Retry:MaxDelaySeconds"] = "0.05",
            ["Redelivery:DelaysSeconds:0"] = "1",
            ["Redelivery:DelaysSeconds:1"] = "1",
        });
        await scenario.StartWorkerAsync();
        var events = StripeEventToSend.Mix(EventCount, "s4x");
        // The partner refuses one order in seven (say, an unknown SKU) until it ships a fix.
        var refused = events.Where(e => e.SessionId is not null).Where((_, i) => i % 7 == 3).Select(e => e.SessionId!).ToHashSet(StringComparer.Ordinal);
        var orderCount = events.Count(e => e.SessionId is not null);
        strict.Ledger.Refuse(refused);

        var sends = await scenario.Stripe.SendAllAsync(events, SenderConcurrency, Scenario.SendDeadline);
        var acceptedRest = await Eventually.TrueAsync(() => strict.Ledger.AcceptedKeys().Count >= orderCount - refused.Count, DeliveryDeadline);
        var allDeadLettered = await Eventually.TrueAsync(async () => await scenario.DeadLetterCountAsync("strict") == refused.Count, TimeSpan.FromSeconds(30));
        var deadLettered = await scenario.DeadLetterCountAsync("strict");
        var refusedRequests = strict.Ledger.Entries.Count(e => e.Status == 400);

        strict.Ledger.AcceptEverything();
        var (exitCode, output) = await scenario.Worker.RunVerbAsync(["dead-letters", "replay", "--target", "strict", "--all"], TimeSpan.FromSeconds(60));
        scenario.Notes.Add($"{refused.Count} of {orderCount} orders refused with 400 ({refusedRequests} requests); dead-lettered {deadLettered}; replay exit code {exitCode}");
        scenario.Notes.Add("replay output: " + string.Join(" / ", output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Take(8)));

        await scenario.WaitForDeliveriesAsync(sends, DeliveryDeadline);
        var checks = await scenario.ReportAsync(sends);
        Assert.Multiple(() =>
        {
            Assert.That(acceptedRest, Is.True, "every order the target did not refuse arrived while it refused the others");
            Assert.That(allDeadLettered, Is.True, $"each refused order is dead-lettered once (found {deadLettered} for {refused.Count})");
            Assert.That(refusedRequests, Is.EqualTo(refused.Count), "a 400 is not retried: one request per refused order");
            Assert.That(exitCode, Is.Zero, "dead-letters replay --all succeeds:\n" + output);
            Assert.That(refused.Where(id => strict.Ledger.Entries.Count(e => e.Key == id) < 2), Is.Empty,
                "every refused order was delivered again by the replay");
        });
        await scenario.AssertLedgerAsync(sends, checks);
    }

    [Test]
    public async Task S5_duplicate_and_out_of_order_events_from_Stripe_reach_each_target_under_one_webhook_id()
    {
        await using var scenario = await Scenario.CreateAsync("s5-duplicates", _node);
        var distinct = await StartTwoTargetScenarioAsync(scenario, latency: TimeSpan.Zero, count: 100);
        var random = new Random(5);

        // Out of order: for 50 delayed-payment sessions, async_payment_succeeded arrives before the (unpaid) completion.
        var sessions = Enumerable.Range(0, 50).Select(i => StripeEventToSend.NewSessionId($"s5o{i:D2}")).ToList();
        var asyncSuccesses = sessions.Select((session, i) => StripeEventToSend.AsyncPaymentSuccess(session, $"s5a{i:D2}")).ToList();
        var lateCompletions = sessions.Select((session, i) => StripeEventToSend.UnpaidCompletion(session, $"s5c{i:D2}")).ToList();

        // Duplicates: every one of the 100 distinct events is sent three times (two copies early, one late), shuffled,
        // so copies race each other and arrive far apart.
        var first = distinct.Concat(distinct).Concat(asyncSuccesses).OrderBy(_ => random.Next()).ToList();
        var second = distinct.Concat(lateCompletions).OrderBy(_ => random.Next()).ToList();
        var sends = new List<SendRecord>();
        sends.AddRange(await scenario.Stripe.SendAllAsync(first, SenderConcurrency, Scenario.SendDeadline));
        sends.AddRange(await scenario.Stripe.SendAllAsync(second, SenderConcurrency, Scenario.SendDeadline));
        scenario.Notes.Add($"{distinct.Count} events x3, {sessions.Count} async_payment_succeeded before their unpaid completion; {sends.Count} sends");

        await scenario.WaitForDeliveriesAsync(sends, DeliveryDeadline);
        var checks = await scenario.ReportAsync(sends);
        var orders = scenario.Targets.Single(t => t.Name == "orders").Ledger.Entries;
        Assert.Multiple(() =>
        {
            Assert.That(sessions.Where(s => !orders.Any(e => e.Key == s && e.Accepted)), Is.Empty, "every out-of-order paid session became an order");
            Assert.That(orders.Where(e => lateCompletions.Any(c => c.Id == e.SourceEventId)), Is.Empty,
                "the late unpaid completion does not produce an order document");
        });
        await scenario.AssertLedgerAsync(sends, checks);
    }

    [Test]
    public async Task S6_SIGTERM_under_load_exits_within_the_grace_period_and_loses_no_acknowledged_event()
    {
        // docker stop (and Kubernetes) send SIGTERM, then SIGKILL when the grace period is over: 10 s for docker stop.
        // The worker's own budget is shorter; what it cannot finish in it, it hands back to RabbitMQ.
        var gracePeriod = TimeSpan.FromSeconds(10);
        await using var scenario = await Scenario.CreateAsync("s6-sigterm", _node);
        var events = await StartTwoTargetScenarioAsync(scenario, latency: TimeSpan.FromMilliseconds(20),
            workerSettings: new() { ["Worker:ShutdownTimeoutSeconds"] = "5" });
        var hanging = scenario.Targets.Single(t => t.Name == "events").Ledger;
        var sending = scenario.Stripe.SendAllAsync(events, SenderConcurrency, Scenario.SendDeadline, pace: TimeSpan.FromMilliseconds(15));

        await scenario.Stripe.WaitForAcknowledgedAsync(EventCount / 3, TimeSpan.FromSeconds(30));
        // Under load, one partner hangs: deliveries to it are still in flight when SIGTERM arrives, and would not finish
        // within any budget (each attempt times out after 10 s and is retried).
        hanging.Latency = TimeSpan.FromSeconds(60);
        var stuck = await Eventually.TrueAsync(() => hanging.InFlight >= 2, TimeSpan.FromSeconds(10));
        var acknowledgedAtTerm = scenario.Stripe.AcknowledgedCount;
        var inFlightAtTerm = hanging.InFlight;
        var (elapsed, exitCode) = await scenario.Worker.TerminateAsync(killAfter: TimeSpan.FromSeconds(30));
        scenario.Notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"SIGTERM after {acknowledgedAtTerm} acknowledged, {inFlightAtTerm} deliveries hanging at 'events'; exited {(exitCode is { } code ? code.ToString(CultureInfo.InvariantCulture) : "(killed)")} after {elapsed.TotalSeconds:F2} s (shutdown budget 5 s, grace {gracePeriod.TotalSeconds} s)"));
        var logOfStoppedRun = scenario.Worker.LogTail();
        hanging.Latency = TimeSpan.FromMilliseconds(20);
        await scenario.Worker.RestartAsync();

        var sends = await sending;
        scenario.Notes.Add("Stripe's answers: " + scenario.Stripe.StatusCounts());
        await scenario.WaitForDeliveriesAsync(sends, DeliveryDeadline);
        var checks = await scenario.ReportAsync(sends);
        Assert.Multiple(() =>
        {
            Assert.That(stuck, Is.True, "deliveries were in flight at the hanging target when SIGTERM came (so the worker was forwarding)\n" + Failures(scenario));
            Assert.That(exitCode, Is.Zero, "a SIGTERM is a clean stop\n" + logOfStoppedRun);
            Assert.That(elapsed, Is.LessThan(gracePeriod), "the worker exits within the grace period\n" + logOfStoppedRun);
            Assert.That(elapsed, Is.LessThan(TimeSpan.FromSeconds(5)), "the worker exits within its own shutdown budget (README)\n" + logOfStoppedRun);
        });
        await scenario.AssertLedgerAsync(sends, checks);
    }

    /// <summary>What the worker logged as failures, for assertion messages.</summary>
    private static string Failures(Scenario scenario) =>
        "worker failures logged: " + string.Join("\n  ", scenario.Worker.Failures().Take(5).DefaultIfEmpty("(none)"));

    /// <summary>An <c>event</c> target (orders, refunds, customers) and an <c>order</c> target (paid Checkout Sessions).</summary>
    [Test]
    public async Task S7_PostgreSQL_stopped_mid_stream_webhooks_go_on_deliveries_wait_and_nothing_is_sent_twice()
    {
        await using var postgres = await PostgresServer.LaunchAsync();
        await using var scenario = await Scenario.CreateAsync("s7-store-outage", _node);
        var store = new Dictionary<string, string>
        {
            ["Store:Provider"] = "Postgres",
            ["Store:ConnectionString"] = await postgres.CreateDatabaseAsync("s7"),
        };
        var events = await StartTwoTargetScenarioAsync(scenario, latency: TimeSpan.FromMilliseconds(20), workerSettings: store);
        // Paced (25 events a second): the stream goes on through the outage.
        var sending = scenario.Stripe.SendAllAsync(events, SenderConcurrency, Scenario.SendDeadline, pace: TimeSpan.FromMilliseconds(40));

        await scenario.Stripe.WaitForAcknowledgedAsync(EventCount / 3, TimeSpan.FromSeconds(30));
        await postgres.StopAsync();
        var acknowledgedWhenStopped = scenario.Stripe.AcknowledgedCount;
        var deliveredWhenStopped = scenario.Targets.Sum(t => t.Ledger.Entries.Count(e => e.Accepted));
        await Task.Delay(TimeSpan.FromSeconds(8));
        var acknowledgedWhileDown = scenario.Stripe.AcknowledgedCount - acknowledgedWhenStopped;
        var deliveredWhileDown = scenario.Targets.Sum(t => t.Ledger.Entries.Count(e => e.Accepted)) - deliveredWhenStopped;
        await postgres.StartAsync();
        scenario.Notes.Add($"PostgreSQL stopped with {acknowledgedWhenStopped} acknowledged and {deliveredWhenStopped} delivered; in the 8 s it was down, " +
            $"{acknowledgedWhileDown} more were acknowledged and {deliveredWhileDown} deliveries made (those claimed before it stopped)");

        var sends = await sending;
        await scenario.WaitForDeliveriesAsync(sends, DeliveryDeadline);
        var checks = await scenario.ReportAsync(sends);
        Assert.Multiple(() =>
        {
            Assert.That(acknowledgedWhileDown, Is.GreaterThan(0), "webhooks are answered while the store is down");
            Assert.That(deliveredWhileDown, Is.LessThanOrEqualTo(2 * 4 * 2), "at most what was claimed before the stop goes out while the store is down");
        });
        // Also: no delivery was POSTed again after its target answered 2xx (no worker is killed here, so none is allowed).
        await scenario.AssertLedgerAsync(sends, checks);
    }

    private static async Task<IReadOnlyList<StripeEventToSend>> StartTwoTargetScenarioAsync(
        Scenario scenario, TimeSpan latency, int count = EventCount, Dictionary<string, string>? workerSettings = null)
    {
        var events = await scenario.AddTargetAsync("events", "event", EventTypes);
        var orders = await scenario.AddTargetAsync("orders", "order", OrderTypes);
        events.Ledger.Latency = latency;
        orders.Ledger.Latency = latency;
        await scenario.StartWorkerAsync(workerSettings);
        return StripeEventToSend.Mix(count, scenario.Name[..2] + "x");
    }
}
