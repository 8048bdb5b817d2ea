using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using RabbitMQ.Client;
using SyncWorker.Contracts;
using SyncWorker.FaultInjection.Tests;
using SyncWorker.Testing;

namespace SyncWorker.LoadHarness;

/// <summary>Runs the phases one after another against one private RabbitMQ node, a fresh virtual host each.</summary>
internal sealed class Runner(HarnessOptions options, RabbitMqNode node, FastTargets targets, PostgresServer? postgres)
{
    public const string WebhookSecret = "whsec_load_harness_endpoint_secret_000001";

    // Pre-signed events of a closed-loop phase take at most this much memory (the window ends early if they run out).
    private const long ClosedLoopEventBytes = 1024L * 1024 * 1024;
    private const int ClosedLoopMaxRate = 8000;

    // Harness events of warm-up rounds carry this tag, which no phase uses: targets ignore them.
    private const int WarmupTag = 999;

    // A round in which the subject and the harness JIT-compile fewer methods per second than this counts as settled.
    private const double QuietJitMethodsPerSecond = 20;

    private readonly Dictionary<int, EventTemplate> _templates = [];
    private int _tag;

    /// <summary>
    /// The phases, grouped by the process they drive: one worker per target count (and one receive-only), one tutorial
    /// receiver, the bare publisher in this process. Each group warms its process up once; open-loop phases come before
    /// closed-loop ones, and queues are purged between phases, so no phase inherits another's backlog.
    /// </summary>
    public static IReadOnlyList<SubjectGroup> Plan(HarnessOptions options)
    {
        const int kb = 1024;
        PhaseSpec Closed(string name, SubjectKind kind, int targets, int size) => new(name, kind, targets, size * kb, null);
        PhaseSpec Open(string name, SubjectKind kind, int targets, int size, int rate) => new(name, kind, targets, size * kb, rate);
        List<SubjectGroup> groups;
        if (options.Quick)
        {
            groups =
            [
                new("bare", SubjectKind.Bare, 0, [Closed("bare-8k", SubjectKind.Bare, 0, 8)]),
                new("tutorial", SubjectKind.Tutorial, 0, [Closed("tutorial-8k", SubjectKind.Tutorial, 0, 8)]),
                new("worker-1t", SubjectKind.Worker, 1, [Open("worker-1t-8k-500rps", SubjectKind.Worker, 1, 8, 500), Closed("worker-1t-8k", SubjectKind.Worker, 1, 8)]),
                new("worker-4t", SubjectKind.Worker, 4, [Open("worker-4t-8k-500rps", SubjectKind.Worker, 4, 8, 500)]),
            ];
        }
        else
        {
            var oneTarget = new List<PhaseSpec>();
            oneTarget.AddRange(options.Rates.Select(rate => Open($"worker-1t-8k-{rate}rps", SubjectKind.Worker, 1, 8, rate)));
            oneTarget.Add(Open("worker-1t-1k-500rps", SubjectKind.Worker, 1, 1, 500));
            oneTarget.Add(Open("worker-1t-64k-500rps", SubjectKind.Worker, 1, 64, 500));
            oneTarget.AddRange(new[] { 1, 8, 64 }.Select(size => Closed($"worker-1t-{size}k", SubjectKind.Worker, 1, size)));
            groups =
            [
                new("bare", SubjectKind.Bare, 0, [.. new[] { 1, 8, 64 }.Select(size => Closed($"bare-{size}k", SubjectKind.Bare, 0, size))]),
                new("tutorial", SubjectKind.Tutorial, 0,
                [
                    Open("tutorial-8k-500rps", SubjectKind.Tutorial, 0, 8, 500),
                    .. new[] { 1, 8, 64 }.Select(size => Closed($"tutorial-{size}k", SubjectKind.Tutorial, 0, size)),
                ]),
                new("worker-1t", SubjectKind.Worker, 1, oneTarget),
                new("receiver-only", SubjectKind.ReceiverOnly, 0, [Closed("receiver-only-8k", SubjectKind.ReceiverOnly, 0, 8)]),
                new("worker-4t", SubjectKind.Worker, 4, [Open("worker-4t-8k-500rps", SubjectKind.Worker, 4, 8, 500), Closed("worker-4t-8k", SubjectKind.Worker, 4, 8)]),
                new("worker-16t", SubjectKind.Worker, 16, [Open("worker-16t-8k-125rps", SubjectKind.Worker, 16, 8, 125), Open("worker-16t-8k-500rps", SubjectKind.Worker, 16, 8, 500), Closed("worker-16t-8k", SubjectKind.Worker, 16, 8)]),
            ];
        }

        if (options.Only is { Count: > 0 } only)
        {
            bool Wanted(PhaseSpec p) => only.Any(o => o.EndsWith('*') ? p.Name.StartsWith(o[..^1], StringComparison.Ordinal) : p.Name == o);
            groups = groups.Select(g => g with { Phases = g.Phases.Where(Wanted).ToList() }).Where(g => g.Phases.Count > 0).ToList();
        }

        // A worker group once per ledger store, back to back, each in a process of its own.
        return groups.SelectMany(g => g.Kind != SubjectKind.Worker
            ? [g]
            : options.Stores.Select(store => g with
            {
                Name = g.Name + LedgerStore.Suffix(store),
                Store = store,
                Phases = g.Phases.Select(p => p with { Name = p.Name + LedgerStore.Suffix(store), Store = store }).ToList(),
            })).ToList();
    }

