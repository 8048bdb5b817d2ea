using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Store.Ledger;
using SyncWorker.Testing;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.FaultInjection.Tests;

/// <summary>One worker process of a scale-out scenario: its <c>Worker:Role</c> and settings of its own.</summary>
internal sealed record WorkerSpec(string Role, Dictionary<string, string>? Settings = null)
{
    public bool Receives => Role is "All" or "Receiver";

    public bool Forwards => Role is "All" or "Forwarder";
}

/// <summary>
/// The moving parts of one scenario: a fresh virtual host on the fixture's broker (one node or a cluster), ledger
/// targets, a manifest whose connect-src lists them, a Stripe API stand-in for order documents, the worker process (or
/// several, with roles) and the fake Stripe sender.
/// </summary>
internal sealed class Scenario : IAsyncDisposable
{
    public const string WebhookSecret = "whsec_fault_injection_endpoint_secret_0001";

    /// <summary>Every send of a scenario must be acknowledged within this (Stripe would keep trying for three days).</summary>
    public static readonly TimeSpan SendDeadline = TimeSpan.FromSeconds(60);

    private readonly List<TargetSpec> _targets = [];
    private readonly Dictionary<string, string> _settings = new(StringComparer.Ordinal);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<(WorkerSpec Spec, WorkerProcess Process)> _workers = [];
    private readonly Lock _workersLock = new();
    private readonly RabbitMqCluster? _cluster;
    private WireMockServer? _stripeApi;
    private string? _manifestPath;

    private Scenario(string name, RabbitMqNode node, RabbitMqCluster? cluster, string virtualHost, string logDirectory)
    {
        Name = name;
        Node = node;
        _cluster = cluster;
        VirtualHost = virtualHost;
        LogDirectory = logDirectory;
    }

    public string Name { get; }

    /// <summary>The broker node the workers' <c>RabbitMq:Uri</c> names (node 1 of a cluster).</summary>
    public RabbitMqNode Node { get; }

    public string VirtualHost { get; }

    public string LogDirectory { get; }

    public IReadOnlyList<TargetSpec> Targets => _targets;

    /// <summary>The worker of a one-process scenario; the first worker of a scale-out scenario.</summary>
    public WorkerProcess Worker { get; private set; } = null!;

    /// <summary>Every worker process, in the order of their specs.</summary>
    public IReadOnlyList<WorkerProcess> Workers
    {
        get
        {
            lock (_workersLock)
            {
                return _workers.Select(w => w.Process).ToList();
            }
        }
    }

    /// <summary>The workers that answer Stripe, in the order of the fake Stripe's receiver indexes.</summary>
    public IReadOnlyList<WorkerProcess> Receivers { get; private set; } = [];

    /// <summary>The workers that consume the queues.</summary>
    public IReadOnlyList<WorkerProcess> Forwarders { get; private set; } = [];

    public FakeStripe Stripe { get; private set; } = null!;

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Notes about the fault (timings), written to the report with the counts.</summary>
    public List<string> Notes { get; } = [];

    public static async Task<Scenario> CreateAsync(string name, RabbitMqNode node)
    {
        var virtualHost = await node.CreateVirtualHostAsync("fi-" + name + "-" + Guid.NewGuid().ToString("N")[..6]);
        var logDirectory = LogDirectoryFor(name);
        return new Scenario(name, node, null, virtualHost, logDirectory);
    }

    /// <summary>A scenario on a cluster: the workers' <c>RabbitMq:Uri</c> names node 1; broker commands go to a running node.</summary>
    public static async Task<Scenario> CreateAsync(string name, RabbitMqCluster cluster)
    {
        var virtualHost = await cluster.CreateVirtualHostAsync("fi-" + name + "-" + Guid.NewGuid().ToString("N")[..6]);
        var logDirectory = LogDirectoryFor(name);
        return new Scenario(name, cluster.Nodes[0], cluster, virtualHost, logDirectory);
    }

    /// <summary>
    /// <c>fault-logs/{name}-{UTC time}</c> in the test work directory: a run never overwrites the logs of an earlier one,
    /// so the evidence of an intermittent failure survives the next run.
    /// </summary>
    private static string LogDirectoryFor(string name) =>
        Path.Combine(TestContext.CurrentContext.WorkDirectory, "fault-logs", $"{name}-{DateTime.UtcNow:yyyyMMdd'T'HHmmss}");

