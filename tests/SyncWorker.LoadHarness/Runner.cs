using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using RabbitMQ.Client;
using SyncWorker.Contracts;
using SyncWorker.FaultInjection.Tests;
using SyncWorker.Testing;

namespace SyncWorker.LoadHarness;

/// <summary>Runs the phases one after another against one private RabbitMQ node, a fresh virtual host each.</summary>
internal sealed class Runner(HarnessOptions options, RabbitMqNode node, FastTargets targets)
{
    public const string WebhookSecret = "whsec_load_harness_endpoint_secret_000001";

    // Pre-signed events of a closed-loop phase take at most this much memory (the window ends early if they run out).
    private const long ClosedLoopEventBytes = 768L * 1024 * 1024;
    private const int ClosedLoopMaxRate = 8000;

    private readonly Dictionary<int, EventTemplate> _templates = [];
    private int _tag;

    public static IReadOnlyList<PhaseSpec> Plan(HarnessOptions options)
    {
        const int kb = 1024;
        var plan = new List<PhaseSpec>
        {
            // References and SyncWorker at the same concurrency and event size.
            new("bare-8k", SubjectKind.Bare, 0, 8 * kb, null),
            new("tutorial-8k", SubjectKind.Tutorial, 0, 8 * kb, null),
            new("worker-1t-8k", SubjectKind.Worker, 1, 8 * kb, null),
        };
        if (!options.Quick)
        {
            plan.Add(new("receiver-only-8k", SubjectKind.ReceiverOnly, 0, 8 * kb, null));
        }

        foreach (var rate in options.Quick ? [500] : options.Rates)
        {
            plan.Add(new($"worker-1t-8k-{rate}rps", SubjectKind.Worker, 1, 8 * kb, rate));
        }

        if (!options.Quick)
        {
            plan.Add(new("tutorial-8k-500rps", SubjectKind.Tutorial, 0, 8 * kb, 500));
            foreach (var count in new[] { 4, 16 })
            {
                plan.Add(new($"worker-{count}t-8k", SubjectKind.Worker, count, 8 * kb, null));
                plan.Add(new($"worker-{count}t-8k-500rps", SubjectKind.Worker, count, 8 * kb, 500));
            }

            foreach (var size in new[] { 1, 64 })
            {
                plan.Add(new($"bare-{size}k", SubjectKind.Bare, 0, size * kb, null));
                plan.Add(new($"tutorial-{size}k", SubjectKind.Tutorial, 0, size * kb, null));
                plan.Add(new($"worker-1t-{size}k", SubjectKind.Worker, 1, size * kb, null));
                plan.Add(new($"worker-1t-{size}k-500rps", SubjectKind.Worker, 1, size * kb, 500));
            }
        }
        else
        {
            plan.Add(new("worker-4t-8k-500rps", SubjectKind.Worker, 4, 8 * kb, 500));
        }

        return options.Only is { Count: > 0 } only ? plan.Where(p => only.Any(o => p.Name.Contains(o, StringComparison.Ordinal))).ToList() : plan;
    }