    /// <summary>Starts the group's subject, warms it up, runs its phases and stops it.</summary>
    public async Task<List<PhaseResult>> RunAsync(SubjectGroup group)
    {
        var virtualHost = await node.CreateVirtualHostAsync($"lh-{group.Name}-{Guid.NewGuid().ToString("N")[..6]}");
        var amqp = node.AmqpUri(virtualHost);
        var logDirectory = Path.Combine(options.LogDirectory, group.Name);
        Directory.CreateDirectory(logDirectory);
        WorkerProcess? worker = null;
        ChildProcess? tutorial = null;
        BarePublisher? bare = null;
        string? manifestPath = null;
        var results = new List<PhaseResult>();
        try
        {
            var subject = new Subject { Group = group, Amqp = amqp };
            switch (group.Kind)
            {
                case SubjectKind.Worker or SubjectKind.ReceiverOnly:
                    manifestPath = WriteManifest(targets.BaseUrl);
                    var settings = WorkerSettings(group, amqp, manifestPath);
                    await AddLedgerSettingsAsync(group, settings);
                    worker = await WorkerProcess.StartAsync(group.Name, settings, logDirectory);
                    await WaitReadyAsync(new Uri(worker.BaseAddress, "health/ready"), TimeSpan.FromSeconds(60));
                    subject.Pid = worker.ProcessId;
                    subject.Endpoint = worker.WebhookUrl;
                    subject.Probe = MetricsProbe(new Uri(worker.BaseAddress, "metrics"));
                    subject.Queues.Add(Topology.IntakeQueue);
                    subject.Queues.AddRange(Enumerable.Range(0, group.Targets).Select(t => Topology.TargetQueue(TargetName(t))));
                    break;
                case SubjectKind.Tutorial:
                    await DeclareAsync(amqp, TutorialReceiver.Exchange, TutorialReceiver.Queue);
                    tutorial = await ChildProcess.StartTutorialAsync(group.Name, amqp, WebhookSecret, logDirectory);
                    await WaitReadyAsync(new Uri(tutorial.BaseAddress, "health/ready"), TimeSpan.FromSeconds(60));
                    subject.Pid = tutorial.ProcessId;
                    subject.Endpoint = tutorial.WebhookUrl;
                    subject.Probe = TextProbe(new Uri(tutorial.BaseAddress, "runtime-counters"));
                    subject.Queues.Add(TutorialReceiver.Queue);
                    break;
                default:
                    bare = await BarePublisher.StartAsync(amqp, options.BareChannels);
                    subject.Pid = Environment.ProcessId;
                    subject.Bare = bare;
                    subject.Probe = () => Task.FromResult<RuntimeCounters?>(RuntimeCounters.OfThisProcess());
                    subject.Queues.Add(BarePublisher.Queue);
                    break;
            }

            Console.WriteLine($"== {group.Name}: pid {subject.Pid}{(subject.Endpoint is null ? "" : " at " + subject.Endpoint)}, virtual host {virtualHost}");
            subject.Warmup = await WarmUpAsync(subject);
            foreach (var phase in group.Phases)
            {
                await PurgeAsync(amqp, subject.Queues);
                var result = await RunPhaseAsync(subject, phase);
                results.Add(result);
                Console.WriteLine(Summary(result));
                // The phase's pre-signed events are garbage now; give their memory back before the next phase.
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            }

            if (worker is not null && worker.Failures() is { Count: > 0 } failures)
            {
                Console.WriteLine($"   worker logged {failures.Count} warnings/errors, first: {failures[0]}");
            }

            return results;
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
        }
    }