    /// <summary><c>rabbitmqctl</c> against the scenario's broker (a running node of a cluster).</summary>
    public Task<string> CtlAsync(IReadOnlyList<string> arguments) =>
        _cluster is not null ? _cluster.CtlAsync(arguments) : Node.CtlAsync(arguments);

    /// <summary>
    /// Adds a target. <paramref name="settings"/> are extra keys under <c>Fulfillment:Targets:N:</c> (for example
    /// <c>Retry:MaxRetryAttempts</c>).
    /// </summary>
    public async Task<TargetSpec> AddTargetAsync(string name, string format, string[] events, Dictionary<string, string>? settings = null)
    {
        var index = _targets.Count.ToString(CultureInfo.InvariantCulture);
        var ledger = await LedgerTarget.StartAsync(name);
        var target = new TargetSpec(ledger, format, events);
        _targets.Add(target);
        var prefix = $"Fulfillment:Targets:{index}:";
        _settings[prefix + "Name"] = name;
        _settings[prefix + "Url"] = ledger.Url.ToString();
        _settings[prefix + "Mode"] = "live";
        _settings[prefix + "Format"] = format;
        _settings[prefix + "SigningSecret"] = ledger.SigningSecret;
        for (var i = 0; i < events.Length; i++)
        {
            _settings[prefix + "Events:" + i.ToString(CultureInfo.InvariantCulture)] = events[i];
        }

        // Short in-process retries: faults last seconds here, not hours.
        _settings[prefix + "Retry:BaseDelaySeconds"] = "0.05";
        _settings[prefix + "Retry:MaxDelaySeconds"] = "0.5";
        foreach (var (key, value) in settings ?? [])
        {
            _settings[prefix + key] = value;
        }

        if (format == "order" && _stripeApi is null)
        {
            _stripeApi = WireMockServer.Start();
            _stripeApi.Given(Request.Create().WithPath("/v1/checkout/sessions/*/line_items").UsingGet())
                .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json")
                    .WithBody(StripeEvents.Text("checkout.session.line_items.response.json")));
            _settings["Stripe:ApiKey"] = "sk_live_fault_injection_0000";
            _settings["Stripe:ApiBase"] = _stripeApi.Url!;
        }