    public async Task<PhaseResult> RunAsync(PhaseSpec spec)
    {
        var tag = ++_tag;
        var virtualHost = await node.CreateVirtualHostAsync($"lh-{tag:D3}-{spec.Name}");
        var amqp = node.AmqpUri(virtualHost);
        var logDirectory = Path.Combine(options.LogDirectory, spec.Name);
        Directory.CreateDirectory(logDirectory);
        WorkerProcess? worker = null;
        ChildProcess? tutorial = null;
        BarePublisher? bare = null;
        string? manifestPath = null;
        try
        {
            int? subjectPid;
            Uri? endpoint = null;
            var queues = new List<string>();
            switch (spec.Subject)
            {
                case SubjectKind.Worker or SubjectKind.ReceiverOnly:
                    manifestPath = WriteManifest(targets.BaseUrl);
                    worker = await WorkerProcess.StartAsync(spec.Name, WorkerSettings(spec, amqp, manifestPath), logDirectory);
                    await WaitReadyAsync(new Uri(worker.BaseAddress, "health/ready"), TimeSpan.FromSeconds(60));
                    subjectPid = worker.ProcessId;
                    endpoint = worker.WebhookUrl;
                    queues.Add(Topology.IntakeQueue);
                    queues.AddRange(Enumerable.Range(0, spec.Targets).Select(t => Topology.TargetQueue(TargetName(t))));
                    break;
                case SubjectKind.Tutorial:
                    await DeclareAsync(amqp, TutorialReceiver.Exchange, TutorialReceiver.Queue);
                    tutorial = await ChildProcess.StartTutorialAsync(spec.Name, amqp, WebhookSecret, logDirectory);
                    await WaitReadyAsync(new Uri(tutorial.BaseAddress, "health/ready"), TimeSpan.FromSeconds(60));
                    subjectPid = tutorial.ProcessId;
                    endpoint = tutorial.WebhookUrl;
                    queues.Add(TutorialReceiver.Queue);
                    break;
                default:
                    bare = await BarePublisher.StartAsync(amqp, options.BareChannels);
                    subjectPid = Environment.ProcessId;
                    queues.Add(BarePublisher.Queue);
                    break;
            }

            var template = Template(spec.SizeBytes);
            var seconds = options.Warmup + options.Measure;
            var count = spec.Rate is { } rate
                ? (int)Math.Ceiling(rate * seconds.TotalSeconds) + 16
                : (int)Math.Min(ClosedLoopEventBytes / spec.SizeBytes, ClosedLoopMaxRate * seconds.TotalSeconds);
            var events = template.Build(tag, count, WebhookSecret);
            var ledger = spec.Subject == SubjectKind.Worker ? targets.Begin(tag, spec.Targets, count) : null;
            var connections = spec.ClosedLoop ? options.Concurrency : options.OpenLoopConnections;
            using var client = LoadGenerator.NewHttpClient(connections);
            var send = bare is not null ? bare.Sender(events) : LoadGenerator.HttpSender(client, endpoint!, events);
            var brokerPid = ProcStats.FindBeam(node.NodeName);

            var window = Window.From(options.Warmup, options.Measure);
            await using var sampler = await QueueSampler.StartAsync(amqp, queues, window.Begin);
            await using var memory = new MemorySampler(subjectPid!.Value);
            var cpuStart = TakeAt(window.Start, subjectPid, brokerPid);
            var load = spec.Rate is { } offered
                ? LoadGenerator.OpenLoopAsync(send, count, offered, window)
                : LoadGenerator.ClosedLoopAsync(send, count, options.Concurrency, window);
            var cpuEnd = TakeAtOrWhenDone(window.End, load, subjectPid, brokerPid);
            var record = await load;
            var (cpuEndAt, cpuAfter) = await cpuEnd;
            var (cpuStartAt, cpuBefore) = await cpuStart;

            double? graceSeconds = null;
            if (ledger is not null)
            {
                graceSeconds = await WaitForDeliveriesAsync(record, ledger);
            }

            var hwm = ProcStats.StatusBytes(subjectPid.Value, "VmHWM");
            var result = Measure(spec, record, ledger, graceSeconds, cpuStartAt, cpuBefore, cpuEndAt, cpuAfter, sampler.Samples(), memory.MaxRss, hwm, window);
            Console.WriteLine(Summary(result));
            if (worker is not null && worker.Failures() is { Count: > 0 } failures)
            {
                Console.WriteLine($"   worker logged {failures.Count} warnings/errors, first: {failures[0]}");
            }

            return result;
        }
        finally
        {
            targets.End();
            if (worker is not null)
            {
                await worker.DisposeAsync();
            }

            if (tutorial is not null)
            {
                await tutorial.DisposeAsync();
            }

            if (bare is not null)
            {
                await bare.DisposeAsync();
            }

            if (manifestPath is not null)
            {
                File.Delete(manifestPath);
            }

            await node.CtlAsync(["delete_vhost", virtualHost], throwOnError: false);
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }
    }

    public static string TargetName(int index) => "t" + index.ToString(CultureInfo.InvariantCulture);

    private EventTemplate Template(int size)
    {
        if (!_templates.TryGetValue(size, out var template))
        {
            template = EventTemplate.Create(size);
            _templates[size] = template;
        }

        return template;
    }

    private Dictionary<string, string> WorkerSettings(PhaseSpec spec, Uri amqp, string manifestPath)
    {
        var settings = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["RabbitMq:Uri"] = amqp.ToString(),
            ["Stripe:WebhookSecrets:0"] = WebhookSecret,
            ["Manifest:Path"] = manifestPath,
            // WorkerProcess sets Logging:LogLevel:Default to Warning; appsettings.json keeps HttpClient at Information
            // (two lines per delivery), so that category is lowered too: console logging would otherwise cost CPU.
            ["Logging:LogLevel:System.Net.Http.HttpClient"] = "Warning",
            ["Worker:Role"] = spec.Subject == SubjectKind.ReceiverOnly ? "Receiver" : "All",
        };
        for (var t = 0; t < spec.Targets; t++)
        {
            var prefix = $"Fulfillment:Targets:{t}:";
            settings[prefix + "Name"] = TargetName(t);
            settings[prefix + "Url"] = targets.UrlOf(t).ToString();
            settings[prefix + "Mode"] = "live";
            settings[prefix + "Format"] = "event";
            settings[prefix + "SigningSecret"] = FastTargets.NewSigningSecret();
            settings[prefix + "Events:0"] = EventTemplate.EventType;
        }

