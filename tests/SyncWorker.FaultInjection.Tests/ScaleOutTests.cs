using System.Globalization;
using SyncWorker.Contracts;
using SyncWorker.Testing;

namespace SyncWorker.FaultInjection.Tests;

/// <summary>
/// Issue 6: scaling out. Several worker processes with roles (<c>Worker:Role</c> Receiver / Forwarder) against one broker,
/// and a three-node RabbitMQ cluster with quorum queues that loses the node every process is connected to in the middle
/// of a stream. The same ledger checks as <see cref="FaultInjectionTests"/>: every acknowledged event reaches every target
/// that wants it, repeats carry one webhook-id and Idempotency-Key. Counts and stall times go to the test output and to
/// <c>fault-report.txt</c>; timings are recorded, never asserted.
/// </summary>
[NonParallelizable]
public sealed class ScaleOutTests
{
    private const int SenderConcurrency = 8;

    /// <summary>The category of the one "Delivered …" line per delivery, switched on for forwarders so they can be told apart.</summary>
    private const string DeliveredLogCategory = "SyncWorker.Forwarding.Delivery.HttpTargetSender";

    private static readonly string[] EventTypes =
        [StripeEventToSend.Completed, StripeEventToSend.ChargeRefunded, StripeEventToSend.CustomerCreated];

    private static readonly string[] OrderTypes = [StripeEventToSend.Completed, StripeEventToSend.AsyncPaymentSucceeded];

    private static readonly TimeSpan DeliveryDeadline = TimeSpan.FromSeconds(60);

    private RabbitMqNode _node = null!;
    private static PostgresServer _postgres = null!;

    [OneTimeSetUp]
    public async Task StartBrokerAsync()
    {
        ThreadPool.GetMinThreads(out var workers, out var completionPorts);
        ThreadPool.SetMinThreads(Math.Max(workers, 32), Math.Max(completionPorts, 32));
        _node = await RabbitMqNode.LaunchAsync();
        // Split roles share one store, which in Production must be PostgreSQL (SQLite is refused at start).
        _postgres = await PostgresServer.LaunchAsync();
    }

    [OneTimeTearDown]
    public async Task StopBrokerAsync()
    {
        await _node.DisposeAsync();
        await _postgres.DisposeAsync();
    }

    /// <summary><paramref name="more"/> and a new PostgreSQL database as the scenario's store.</summary>
    private static async Task<Dictionary<string, string>> WithStoreAsync(Dictionary<string, string>? more = null) =>
        new(more ?? [], StringComparer.Ordinal)
        {
            ["Store:Provider"] = "Postgres",
            ["Store:ConnectionString"] = await _postgres.CreateDatabaseAsync("scaleout"),
        };