    /// <summary>
    /// Drives the subject (closed loop, 8 KB events, events of their own) in 2-second rounds until both it and the harness
    /// compile almost nothing more (fewer than <see cref="QuietJitMethodsPerSecond"/> methods per second over a round):
    /// tiered compilation of MassTransit, Kestrel and friends takes tens of seconds of CPU on this machine, and a window
    /// measured during it measures the JIT, not the steady state a long-running worker lives in. At least --warmup,
    /// at most --max-warmup.
    /// </summary>
    private async Task<WarmupInfo> WarmUpAsync(Subject subject)
    {
        var events = Template(8 * 1024).Build(WarmupTag, 2 * ClosedLoopMaxRate * 2, WebhookSecret);
        using var client = LoadGenerator.NewHttpClient(options.Concurrency);
        var send = subject.Bare is { } bare ? bare.Sender(events) : LoadGenerator.HttpSender(client, subject.Endpoint!, events);
        var clock = Stopwatch.StartNew();
        var subjectJit = (await subject.Probe())?.JitMethods;
        var harnessJit = System.Runtime.JitInfo.GetCompiledMethodCount();
        double subjectRate = double.NaN, harnessRate = double.NaN;
        var sent = 0L;
        while (true)
        {
            var round = Stopwatch.StartNew();
            var record = await LoadGenerator.ClosedLoopAsync(send, events.Count, options.Concurrency, Window.From(TimeSpan.Zero, TimeSpan.FromSeconds(2)));
            sent += record.Used;
            var seconds = round.Elapsed.TotalSeconds;
            var subjectNow = (await subject.Probe())?.JitMethods;
            var harnessNow = System.Runtime.JitInfo.GetCompiledMethodCount();
            subjectRate = subjectNow is { } n && subjectJit is { } p ? (n - p) / seconds : double.NaN;
            harnessRate = (harnessNow - harnessJit) / seconds;
            (subjectJit, harnessJit) = (subjectNow, harnessNow);
            var quiet = (double.IsNaN(subjectRate) || subjectRate < QuietJitMethodsPerSecond) && harnessRate < QuietJitMethodsPerSecond;
            if ((quiet && clock.Elapsed >= options.Warmup) || clock.Elapsed >= options.MaxWarmup)
            {
                var info = new WarmupInfo(clock.Elapsed.TotalSeconds, sent, subjectRate, harnessRate, quiet);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"   warmed up in {info.Seconds:F0} s ({sent} events); JIT now {subjectRate:F0} methods/s in the subject, {harnessRate:F0} in the harness{(quiet ? "" : " (NOT settled)")}"));
                return info;
            }
        }
    }

    private async Task<PhaseResult> RunPhaseAsync(Subject subject, PhaseSpec spec)
    {
        var tag = ++_tag;
        var template = Template(spec.SizeBytes);
        var seconds = options.LeadIn + options.Measure;
        var count = spec.Rate is { } rate
            ? (int)Math.Ceiling(rate * seconds.TotalSeconds) + 16
            : (int)Math.Min(ClosedLoopEventBytes / spec.SizeBytes, ClosedLoopMaxRate * seconds.TotalSeconds);
        var events = template.Build(tag, count, WebhookSecret);
        var ledger = spec.Subject == SubjectKind.Worker ? targets.Begin(tag, spec.Targets, count) : null;
        var connections = spec.ClosedLoop ? options.Concurrency : options.OpenLoopConnections;
        using var client = LoadGenerator.NewHttpClient(connections);
        var send = subject.Bare is { } bare ? bare.Sender(events) : LoadGenerator.HttpSender(client, subject.Endpoint!, events);
        var brokerPid = ProcStats.FindBeam(node.NodeName);
        var pid = subject.Pid;

        var window = Window.From(options.LeadIn, options.Measure);
        await using var sampler = await QueueSampler.StartAsync(subject.Amqp, subject.Queues, window.Begin);
        await using var memory = new MemorySampler(pid);
        var countersBefore = TakeCountersAt(window.Start, subject);
        var databasePid = subject.Group.Store == LedgerStore.Postgres ? postgres?.ServerProcessId : null;
        var cpuStart = TakeAt(window.Start, pid, brokerPid, databasePid);
        var load = spec.Rate is { } offered
            ? LoadGenerator.OpenLoopAsync(send, count, offered, window)
            : LoadGenerator.ClosedLoopAsync(send, count, options.Concurrency, window);
        var cpuEnd = TakeAtOrWhenDone(window.End, load, pid, brokerPid, databasePid);
        var record = await load;
        var (cpuEndAt, cpuAfter) = await cpuEnd;
        var (cpuStartAt, cpuBefore) = await cpuStart;
        var countersAfter = await subject.Probe();
        var countersStart = await countersBefore;

        double? graceSeconds = null;
        if (ledger is not null)
        {
            graceSeconds = await WaitForDeliveriesAsync(record, ledger);
        }

        targets.End();
        var hwm = ProcStats.StatusBytes(pid, "VmHWM");
        var result = Measure(spec, record, ledger, graceSeconds, cpuStartAt, cpuBefore, cpuEndAt, cpuAfter, sampler.Samples(), memory.MaxRss, hwm, window);
        double? allocated = countersAfter is { } c && countersStart is { } d && c.CountsAllocationsSince(d) ? c.AllocatedBytes - d.AllocatedBytes : null;
        return result with
        {
            Warmup = subject.Warmup,
            JitMethodsInWindow = countersAfter is { } a && countersStart is { } b ? a.JitMethods - b.JitMethods : null,
            AllocatedBytesPerEvent = result.AcceptedInCpuWindow > 0 ? allocated / result.AcceptedInCpuWindow : null,
            AllocatedBytesPerDelivery = result.DeliveriesInCpuWindow > 0 ? allocated / result.DeliveriesInCpuWindow : null,
        };
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

    private Dictionary<string, string> WorkerSettings(SubjectGroup spec, Uri amqp, string manifestPath)
    {
        var settings = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["RabbitMq:Uri"] = amqp.ToString(),
            ["Stripe:WebhookSecrets:0"] = WebhookSecret,
            ["Manifest:Path"] = manifestPath,
            ["Store:DataDirectory"] = Path.Combine(options.LogDirectory, spec.Name, "store"),
            // WorkerProcess sets Logging:LogLevel:Default to Warning; appsettings.json keeps HttpClient at Information
            // (two lines per delivery), so that category is lowered too: console logging would otherwise cost CPU.
            ["Logging:LogLevel:System.Net.Http.HttpClient"] = "Warning",
            ["Worker:Role"] = spec.Kind == SubjectKind.ReceiverOnly ? "Receiver" : "All",
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
            if (options.TargetConcurrency is { } concurrency)
            {
                settings[prefix + "MaxConcurrency"] = concurrency.ToString(CultureInfo.InvariantCulture);
            }
        }

        foreach (var (key, value) in options.WorkerSettings)
        {
            settings[key] = value;
        }

        return settings;
    }

    /// <summary>
    /// The group's ledger store: SQLite is the worker's default (a file in the group's log folder); PostgreSQL a database
    /// of its own in the run's cluster; none the baseline without a ledger. --worker-setting still wins.
    /// </summary>
    private async Task AddLedgerSettingsAsync(SubjectGroup group, Dictionary<string, string> settings)
    {
        var extra = new Dictionary<string, string>(StringComparer.Ordinal);
        switch (group.Store)
        {
            case LedgerStore.None:
                extra["Benchmark:WithoutLedger"] = "true";
                break;
            case LedgerStore.Postgres:
                var server = postgres ?? throw new InvalidOperationException("--store postgres without a PostgreSQL cluster.");
                extra["Store:Provider"] = "Postgres";
                extra["Store:ConnectionString"] = await server.CreateDatabaseAsync(group.Name.Replace('-', '_'));
                break;
        }

        foreach (var (key, value) in extra.Where(e => !options.WorkerSettings.ContainsKey(e.Key)))
        {
            settings[key] = value;
        }
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

    private static async Task PurgeAsync(Uri amqp, IEnumerable<string> queues)
    {
        await using var connection = await new ConnectionFactory { Uri = amqp }.CreateConnectionAsync();
        foreach (var queue in queues)
        {
            await using var channel = await connection.CreateChannelAsync();
            try
            {
                await channel.QueuePurgeAsync(queue);
            }
            catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
            {
                // Not declared (yet): nothing to purge.
            }
        }
    }

    /// <summary>
    /// JIT-compiled methods and allocated bytes of a SyncWorker process, from its Prometheus endpoint (the .NET runtime
    /// meter, which SyncWorker exports).
    /// </summary>
    private static Func<Task<RuntimeCounters?>> MetricsProbe(Uri metrics)
    {
        var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        return async () =>
        {
            try
            {
                long? jit = null, allocated = null;
                long collections = 0;
                foreach (var line in (await client.GetStringAsync(metrics)).Split('\n'))
                {
                    if (line.StartsWith("dotnet_jit_compiled_methods_total", StringComparison.Ordinal))
                    {
                        jit = (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
                    }
                    else if (line.StartsWith("dotnet_gc_heap_total_allocated_bytes_total", StringComparison.Ordinal))
                    {
                        allocated = (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
                    }
                    else if (line.StartsWith("dotnet_gc_collections_total", StringComparison.Ordinal))
                    {
                        collections += (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
                    }
                }

                return jit is { } j && allocated is { } a ? new RuntimeCounters(j, a, collections) : null;
            }
            catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException or FormatException)
            {
                return null;
            }
        };
    }

    /// <summary>The same for the tutorial receiver (its /runtime-counters answers "jit allocated").</summary>
    private static Func<Task<RuntimeCounters?>> TextProbe(Uri url)
    {
        var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        return async () =>
        {
            try
            {
                var parts = (await client.GetStringAsync(url)).Split(' ');
                return new RuntimeCounters(long.Parse(parts[0], CultureInfo.InvariantCulture), long.Parse(parts[1], CultureInfo.InvariantCulture), null);
            }
            catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException or FormatException or IndexOutOfRangeException)
            {
                return null;
            }
        };
    }

    private static async Task<RuntimeCounters?> TakeCountersAt(long at, Subject subject)
    {
        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), at);
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait);
        }

        return await subject.Probe();
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

    private static async Task<(long At, CpuSnapshot Cpu)> TakeAt(long at, int? subjectPid, int? brokerPid, int? databasePid)
    {
        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), at);
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait);
        }

        return (Stopwatch.GetTimestamp(), CpuSnapshot.Take(subjectPid, brokerPid, databasePid));
    }

    private static async Task<(long At, CpuSnapshot Cpu)> TakeAtOrWhenDone(long at, Task load, int? subjectPid, int? brokerPid, int? databasePid)
    {
        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), at);
        if (wait > TimeSpan.Zero)
        {
            await Task.WhenAny(Task.Delay(wait), load);
        }

        return (Stopwatch.GetTimestamp(), CpuSnapshot.Take(subjectPid, brokerPid, databasePid));
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
        long? deliveriesInCpuWindow = null;
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
            deliveriesInCpuWindow = ledger.DeliveriesBetween(cpuStartAt, cpuEndAt);
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
            DatabaseCpuSeconds = after.Database - before.Database,
            AcceptedInCpuWindow = completedInCpuWindow,
            DeliveriesInCpuWindow = deliveriesInCpuWindow,
            UsedCpuSeconds = Math.Max(busy, accounted),
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

        line += string.Format(inv, "  jit {0}  alloc/event {1:F0} KB", r.JitMethodsInWindow, r.AllocatedBytesPerEvent / 1024);
        if (r.DeliveriesInCpuWindow > 0)
        {
            line += string.Format(inv, "  per delivery: cpu {0:F3} ms (broker {1:F3}) alloc {2:F1} KB", r.SubjectCpuMsPerDelivery, r.BrokerCpuMsPerDelivery, r.AllocatedBytesPerDelivery / 1024);
        }

        line += string.Format(inv, "  idle {0:P0}", r.IdleShare(Environment.ProcessorCount));
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