        foreach (var (key, value) in options.WorkerSettings)
        {
            settings[key] = value;
        }

        return settings;
    }

    /// <summary>The repository's manifest with the targets' folder as the only connect-src, in a temporary file.</summary>
    private static string WriteManifest(Uri targetFolder)
    {
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "manifest", "stripe-app.json")))!;
        manifest["ui_extension"]!["content_security_policy"]!["connect-src"] = new JsonArray(targetFolder.ToString());
        var path = Path.Combine(Path.GetTempPath(), $"stripe-app-load-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, manifest.ToJsonString());
        return path;
    }

    private static async Task DeclareAsync(Uri amqp, string exchange, string queue)
    {
        await using var connection = await new ConnectionFactory { Uri = amqp }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
        await channel.QueueBindAsync(queue, exchange, "");
    }

    /// <summary>Waits until <paramref name="url"/> answers 200 (the worker's readiness: broker connected, consumers running).</summary>
    private static async Task WaitReadyAsync(Uri url, TimeSpan timeout)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            try
            {
                using var response = await client.GetAsync(url);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
            {
                // Not yet.
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"{url} did not answer 200 within {timeout.TotalSeconds} s.");
    }

    private static async Task<(long At, CpuSnapshot Cpu)> TakeAt(long at, int? subjectPid, int? brokerPid)
    {
        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), at);
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait);
        }

        return (Stopwatch.GetTimestamp(), CpuSnapshot.Take(subjectPid, brokerPid));
    }

    private static async Task<(long At, CpuSnapshot Cpu)> TakeAtOrWhenDone(long at, Task load, int? subjectPid, int? brokerPid)
    {
        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), at);
        if (wait > TimeSpan.Zero)
        {
            await Task.WhenAny(Task.Delay(wait), load);
        }

        return (Stopwatch.GetTimestamp(), CpuSnapshot.Take(subjectPid, brokerPid));
    }

    /// <summary>Waits until every accepted send of the window reached every target, at most the grace; returns the time waited.</summary>
    private async Task<double> WaitForDeliveriesAsync(LoadRecord record, ReceiptLedger ledger)
    {
        var wanted = record.InWindow().Where(i => record.Status[i] == 200).ToList();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < options.Grace)
        {
            wanted.RemoveAll(i => ledger.AllReceived(i) != 0);
            if (wanted.Count == 0)
            {
                break;
            }

            await Task.Delay(100);
        }

        return clock.Elapsed.TotalSeconds;
    }

    private PhaseResult Measure(
        PhaseSpec spec, LoadRecord record, ReceiptLedger? ledger, double? graceSeconds,
        long cpuStartAt, CpuSnapshot before, long cpuEndAt, CpuSnapshot after,
        IReadOnlyList<DepthSample> depths, long maxRss, long? hwm, Window window)
    {
        static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

        var inWindow = record.InWindow().ToList();
        var statuses = inWindow.GroupBy(i => record.Status[i].ToString(CultureInfo.InvariantCulture))
            .ToDictionary(g => g.Key, g => (long)g.Count(), StringComparer.Ordinal);
        var accepted = inWindow.Where(i => record.Status[i] == 200).ToList();
        var ingest = Percentiles.Of(inWindow.Select(i => Ms(record.Completed[i] - record.Intended[i])).ToList(), 0);
        var completedInWindow = Enumerable.Range(0, record.Used)
            .Count(i => record.Status[i] == 200 && record.Completed[i] >= record.WindowStart && record.Completed[i] < record.WindowEnd);
        var completedInCpuWindow = Enumerable.Range(0, record.Used)
            .Count(i => record.Status[i] == 200 && record.Completed[i] >= cpuStartAt && record.Completed[i] < cpuEndAt);

        Percentiles? endToEnd = null;
        double? deliveriesPerSecond = null;
        if (ledger is not null)
        {
            var samples = new List<double>();
            long missing = 0;
            foreach (var i in accepted)
            {
                for (var t = 0; t < ledger.Targets; t++)
                {
                    var at = ledger.ReceiptOf(t, i);
                    if (at == 0)
                    {
                        missing++;
                    }
                    else
                    {
                        samples.Add(Ms(at - record.Intended[i]));
                    }
                }
            }

            endToEnd = Percentiles.Of(samples, missing);
            deliveriesPerSecond = ledger.DeliveriesBetween(record.WindowStart, record.WindowEnd) / record.WindowSeconds;
        }

        double? lag = null;
        if (!spec.ClosedLoop)
        {
            lag = Percentiles.Of(inWindow.Select(i => Ms(record.Started[i] - record.Intended[i])).ToList(), 0)?.P99;
        }

        QueueDepths? queues = null;
        var startSeconds = Stopwatch.GetElapsedTime(window.Begin, record.WindowStart).TotalSeconds;
        var endSeconds = Stopwatch.GetElapsedTime(window.Begin, record.WindowEnd).TotalSeconds;
        var windowDepths = depths.Where(d => d.Seconds >= startSeconds && d.Seconds <= endSeconds).ToList();
        if (windowDepths.Count > 0)
        {
            queues = new QueueDepths(windowDepths[0].Total, windowDepths[^1].Total, windowDepths.Max(d => d.Total), Slope(windowDepths), windowDepths.Count);
        }

        var cpuSeconds = Stopwatch.GetElapsedTime(cpuStartAt, cpuEndAt).TotalSeconds;
        var subject = after.Subject - before.Subject;
        var harness = after.Harness - before.Harness;
        var broker = after.Broker - before.Broker;
        var busy = after.MachineBusy - before.MachineBusy;
        // For the bare publisher the subject is the harness process itself.
        var accounted = spec.Subject == SubjectKind.Bare ? harness + broker : subject + harness + broker;
        return new PhaseResult
        {
            Spec = spec,
            Concurrency = spec.ClosedLoop ? options.Concurrency : options.OpenLoopConnections,
            WindowSeconds = record.WindowSeconds,
            RanOut = record.RanOut,
            Sent = inWindow.Count,
            Accepted = accepted.Count,
            Statuses = statuses,
            IngestPerSecond = completedInWindow / record.WindowSeconds,
            Ingest = ingest,
            EndToEnd = endToEnd,
            GraceSeconds = graceSeconds,
            DeliveriesPerSecond = deliveriesPerSecond,
            GeneratorLagP99Ms = lag,
            CpuWindowSeconds = cpuSeconds,
            SubjectCpuSeconds = subject,
            BrokerCpuSeconds = broker,
            HarnessCpuSeconds = harness,
            MachineBusySeconds = busy,
            OtherCpuSeconds = Math.Max(0, busy - accounted),
            AcceptedInCpuWindow = completedInCpuWindow,
            PeakRssBytes = maxRss > 0 ? maxRss : null,
            VmHwmBytes = hwm,
            Queues = queues,
            DuplicateDeliveries = ledger?.Duplicates,
            Note = record.RanOut ? "pre-signed events ran out; window shortened" : null,
        };
    }

    /// <summary>Least-squares slope of the depth over time, messages per second.</summary>
    private static double Slope(List<DepthSample> samples)
    {
        if (samples.Count < 2)
        {
            return 0;
        }

        var meanX = samples.Average(s => s.Seconds);
        var meanY = samples.Average(s => (double)s.Total);
        var num = samples.Sum(s => (s.Seconds - meanX) * (s.Total - meanY));
        var den = samples.Sum(s => (s.Seconds - meanX) * (s.Seconds - meanX));
        return den == 0 ? 0 : num / den;
    }

    public static string Summary(PhaseResult r)
    {
        var inv = CultureInfo.InvariantCulture;
        var line = string.Format(inv, "{0,-26} ingest {1,7:F0}/s  p50 {2,6:F1} p99 {3,7:F1} p99.9 {4,7:F1} ms",
            r.Spec.Name, r.IngestPerSecond, r.Ingest?.P50, r.Ingest?.P99, r.Ingest?.P999);
        if (r.EndToEnd is { } e2e)
        {
            line += string.Format(inv, "  e2e p50 {0,6:F1} p99 {1,7:F1} ms  delivered {2,7:F0}/s", e2e.P50, e2e.P99, r.DeliveriesPerSecond);
        }

        line += string.Format(inv, "  cpu/1k {0:F2} s (broker {1:F2})  rss {2:F0} MB  other-cpu {3:F2} cores",
            r.SubjectCpuPer1000, r.BrokerCpuPer1000, (r.PeakRssBytes ?? 0) / 1048576.0, r.OtherCpuSeconds / Math.Max(0.001, r.CpuWindowSeconds));
        if (r.Queues is { } q)
        {
            line += string.Format(inv, "  queues {0}->{1} (max {2}, {3:F1}/s)", q.Start, q.End, q.Max, q.SlopePerSecond);
        }

        var refused = r.Statuses.Where(s => s.Key != "200").Select(s => $"{s.Key}x{s.Value}").ToList();
        if (refused.Count > 0)
        {
            line += "  NOT 200: " + string.Join(' ', refused);
        }

        return line;
    }
}