    [Test]
    public async Task A1_two_receivers_and_two_forwarders_as_separate_processes_share_the_stream_and_lose_no_acknowledged_event()
    {
        const int eventCount = 400;
        await using var scenario = await Scenario.CreateAsync("a1-scale-out", _node);
        await AddTwoTargetsAsync(scenario, latency: TimeSpan.FromMilliseconds(10));
        await scenario.StartWorkersAsync(
            [new("Receiver"), new("Receiver"), new("Forwarder", DeliveredLogging()), new("Forwarder", DeliveredLogging())],
            await WithStoreAsync());
        var events = StripeEventToSend.Mix(eventCount, "a1x");

        var streaming = System.Diagnostics.Stopwatch.StartNew();
        var sends = await scenario.Stripe.SendAllAsync(events, SenderConcurrency, Scenario.SendDeadline);
        var streamed = streaming.Elapsed;
        await scenario.WaitForDeliveriesAsync(sends, DeliveryDeadline);
        scenario.Notes.Add($"{eventCount} events sent in {streamed.TotalSeconds:F1} s ({SenderConcurrency} at a time), all delivered {streaming.Elapsed.TotalSeconds:F1} s after the first");

        // Each forwarder logs one "Delivered … to target …" line per delivery it made; together they must account for
        // every request a target accepted (the console logger writes asynchronously, so give the lines a moment).
        var accepted = scenario.Targets.Sum(t => t.Ledger.Entries.Count(e => e.Accepted));
        var accounted = await Eventually.TrueAsync(() => scenario.Forwarders.Sum(f => DeliveredLines(f).Count) == accepted, TimeSpan.FromSeconds(5));
        var receivers = scenario.Receivers.Select((r, i) => (Worker: r, Acknowledged: scenario.Stripe.AcknowledgedBy(i))).ToList();
        var forwarders = scenario.Forwarders.Select(f => (Worker: f, Delivered: DeliveredLines(f))).ToList();
        scenario.Notes.Add("Stripe's answers: " + scenario.Stripe.StatusCounts());
        scenario.Notes.Add("acknowledged per receiver: " + string.Join(", ", receivers.Select(r => $"port {r.Worker.Port} {r.Acknowledged}")));
        scenario.Notes.Add($"delivered per forwarder (its 'Delivered' log lines; the targets accepted {accepted} requests): " + string.Join(", ", forwarders.Select(f =>
            $"pid {f.Worker.ProcessId} {f.Delivered.Count} (" + string.Join(", ", scenario.Targets.Select(t => $"{t.Name} {f.Delivered.Count(line => line.Contains($" to target {t.Name}:", StringComparison.Ordinal))}")) + ")")));

        var checks = await scenario.ReportAsync(sends);
        var acknowledged = sends.Count(s => s.Acknowledged);
        Assert.Multiple(() =>
        {
            Assert.That(scenario.Workers.Select(w => w.IsRunning), Has.All.True, "all four processes ran to the end");
            // Round robin sends each receiver half of the first attempts; a tenth is far below that, far above nothing.
            foreach (var (worker, count) in receivers)
            {
                Assert.That(count, Is.GreaterThanOrEqualTo(acknowledged / 10), $"the receiver on port {worker.Port} acknowledged a share of the events");
            }

            Assert.That(accounted, Is.True,
                $"the forwarders' 'Delivered' lines ({forwarders.Sum(f => f.Delivered.Count)}) account for every accepted request ({accepted})\n{scenario.WorkerLogTails()}");
            foreach (var (worker, delivered) in forwarders)
            {
                Assert.That(delivered, Has.Count.GreaterThanOrEqualTo(accepted / 10), $"the forwarder pid {worker.ProcessId} delivered a share (they compete for the queues)");
            }
        });
        await scenario.AssertLedgerAsync(sends, checks);
    }

    /// <summary>
    /// B1: safety (every acknowledged event delivered, only 200 or 503 with Retry-After) and liveness (every send is
    /// eventually acknowledged: the receivers fail over to a surviving node and publish again). Liveness once failed here
    /// for about a minute after most failovers, while receivers published through MassTransit, which kept a channel the
    /// broker went on nacking; the receiver's own publisher replaces such a channel (README "Running in production").
    /// </summary>
    [Test]
    public Task B1_three_node_cluster_with_quorum_queues_loses_the_connected_node_mid_stream_and_every_acknowledged_event_is_delivered() =>
        ClusterFailoverAsync("b1-cluster-failover");