        return target;
    }

    /// <summary>Writes the manifest, starts the worker with the targets and <paramref name="settings"/>, and the sender.</summary>
    public async Task StartWorkerAsync(Dictionary<string, string>? settings = null)
    {
        var all = CommonSettings(settings);
        Worker = await WorkerProcess.StartAsync(Name, all, LogDirectory);
        lock (_workersLock)
        {
            _workers.Add((new WorkerSpec("All"), Worker));
        }

        Receivers = [Worker];
        Forwarders = [Worker];
        Stripe = new FakeStripe(Worker.WebhookUrl, WebhookSecret);
    }

    /// <summary>
    /// Writes the manifest and starts one worker process per spec, all at once, each with the targets, the shared
    /// <paramref name="settings"/>, its <c>Worker:Role</c> and its own settings; then the sender, which spreads its sends
    /// over the receivers. Worker logs are named <c>{scenario}-{role}{n}-run1.log</c>.
    /// </summary>
    public async Task StartWorkersAsync(IReadOnlyList<WorkerSpec> specs, Dictionary<string, string>? settings = null)
    {
        var common = CommonSettings(settings);
        var perRole = new Dictionary<string, int>(StringComparer.Ordinal);
        var starts = new List<Task>();
        var slots = new (WorkerSpec Spec, WorkerProcess? Process)[specs.Count];
        for (var i = 0; i < specs.Count; i++)
        {
            var spec = specs[i];
            var number = perRole[spec.Role] = perRole.GetValueOrDefault(spec.Role) + 1;
            var name = $"{Name}-{spec.Role.ToLowerInvariant()}{number.ToString(CultureInfo.InvariantCulture)}";
            var all = new Dictionary<string, string>(common, StringComparer.Ordinal) { ["Worker:Role"] = spec.Role };
            foreach (var (key, value) in spec.Settings ?? [])
            {
                all[key] = value;
            }

            var index = i;
            starts.Add(Task.Run(async () =>
            {
                var process = await WorkerProcess.StartAsync(name, all, LogDirectory);
                slots[index] = (spec, process);
                lock (_workersLock)
                {
                    _workers.Add((spec, process));
                }
            }));
        }

        // Every started process is in _workers, so disposal ends it even when another failed to start.
        await Task.WhenAll(starts);
        Worker = slots[0].Process!;
        Receivers = slots.Where(s => s.Spec.Receives).Select(s => s.Process!).ToList();
        Forwarders = slots.Where(s => s.Spec.Forwards).Select(s => s.Process!).ToList();
        Stripe = new FakeStripe(Receivers.Select(r => r.WebhookUrl).ToList(), WebhookSecret);
    }

    private Dictionary<string, string> CommonSettings(Dictionary<string, string>? settings)
    {
        _manifestPath = WriteManifest(_targets.Select(t => t.Ledger.ConnectSrcFolder).Distinct());
        var all = new Dictionary<string, string>(_settings, StringComparer.Ordinal)
        {
            ["RabbitMq:Uri"] = Node.AmqpUri(VirtualHost).ToString(),
            ["Stripe:WebhookSecrets:0"] = WebhookSecret,
            ["Manifest:Path"] = _manifestPath,
            ["Webhooks:PublishTimeoutSeconds"] = "3",
            ["Webhooks:RetryAfterSeconds"] = "1",
            // A worker killed mid-delivery holds its ledger rows until the lease ends; the shortest lease keeps a
            // scenario's redeliveries inside its deadlines.
            ["Store:LeaseSeconds"] = "30",
        };
        foreach (var (key, value) in settings ?? [])
        {
            all[key] = value;
        }

        return all;
    }

    /// <summary>What every worker logged as failures (fail:, crit:, faulted), each line naming its log file.</summary>
    public IReadOnlyList<string> WorkerFailures() => Workers.SelectMany(w => w.Failures()).ToList();

    /// <summary>The last lines of every worker's current log, for failure messages.</summary>
    public string WorkerLogTails(int lines = 40)
    {
        var workers = Workers;
        return string.Join('\n', workers.Select(w => w.LogTail(workers.Count > 1 ? Math.Max(10, lines / workers.Count) : lines)));
    }

    /// <summary>
    /// Waits until every target has accepted everything it should get for the acknowledged sends, then until the
    /// broker holds nothing more for them (late duplicates included), each with a deadline.
    /// </summary>
    public async Task<bool> WaitForDeliveriesAsync(IReadOnlyList<SendRecord> sends, TimeSpan timeout)
    {
        var acknowledged = sends.Where(s => s.Acknowledged).Select(s => s.Event).ToList();
        var complete = await Eventually.TrueAsync(
            () => _targets.All(t =>
            {
                var accepted = t.Ledger.AcceptedKeys();
                return acknowledged.Select(t.ExpectedKey).OfType<string>().All(accepted.Contains);
            }),
            timeout);
        await Eventually.TrueAsync(async () => (await QueueDepthsAsync()).Where(q => !q.Key.EndsWith("_error", StringComparison.Ordinal)).All(q => q.Value == 0),
            TimeSpan.FromSeconds(15));
        return complete;
    }

    /// <summary>Messages (ready and unacknowledged) of every queue in the scenario's virtual host.</summary>
    public async Task<Dictionary<string, long>> QueueDepthsAsync()
    {
        var output = await CtlAsync(["list_queues", "-p", VirtualHost, "name", "messages", "--no-table-headers", "--quiet"]);
        var depths = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split('\t', ' ');
            if (parts.Length >= 2 && long.TryParse(parts[^1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var count))
            {
                depths[parts[0]] = count;
            }
        }

        return depths;
    }

    /// <summary>Messages in a target's dead-letter queue (0 when it does not exist yet).</summary>
    public async Task<long> DeadLetterCountAsync(string target) =>
        (await QueueDepthsAsync()).GetValueOrDefault(Topology.TargetErrorQueue(target));

    /// <summary>Checks every target's ledger, writes the counts to the test output and to fault-report.txt.</summary>
    public async Task<IReadOnlyList<LedgerCheck>> ReportAsync(IReadOnlyList<SendRecord> sends)
    {
        var kills = Workers.SelectMany(w => w.KillWindows).OrderBy(k => k.Killed).ToList();
        var checks = await ConfirmUnrecordedAsync(_targets.Select(t => LedgerCheck.Of(Name, t, sends, kills)).ToList());
        var depths = await QueueDepthsAsync();
        var lines = new List<string>
        {
            $"== {Name} ({DateTimeOffset.UtcNow:O}), {Elapsed.TotalSeconds:F1} s, Stripe attempts {Stripe.AttemptCount}, unacknowledged sends {sends.Count(s => !s.Acknowledged)}",
        };
        lines.AddRange(Notes.Select(note => "   " + note));
        if (kills.Count > 0)
        {
            lines.Add("   worker processes killed (SIGKILL) at " + string.Join(", ", kills.Select(k => k.Killed.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture) +
                (k.Relaunched is { } again ? again.ToString("' (relaunched 'HH:mm:ss.fff')'", CultureInfo.InvariantCulture) : ""))));
        }

        lines.Add("   " + LedgerCheck.Header + " | dead letters");
        lines.AddRange(checks.Select(c => "   " + c.Row() + " | " + depths.GetValueOrDefault(Topology.TargetErrorQueue(c.Target)).ToString(CultureInfo.InvariantCulture)));
        lines.AddRange(checks.SelectMany(c => c.RepeatsAfterAnswer.Take(10).Select(r => $"   {c.Target}: POST after a 2xx: {r.Describe()}")));
        lines.Add("   queues: " + string.Join(", ", depths.Select(d => $"{d.Key}={d.Value}")));
        var failures = WorkerFailures();
        lines.Add($"   worker logged {failures.Count} failures (fail:, crit:, faulted)" + (failures.Count > 0 ? ", kinds:" : ""));
        lines.AddRange(failures.Select(Abbreviate).GroupBy(f => f, StringComparer.Ordinal).Take(6).Select(g => $"     {g.Count()} x {g.Key}"));
        lines.Add((Workers.Count > 1 ? $"   {Workers.Count} worker processes, logs: " : "   worker logs: ") + LogDirectory);
        foreach (var line in lines)
        {
            await TestContext.Out.WriteLineAsync(line);
        }

        await File.AppendAllLinesAsync(Path.Combine(TestContext.CurrentContext.WorkDirectory, "fault-report.txt"), lines);
        return checks;
    }

    /// <summary>
    /// Withdraws the allowance of every repeat after a 2xx (<see cref="RepeatAfterAnswer"/>) whose delivery the workers'
    /// own ledger had recorded as delivered before the repeat arrived: a forwarder that died after recording the 2xx
    /// excuses nothing. Reads the store of every forwarder (one shared PostgreSQL database, or each one's SQLite file).
    /// </summary>
    public async Task<IReadOnlyList<LedgerCheck>> ConfirmUnrecordedAsync(IReadOnlyList<LedgerCheck> checks)
    {
        if (checks.All(c => c.Allowed.Count == 0))
        {
            return checks;
        }

        var ledgers = Forwarders.Select(f => f.StoreSettings()).DistinctBy(s => s.Description)
            .Select(settings => new SqlDeliveryLedger(settings, TimeProvider.System)).ToList();
        try
        {
            var confirmed = new List<LedgerCheck>();
            foreach (var check in checks)
            {
                var target = _targets.Single(t => t.Name == check.Target);
                var repeats = new List<RepeatAfterAnswer>();
                foreach (var repeat in check.RepeatsAfterAnswer)
                {
                    if (repeat.Allowed is null)
                    {
                        repeats.Add(repeat);
                        continue;
                    }

                    var key = target.Format == "order"
                        ? DeliveryKey.ForOrder(target.Name, repeat.Key, OrderEventClassifier.PaidAction)
                        : DeliveryKey.ForEvent(target.Name, repeat.Key);
                    var attempts = new List<DeliveryAttemptRecord>();
                    foreach (var ledger in ledgers)
                    {
                        attempts.AddRange(await ledger.AttemptsAsync(key.Value, CancellationToken.None));
                    }

                    var recorded = attempts.FirstOrDefault(a => a.Outcome == "delivered" && a.StartedAt + a.Duration < repeat.Repeat.ReceivedAt);
                    repeats.Add(recorded is null ? repeat : repeat.Disallow(
                        $"not allowed: the ledger had recorded it delivered by {recorded.Owner} at {recorded.StartedAt + recorded.Duration:HH:mm:ss.fff}"));
                }

                confirmed.Add(check with { RepeatsAfterAnswer = repeats });
            }

            return confirmed;
        }
        finally
        {
            foreach (var ledger in ledgers)
            {
                ledger.Dispose();
            }
        }
    }

    /// <summary>
    /// The ledger assertions every scenario shares: every acknowledged send was acknowledged in time, nothing lost,
    /// nothing unexpected, every repeat with the same webhook-id and Idempotency-Key, no POST after a 2xx for the same
    /// delivery (but the one kind the issue allows, <see cref="RepeatAfterAnswer"/>), valid signatures, no dead letters.
    /// </summary>
    /// <param name="sends">What the fake Stripe sent.</param>
    /// <param name="checks">The ledger checks of every target.</param>
    /// <param name="everySendAcknowledged">
    /// Also require that every send was acknowledged before its deadline (liveness). Only the cluster failover scenario
    /// turns it off, for a known open problem; everything else here is safety and always checked.
    /// </param>
    public async Task AssertLedgerAsync(IReadOnlyList<SendRecord> sends, IReadOnlyList<LedgerCheck> checks, bool everySendAcknowledged = true)
    {
        var refusals = string.Join(", ", sends.Where(s => !s.Acknowledged).Take(5).Select(s => $"{s.Event.Id}: {s.LastRefusal}"));
        var depths = await QueueDepthsAsync();
        Assert.Multiple(() =>
        {
            if (everySendAcknowledged)
            {
                Assert.That(sends.Count(s => s.Acknowledged), Is.EqualTo(sends.Count),
                    $"every send is acknowledged within {SendDeadline.TotalSeconds} s once the fault is over; not acknowledged: {refusals}\n{WorkerLogTails()}");
            }

            foreach (var check in checks)
            {
                Assert.That(check.Lost, Is.Zero, $"acknowledged but never delivered to {check.Target}: {check.Details()}\n{WorkerLogTails()}");
                Assert.That(check.Delivered, Is.EqualTo(check.Expected), check.Details());
                Assert.That(check.Unexpected, Is.Zero, $"{check.Target} accepted something it should not get: {check.Details()}");
                Assert.That(check.UnstableIds, Is.Empty, $"every repeat to {check.Target} carries the same webhook-id and Idempotency-Key: {check.Details()}");
                Assert.That(check.SharedIds, Is.Empty, $"two different deliveries to {check.Target} share a webhook-id (the target would drop one): {check.Details()}");
                Assert.That(check.Resent.Select(r => r.Describe()), Is.Empty,
                    $"no POST to {check.Target} after it answered 2xx for the same delivery ({check.Allowed.Count} allowed: the 2xx went to a killed worker that never recorded it): {check.Details()}");
                Assert.That(check.BadSignatures, Is.Zero, $"every request to {check.Target} is signed with its secret: {check.Details()}");
                Assert.That(depths.GetValueOrDefault(Topology.TargetErrorQueue(check.Target)), Is.Zero, $"nothing for {check.Target} is left dead-lettered");
            }

            Assert.That(depths.Where(q => q.Key.EndsWith(Topology.ErrorQueueSuffix, StringComparison.Ordinal) && q.Value > 0), Is.Empty,
                "no dead letters anywhere (intake or targets)");
            foreach (var target in _targets)
            {
                Assert.That(target.Ledger.ReceivedUnrecognisedBody, Is.False, $"{target.Name} got a body that is neither an event nor an order document");
            }
        });
    }

    public async ValueTask DisposeAsync()
    {
        Stripe?.Dispose();
        await Task.WhenAll(Workers.Select(w => w.DisposeAsync().AsTask()));

        foreach (var target in _targets)
        {
            await target.Ledger.DisposeAsync();
        }

        _stripeApi?.Stop();
        _stripeApi?.Dispose();
        if (_manifestPath is not null)
        {
            File.Delete(_manifestPath);
        }
    }

    /// <summary>A failure line without its message id (delivery and message ids differ on every line), cut short.</summary>
    private static string Abbreviate(string failure)
    {
        var words = failure.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Where(word => !(word.Length == 36 && Guid.TryParse(word, out _)) && !word.StartsWith("rabbitmq://", StringComparison.Ordinal));
        var text = string.Join(' ', words);
        return text.Length > 140 ? text[..140] + "…" : text;
    }

    /// <summary>The repository's manifest with the ledger targets' folders as connect-src, in a temporary file.</summary>
    private static string WriteManifest(IEnumerable<string> connectSrc)
    {
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "manifest", "stripe-app.json")))!;
        var list = new JsonArray();
        foreach (var url in connectSrc)
        {
            list.Add(url);
        }

        manifest["ui_extension"]!["content_security_policy"]!["connect-src"] = list;
        var path = Path.Combine(Path.GetTempPath(), $"stripe-app-fault-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, manifest.ToJsonString());
        return path;
    }
}