/// <summary>Phases that drive one process.</summary>
internal sealed record SubjectGroup(string Name, SubjectKind Kind, int Targets, List<PhaseSpec> Phases, string? Store = null);

/// <summary>The process a group drives, and how to reach and observe it.</summary>
internal sealed class Subject
{
    public required SubjectGroup Group { get; init; }

    public required Uri Amqp { get; init; }

    public int Pid { get; set; }

    public Uri? Endpoint { get; set; }

    public BarePublisher? Bare { get; set; }

    /// <summary>The subject's JIT and allocation counters, or null when they cannot be read.</summary>
    public Func<Task<RuntimeCounters?>> Probe { get; set; } = () => Task.FromResult<RuntimeCounters?>(null);

    public List<string> Queues { get; } = [];

    public WarmupInfo? Warmup { get; set; }
}

/// <summary>
/// Methods JIT-compiled and bytes allocated by a process since it started, and (when read from /metrics) its garbage
/// collections so far.
/// </summary>
internal sealed record RuntimeCounters(long JitMethods, long AllocatedBytes, long? Collections)
{
    /// <summary>
    /// The exported allocation counter (<c>GC.GetTotalAllocatedBytes()</c> without <c>precise</c>) moves in steps as the
    /// server GC hands out allocation budgets and collects, not byte by byte: over a window with few collections it reads
    /// far too low (even 0, seen at 250 and 500 events/s). Counted only when it moved and at least this many collections
    /// happened in between.
    /// </summary>
    public const int MinimumCollections = 20;

    public static RuntimeCounters OfThisProcess() =>
        new(System.Runtime.JitInfo.GetCompiledMethodCount(), GC.GetTotalAllocatedBytes(precise: true), null);

    public bool CountsAllocationsSince(RuntimeCounters earlier) =>
        AllocatedBytes > earlier.AllocatedBytes
        && (Collections is not { } now || earlier.Collections is not { } then || now - then >= MinimumCollections);
}