    private static async Task ClusterFailoverAsync(string name)
    {
        const int eventCount = 300;
        var clusterClock = System.Diagnostics.Stopwatch.StartNew();
        await using var cluster = await RabbitMqCluster.LaunchAsync(3);
        var clusterUp = clusterClock.Elapsed;
        await using var scenario = await Scenario.CreateAsync(name, cluster);
        await AddTwoTargetsAsync(scenario, latency: TimeSpan.FromMilliseconds(20));
        // Every process connects to node 1 first (RabbitMq:Uri), with nodes 2 and 3 to fail over to.
        var clusterSettings = new Dictionary<string, string>
        {
            ["RabbitMq:QueueType"] = "quorum",
            ["RabbitMq:Hosts:0"] = cluster.AdditionalHosts[0],
            ["RabbitMq:Hosts:1"] = cluster.AdditionalHosts[1],
        };
        await scenario.StartWorkersAsync(
            [new("Receiver"), new("Receiver"), new("Forwarder", DeliveredLogging()), new("Forwarder", DeliveredLogging())],
            await WithStoreAsync(clusterSettings));
        scenario.Notes.Add($"cluster of {cluster.Nodes.Count} formed in {clusterUp.TotalSeconds:F1} s ({cluster.Formation}): {string.Join(", ", cluster.Nodes.Select(n => $"{n.NodeName} amqp {n.AmqpPort}"))}");
        // The precondition of the failover: every quorum queue has a replica on each of the three nodes (a queue
        // declared while a node was still joining would have fewer, and could lose its majority with node 1).
        Dictionary<string, int> members = [];
        var queues = new[] { Topology.IntakeQueue }.Concat(scenario.Targets.Select(t => Topology.TargetQueue(t.Name))).ToList();
        await Eventually.TrueAsync(async () => queues.All((members = await QueueMembersAsync(scenario)).ContainsKey), TimeSpan.FromSeconds(30));
        scenario.Notes.Add("replicas before the stream: " + string.Join(", ", members.Select(m => $"{m.Key}={m.Value}")));
        Assert.That(members.Keys, Is.SupersetOf(queues), "the workers declared the intake and target queues");
        Assert.That(members.Where(m => m.Value != cluster.Nodes.Count), Is.Empty,
            $"every quorum queue has {cluster.Nodes.Count} replicas before node 1 is killed");
        var events = StripeEventToSend.Mix(eventCount, "b1x");
        // 30 ms apart: a 9 s stream, so that Stripe keeps sending through the failover.
        var sending = scenario.Stripe.SendAllAsync(events, SenderConcurrency, Scenario.SendDeadline, pace: TimeSpan.FromMilliseconds(30));

        await scenario.Stripe.WaitForAcknowledgedAsync(eventCount / 3, TimeSpan.FromSeconds(30));
        var killedAt = DateTimeOffset.UtcNow;
        await cluster.Nodes[0].KillAsync();
        var killTook = DateTimeOffset.UtcNow - killedAt;
        var acknowledgedAtKill = scenario.Stripe.AcknowledgedCount;
        var deliveredAtKill = scenario.Targets.Sum(t => t.Ledger.AcceptedKeys().Count);
        var leftOfNode1 = cluster.Nodes[0].ProcessesOfNode();

        var sends = await sending;
        var delivered = await scenario.WaitForDeliveriesAsync(sends, DeliveryDeadline);
        var settled = DateTimeOffset.UtcNow;
        var types = await QueueTypesAsync(scenario);
        var depths = await scenario.QueueDepthsAsync();
        var running = await RabbitMqCluster.RunningNodesAsync(cluster.Nodes[1]);

        var history = scenario.Stripe.History;
        var timeline = Timeline.Of(history, scenario.Targets, killedAt);
        var acknowledgedAfterKill = history.Count(a => a.Acknowledged && a.Start > killedAt);
        var notOk = history.Where(a => a.Answer is not ("200" or "503")).ToList();
        var withoutRetryAfter = history.Count(a => a.Answer == "503" && !a.RetryAfter);
        var slowest = history.MaxBy(a => a.End - a.Start);
        scenario.Notes.Add($"SIGKILL of {cluster.Nodes[0].NodeName} (took {killTook.TotalMilliseconds:F0} ms) after {acknowledgedAtKill} acknowledged; " +
            $"the targets had accepted {deliveredAtKill} deliveries (of about {acknowledgedAtKill * 17 / 10} due); running nodes afterwards: {string.Join(", ", running)}");
        scenario.Notes.Add($"events sent {eventCount}, acknowledged {sends.Count(s => s.Acknowledged)} ({acknowledgedAfterKill} on attempts started after the kill); " +
            $"attempts {history.Count}: {scenario.Stripe.StatusCounts()}; 503 without Retry-After {withoutRetryAfter}; slowest answer {(slowest is null ? 0 : (slowest.End - slowest.Start).TotalSeconds):F2} s ({slowest?.Answer})");
        scenario.Notes.Add("acknowledged per receiver: " + string.Join(", ", scenario.Receivers.Select((r, i) => $"port {r.Port} {scenario.Stripe.AcknowledgedBy(i)}")));
        scenario.Notes.Add("delivered per forwarder ('Delivered' log lines): " + string.Join(", ", scenario.Forwarders.Select(f => $"pid {f.ProcessId} {DeliveredLines(f).Count}")));
        scenario.Notes.AddRange(timeline.Describe());
        scenario.Notes.Add($"all delivered {(settled - killedAt).TotalSeconds:F1} s after the kill (complete: {delivered}); queue types: " +
            string.Join(", ", types.Select(t => $"{t.Key}={t.Value}")));

        scenario.Notes.Add("channels replaced after a failed publish ('its channel was closed' log lines): receivers " +
            string.Join(", ", scenario.Receivers.Select(r => $"port {r.Port} {ChannelsReplaced(r)}")) + "; forwarders " +
            string.Join(", ", scenario.Forwarders.Select(f => $"pid {f.ProcessId} {ChannelsReplaced(f)}")));
        scenario.Notes.Add($"{Topology.IntakeErrorQueue}: {(depths.TryGetValue(Topology.IntakeErrorQueue, out var intakeErrors) ? $"{intakeErrors} messages" : "not declared")}");
        scenario.Notes.Add($"ingest recovered after the kill: {(sends.All(s => s.Acknowledged) ? "yes" : $"no, {sends.Count(s => !s.Acknowledged)} sends never acknowledged")}");
        var checks = await scenario.ReportAsync(sends);
        var ours = types.Where(t => t.Key.StartsWith("syncworker.", StringComparison.Ordinal)).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(leftOfNode1, Is.Empty, "nothing of node 1 is left running after the SIGKILL");
            Assert.That(acknowledgedAfterKill, Is.GreaterThan(0), "the stream went on past the kill (the scenario tests a failover)");
            Assert.That(notOk.Select(a => $"{a.Answer} from receiver {a.Receiver} after {(a.End - a.Start).TotalSeconds:F1} s at kill{(a.Start - killedAt).TotalSeconds:+0.0;-0.0} s"), Is.Empty,
                $"a receiver answers 200 or 503, never an error, a hang or a dropped connection\n{scenario.WorkerLogTails()}");
            Assert.That(withoutRetryAfter, Is.Zero, "every 503 carries Retry-After");
            Assert.That(scenario.Workers.Select(w => w.IsRunning), Has.All.True, "every worker process survived the failover");
            Assert.That(ours.Select(t => t.Key), Does.Contain(Topology.IntakeQueue).And.Contain(Topology.TargetQueue("events")).And.Contain(Topology.TargetQueue("orders")),
                "the intake and target queues exist");
            Assert.That(ours.Where(t => t.Value != "quorum").Select(t => $"{t.Key}={t.Value}"), Is.Empty, "every SyncWorker queue is a quorum queue");
            Assert.That(depths.Where(q => q.Value != 0).Select(q => $"{q.Key}={q.Value}"), Is.Empty, $"every queue ends empty\n{scenario.WorkerLogTails()}");
            Assert.That(depths.GetValueOrDefault(Topology.IntakeErrorQueue), Is.Zero,
                $"no event is given up to {Topology.IntakeErrorQueue}: the dispatcher's sends succeed on replaced channels\n{scenario.WorkerLogTails()}");
        });
        await scenario.AssertLedgerAsync(sends, checks, everySendAcknowledged: true);
    }

    /// <summary>
    /// C1: two forwarders race over a replay. A partner refuses a third of the orders (400), so they are dead-lettered;
    /// after its fix, Stripe sends a third of those again (a duplicate event: another copy of the same order action) and
    /// they are delivered; then two replays run at once, from both forwarders' settings, while Stripe sends another third
    /// again, so two copies of those orders race between the forwarders. Each order action must reach the partner exactly
    /// once with a 2xx (none POSTed after its 2xx), the replayed copies of the ones delivered meanwhile are suppressed
    /// (counted on their ledger rows and as <c>duplicate_suppressed</c>), and the rest are delivered once by the replay.
    /// </summary>
    [Test]
    public async Task C1_two_forwarders_race_over_a_replay_and_each_order_action_reaches_the_target_once()
    {
        const int orderCount = 90;
        await using var scenario = await Scenario.CreateAsync("c1-replay-race", _node);
        var strict = await scenario.AddTargetAsync("strict", "order", OrderTypes, new()
        {
            ["Retry:MaxRetryAttempts"] = "1",
            ["Retry:BaseDelaySeconds"] = "0.02",
            ["Retry:MaxDelaySeconds"] = "0.05",
        });
        // Slow enough answers that the two copies of an order are in flight at the two forwarders at the same time.
        strict.Ledger.Latency = TimeSpan.FromMilliseconds(100);
        var store = await WithStoreAsync();
        await scenario.StartWorkersAsync([new("Receiver"), new("Forwarder", DeliveredLogging()), new("Forwarder", DeliveredLogging())], store);
        var events = Enumerable.Range(0, orderCount).Select(i => StripeEventToSend.PaidCompletion($"c1x{i:D3}")).ToList();
        var refused = events.Where((_, i) => i % 3 == 1).ToList();
        var deliveredMeanwhile = refused.Where((_, i) => i % 3 == 0).ToList();
        var racing = refused.Where((_, i) => i % 3 == 1).ToList();
        var replayedOnly = refused.Where((_, i) => i % 3 == 2).ToList();
        strict.Ledger.Refuse(refused.Select(e => e.SessionId!));

        var started = scenario.Elapsed;
        var sends = new List<SendRecord>(await scenario.Stripe.SendAllAsync(events, SenderConcurrency, Scenario.SendDeadline));
        var sent = scenario.Elapsed;
        var acceptedRest = await Eventually.TrueAsync(() => strict.Ledger.AcceptedKeys().Count >= orderCount - refused.Count, DeliveryDeadline);
        var allDeadLettered = await Eventually.TrueAsync(async () => await scenario.DeadLetterCountAsync("strict") == refused.Count, TimeSpan.FromSeconds(30));
        var deadLettered = await scenario.DeadLetterCountAsync("strict");
        var deadLetteredAt = scenario.Elapsed;

        // The partner ships its fix; a duplicate of a third of the refused orders' events arrives and is delivered.
        strict.Ledger.AcceptEverything();
        sends.AddRange(await scenario.Stripe.SendAllAsync(deliveredMeanwhile, SenderConcurrency, Scenario.SendDeadline));
        var deliveredBeforeReplay = await Eventually.TrueAsync(
            () => deliveredMeanwhile.All(e => strict.Ledger.AcceptedKeys().Contains(e.SessionId!)), DeliveryDeadline);

        // Two replays at once, one with each forwarder's settings, while duplicates of another third arrive.
        var replayArguments = new[] { "dead-letters", "replay", "--target", "strict", "--all", "--json" };
        var replays = scenario.Forwarders.Select(f => f.RunVerbAsync(replayArguments, TimeSpan.FromSeconds(90))).ToList();
        sends.AddRange(await scenario.Stripe.SendAllAsync(racing, SenderConcurrency, Scenario.SendDeadline));
        var replayStarted = scenario.Elapsed;
        var replayed = await Task.WhenAll(replays);
        var replayEnded = scenario.Elapsed;
        var moved = replayed.Select(r => ReplayMoved(r.Output)).ToList();
        await scenario.WaitForDeliveriesAsync(sends, DeliveryDeadline);
        var settled = scenario.Elapsed;

        // The ledger rows of the refused orders, once each shows what became of every copy sent to it.
        using var ledger = new Store.Ledger.SqlDeliveryLedger(scenario.Forwarders[0].StoreSettings(), TimeProvider.System);
        var rows = new Dictionary<string, Store.Ledger.LedgerEntry?>(StringComparer.Ordinal);
        var rowsSettled = await Eventually.TrueAsync(async () =>
        {
            foreach (var order in refused)
            {
                rows[order.SessionId!] = await ledger.GetAsync(
                    Store.Ledger.DeliveryKey.ForOrder("strict", order.SessionId!, Forwarding.Orders.OrderEventClassifier.PaidAction).Value, CancellationToken.None);
            }

            return deliveredMeanwhile.Concat(racing).All(e => rows[e.SessionId!]?.RepeatsSuppressed >= 1);
        }, TimeSpan.FromSeconds(15));
        var suppressed = await DuplicatesSuppressedAsync(scenario, "strict");
        int Suppressed(IEnumerable<StripeEventToSend> orders) => orders.Sum(e => rows[e.SessionId!]?.RepeatsSuppressed ?? 0);
        scenario.Notes.Add($"{refused.Count} of {orderCount} orders refused with 400 and dead-lettered ({deadLettered}); after the fix {deliveredMeanwhile.Count} delivered " +
            $"through a duplicate event before the replay, {racing.Count} sent again during it, {replayedOnly.Count} left to the replay alone");
        scenario.Notes.Add("replays: " + string.Join("; ", replayed.Select((r, i) => $"forwarder {i + 1} exit {r.ExitCode}, moved {moved[i]?.ToString(CultureInfo.InvariantCulture) ?? "?"}")) +
            string.Create(CultureInfo.InvariantCulture, $"; workers up at +{started.TotalSeconds:F1} s, first stream sent by +{sent.TotalSeconds:F1} s, dead-lettered by +{deadLetteredAt.TotalSeconds:F1} s, replays started at +{replayStarted.TotalSeconds:F1} s, both ended at +{replayEnded.TotalSeconds:F1} s, all delivered and queues empty at +{settled.TotalSeconds:F1} s"));
        scenario.Notes.Add($"repeats suppressed on the ledger rows: delivered meanwhile {Suppressed(deliveredMeanwhile)}, racing {Suppressed(racing)}, replayed only {Suppressed(replayedOnly)}; " +
            $"duplicate_suppressed counted by the forwarders: {suppressed}; delivered per forwarder ('Delivered' log lines): " +
            string.Join(", ", scenario.Forwarders.Select(f => $"pid {f.ProcessId} {DeliveredLines(f).Count}")));

        var checks = await scenario.ReportAsync(sends);
        var notOnce = refused.Select(e => (Order: e.SessionId!, Accepted: strict.Ledger.Entries.Count(x => x.Key == e.SessionId && x.Accepted)))
            .Where(o => o.Accepted != 1).Select(o => $"{o.Order} x{o.Accepted}").ToList();
        Assert.Multiple(() =>
        {
            Assert.That(acceptedRest, Is.True, "every order the partner did not refuse arrived while it refused the others");
            Assert.That(allDeadLettered, Is.True, $"each refused order is dead-lettered once (found {deadLettered} for {refused.Count})");
            Assert.That(deliveredBeforeReplay, Is.True, "the duplicate events delivered their orders after the fix, before the replay");
            Assert.That(replayed.Select(r => r.ExitCode), Has.All.Zero, "both replays succeed:\n" + string.Join("\n", replayed.Select(r => r.Output)));
            Assert.That(moved.Sum(m => m ?? 0), Is.EqualTo(refused.Count), "the two replays moved each dead letter once between them");
            Assert.That(notOnce, Is.Empty, "each refused order reached the partner exactly once with a 2xx");
            Assert.That(rowsSettled, Is.True, "the ledger row of every order delivered or sent again meanwhile counts the suppressed copy: " +
                string.Join(", ", deliveredMeanwhile.Concat(racing).Where(e => rows[e.SessionId!]?.RepeatsSuppressed is not >= 1).Take(5)
                    .Select(e => $"{e.SessionId} {rows[e.SessionId!]?.State.ToString() ?? "(no row)"} {rows[e.SessionId!]?.RepeatsSuppressed}")));
            Assert.That(refused.Where(e => rows[e.SessionId!]?.State != Store.Ledger.DeliveryState.Delivered).Select(e => e.SessionId), Is.Empty,
                "the ledger has every refused order delivered in the end");
            Assert.That(suppressed, Is.GreaterThanOrEqualTo(deliveredMeanwhile.Count + racing.Count),
                "the forwarders counted a duplicate_suppressed delivery for each copy not sent");
            Assert.That(checks.Single().Duplicates, Is.Zero, "no order reached the partner twice with a 2xx");
        });
        await scenario.AssertLedgerAsync(sends, checks);
    }

    /// <summary>The <c>moved</c> count of a <c>dead-letters replay --json</c> output (standard output), or null.</summary>
    private static int? ReplayMoved(string output)
    {
        var json = string.Join('\n', output.Split('\n').Where(line => !line.StartsWith("[stderr] ", StringComparison.Ordinal)));
        var start = json.IndexOf('{', StringComparison.Ordinal);
        if (start < 0)
        {
            return null;
        }

        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(json[start..]);
            return document.RootElement.EnumerateObject().Where(p => p.Name.Equals("moved", StringComparison.OrdinalIgnoreCase))
                .Select(p => (int?)p.Value.GetInt32()).FirstOrDefault();
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>The sum of every forwarder's <c>syncworker_deliveries_total{outcome="duplicate_suppressed"}</c> for a target (its <c>/metrics</c>).</summary>
    private static async Task<double> DuplicatesSuppressedAsync(Scenario scenario, string target)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var sum = 0.0;
        foreach (var forwarder in scenario.Forwarders)
        {
            var text = await client.GetStringAsync(new Uri(forwarder.BaseAddress, "metrics"));
            sum += text.Split('\n')
                .Where(line => line.StartsWith("syncworker_deliveries_total{", StringComparison.Ordinal)
                    && line.Contains("outcome=\"duplicate_suppressed\"", StringComparison.Ordinal)
                    && line.Contains($"target=\"{target}\"", StringComparison.Ordinal))
                .Sum(line => double.Parse(line.Split(' ')[^1], CultureInfo.InvariantCulture));
        }

        return sum;
    }

    /// <summary>How many channels a worker's publishers closed after a failed publish (nack, timeout, return, lost connection).</summary>
    private static int ChannelsReplaced(WorkerProcess worker) =>
        worker.LogLines().Count(line => line.Contains("its channel was closed and will not be reused", StringComparison.Ordinal));

    /// <summary>Logging settings that switch on the forwarder's one line per delivery.</summary>
    private static Dictionary<string, string> DeliveredLogging() => new() { [$"Logging:LogLevel:{DeliveredLogCategory}"] = "Information" };

    /// <summary>The "Delivered {delivery} to target {name}: …" lines a worker logged.</summary>
    private static List<string> DeliveredLines(WorkerProcess worker) =>
        worker.LogLines().Where(line => line.TrimStart().StartsWith("Delivered ", StringComparison.Ordinal) && line.Contains(" to target ", StringComparison.Ordinal)).ToList();

    /// <summary><c>rabbitmqctl list_queues name type</c> of the scenario's virtual host.</summary>
    /// <summary>The number of replicas (members) of each quorum queue in the scenario's vhost.</summary>
    private static async Task<Dictionary<string, int>> QueueMembersAsync(Scenario scenario)
    {
        var output = await scenario.CtlAsync(["list_queues", "-p", scenario.VirtualHost, "name", "members", "--quiet", "--formatter", "json"]);
        var members = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var queue in System.Text.Json.JsonDocument.Parse(output).RootElement.EnumerateArray())
        {
            if (queue.TryGetProperty("members", out var list) && list.ValueKind == System.Text.Json.JsonValueKind.Array)
            {
                members[queue.GetProperty("name").GetString()!] = list.GetArrayLength();
            }
        }

        return members;
    }

    private static async Task<Dictionary<string, string>> QueueTypesAsync(Scenario scenario)
    {
        var output = await scenario.CtlAsync(["list_queues", "-p", scenario.VirtualHost, "name", "type", "--no-table-headers", "--quiet"]);
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 2)
            {
                types[parts[0]] = parts[^1];
            }
        }

        return types;
    }

    private static async Task AddTwoTargetsAsync(Scenario scenario, TimeSpan latency)
    {
        var events = await scenario.AddTargetAsync("events", "event", EventTypes);
        var orders = await scenario.AddTargetAsync("orders", "order", OrderTypes);
        events.Ledger.Latency = latency;
        orders.Ledger.Latency = latency;
    }

    /// <summary>The stalls around a fault, from Stripe's answers and the targets' receipts.</summary>
    private sealed record Timeline(
        DateTimeOffset FaultAt,
        (TimeSpan Gap, DateTimeOffset From)? LongestAckGap,
        TimeSpan? FirstAckAfterFault,
        TimeSpan? FirstAckOfAttemptStartedAfterFault,
        (TimeSpan First, TimeSpan Last, int Count) Refusals,
        (TimeSpan Gap, DateTimeOffset From)? LongestReceiptGap,
        TimeSpan? FirstReceiptAfterFault,
        TimeSpan? LastReceipt)
    {
        public static Timeline Of(IReadOnlyList<StripeAttempt> history, IReadOnlyList<TargetSpec> targets, DateTimeOffset faultAt)
        {
            var acks = history.Where(a => a.Acknowledged).Select(a => a.End).Order().ToList();
            var refusals = history.Where(a => a.Answer == "503").Select(a => a.End - faultAt).Order().ToList();
            var receipts = targets.SelectMany(t => t.Ledger.Entries).Where(e => e.Accepted).Select(e => e.At).Order().ToList();
            return new Timeline(
                faultAt,
                LongestGap(acks),
                acks.Where(t => t > faultAt).Select(t => t - faultAt).Cast<TimeSpan?>().FirstOrDefault(),
                history.Where(a => a.Acknowledged && a.Start > faultAt).Select(a => a.End - faultAt).Order().Cast<TimeSpan?>().FirstOrDefault(),
                refusals.Count == 0 ? (TimeSpan.Zero, TimeSpan.Zero, 0) : (refusals[0], refusals[^1], refusals.Count),
                LongestGap(receipts),
                receipts.Where(t => t > faultAt).Select(t => t - faultAt).Cast<TimeSpan?>().FirstOrDefault(),
                receipts.Count == 0 ? null : receipts[^1] - faultAt);
        }

        public IEnumerable<string> Describe()
        {
            yield return "ingest stall: longest gap between consecutive 200s " + Gap(LongestAckGap) +
                $"; first 200 after the kill at +{Seconds(FirstAckAfterFault)}, first 200 to an attempt started after the kill at +{Seconds(FirstAckOfAttemptStartedAfterFault)}";
            yield return Refusals.Count == 0
                ? "503s: none"
                : $"503s: {Refusals.Count}, answered from kill{Refusals.First.TotalSeconds:+0.00;-0.00} s to kill{Refusals.Last.TotalSeconds:+0.00;-0.00} s";
            yield return "delivery stall: longest gap between consecutive target receipts " + Gap(LongestReceiptGap) +
                $"; first receipt after the kill at +{Seconds(FirstReceiptAfterFault)}, last receipt at +{Seconds(LastReceipt)}";
        }

        private string Gap((TimeSpan Gap, DateTimeOffset From)? gap) => gap is { } g
            ? string.Create(CultureInfo.InvariantCulture, $"{g.Gap.TotalSeconds:F2} s (from kill{(g.From - FaultAt).TotalSeconds:+0.00;-0.00} s)")
            : "(none)";

        private static string Seconds(TimeSpan? value) => value is { } v ? v.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture) + " s" : "(never)";

        private static (TimeSpan Gap, DateTimeOffset From)? LongestGap(List<DateTimeOffset> times) =>
            times.Count < 2 ? null : times.Zip(times.Skip(1), (a, b) => (Gap: b - a, From: a)).MaxBy(g => g.Gap);
    }
}
