using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using SyncWorker.Contracts;
using SyncWorker.FaultInjection.Tests;
using SyncWorker.Testing;

namespace SyncWorker.LoadHarness;

/// <summary>
/// Many targets on one broker (issue 15): one worker (Role All, SQLite ledger) with N configured event-format targets,
/// most idle (subscribed to <c>customer.created</c>, never sent), a few busy (<c>checkout.session.*</c>), on a private
/// RabbitMQ node of its own. Measures the time from process start until every target queue has a consumer, broker
/// memory and queues, the worker's memory, connections and channels, the idle cost, the time for a target created through
/// the admin API to get a consumer, and the delivery rate to the busy targets under a fixed offered load.
/// <c>dotnet SyncWorker.LoadHarness.dll scale --targets 2000 --busy 10 --queue-type classic --out DIR</c>.
/// </summary>
internal static class ScaleScenario
{
    public const string Mode = "scale";

    private const string AdminToken = "scale-harness-write-token-0123456789";
    private const int LoadTag = 7;
    private const int WarmTag = 998;

    public const string Usage = """
        dotnet run -c Release --project tests/SyncWorker.LoadHarness -- scale [options]
          --targets N        configured targets (default 2000)
          --busy N           of them busy: checkout.session.* (default 10); the rest subscribe to customer.created
          --queue-type T     classic (default) or quorum
          --rate R           offered events/s to the receiver during the load (default 200; each goes to every busy target)
          --seconds S        measured load window (default 30; after a 10 s warm-up at the same rate and a 3 s lead-in)
          --start-timeout S  give up waiting for every endpoint to consume after S seconds (default 300)
          --size KB          event size (default 8)
          --channel-max N    RabbitMq:ChannelMax of the worker and channel_max of the node (default: neither set, 2047)
          --no-load          stop after the start, idle and new-target measurements
          --out FILE         results JSON (default docs/benchmarks/experiments/scale-2000/{type}-{N}t.json)
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        int targetCount = 2000, busy = 10, sizeKb = 8, channelMax = 0;
        double rate = 200, seconds = 30, startTimeout = 300;
        var queueType = "classic";
        var load = true;
        string? outPath = null;
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--targets": targetCount = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--busy": busy = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--queue-type": queueType = Value().ToLowerInvariant(); break;
                case "--rate": rate = double.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--seconds": seconds = double.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--start-timeout": startTimeout = double.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--size": sizeKb = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--channel-max": channelMax = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--no-load": load = false; break;
                case "--out": outPath = Value(); break;
                default:
                    Console.Error.WriteLine($"Unknown option {args[i]}.\n{Usage}");
                    return 2;
            }
        }

        outPath ??= Path.Combine("docs", "benchmarks", "experiments", "scale-2000", $"{queueType}-{targetCount}t.json");
        var result = new JsonObject
        {
            ["command"] = "dotnet run -c Release --project tests/SyncWorker.LoadHarness -- scale " + string.Join(' ', args),
            ["startedAt"] = DateTimeOffset.UtcNow.ToString("O"),
            ["gitCommit"] = Machine.GitCommit(),
            ["machine"] = JsonSerializer.SerializeToNode(Machine.Describe(), RunResults.Json),
            ["loadAverageAtStart"] = File.ReadAllText("/proc/loadavg").Trim(),
            ["targets"] = targetCount,
            ["busyTargets"] = busy,
            ["queueType"] = queueType,
            ["store"] = "sqlite (worker default)",
            ["channelMax"] = channelMax > 0 ? channelMax : null,
        };
        var logDirectory = Path.Combine(Path.GetTempPath(), "syncworker-loadharness", "scale-" + DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
        Directory.CreateDirectory(logDirectory);
        Console.WriteLine($"scale: {targetCount} targets ({busy} busy), {queueType} queues; logs in {logDirectory}");

        string? manifestPath = null;
        WorkerProcess? worker = null;
        try
        {
            await using var node = channelMax > 0
                ? await RabbitMqNode.LaunchAsync("scale-" + Guid.NewGuid().ToString("N")[..8], tls: null, [$"channel_max = {channelMax.ToString(CultureInfo.InvariantCulture)}"])
                : await RabbitMqNode.LaunchAsync();
            await using var targets = await FastTargets.StartAsync();
            var vhost = await node.CreateVirtualHostAsync("scale");
            var amqp = node.AmqpUri(vhost);
            var beam = ProcStats.FindBeam(node.NodeName);
            result["brokerBaseline"] = await BrokerMemoryAsync(node, beam);

            manifestPath = WriteManifest(targets.BaseUrl);
            var adminPort = LoopbackPorts.Free();
            var settings = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["RabbitMq:Uri"] = amqp.ToString(),
                ["RabbitMq:QueueType"] = queueType,
                ["Stripe:WebhookSecrets:0"] = Runner.WebhookSecret,
                ["Manifest:Path"] = manifestPath,
                ["Store:DataDirectory"] = Path.Combine(logDirectory, "store"),
                ["Store:EncryptionKey"] = Convert.ToBase64String(Enumerable.Range(1, 32).Select(b => (byte)b).ToArray()),
                ["Admin:Urls"] = $"http://127.0.0.1:{adminPort.ToString(CultureInfo.InvariantCulture)}",
                ["Admin:Tokens:0:Token"] = AdminToken,
                ["Admin:Tokens:0:Scope"] = "write",
                ["Admin:Tokens:0:Name"] = "scale",
                ["Logging:LogLevel:System.Net.Http.HttpClient"] = "Warning",
                ["Worker:Role"] = "All",
            };
            if (channelMax > 0)
            {
                settings["RabbitMq:ChannelMax"] = channelMax.ToString(CultureInfo.InvariantCulture);
            }

            for (var t = 0; t < targetCount; t++)
            {
                var prefix = $"Fulfillment:Targets:{t}:";
                settings[prefix + "Name"] = Runner.TargetName(t);
                settings[prefix + "Url"] = targets.UrlOf(t).ToString();
                settings[prefix + "Mode"] = "live";
                settings[prefix + "Format"] = "event";
                settings[prefix + "SigningSecret"] = FastTargets.NewSigningSecret();
                settings[prefix + "Events:0"] = t < busy ? "checkout.session.*" : "customer.created";
            }

            var queues = Enumerable.Range(0, targetCount).Select(t => Topology.TargetQueue(Runner.TargetName(t))).ToList();
            await using var probe = await ConsumerProbe.StartAsync(amqp);

            // Start: from launching the process until every target queue has a consumer.
            var clock = Stopwatch.StartNew();
            worker = await WorkerProcess.StartAsync("worker", settings, logDirectory);
            var pid = worker.ProcessId;
            var answering = clock.Elapsed.TotalSeconds;
            Console.WriteLine($"   worker pid {pid} answering HTTP after {answering:F1} s");
            var curve = new JsonArray();
            var consuming = new HashSet<string>(StringComparer.Ordinal);
            double? firstConsumer = null, allConsuming = null;
            var nextReport = 10.0;
            long maxRssDuringStart = 0;
            while (clock.Elapsed.TotalSeconds < startTimeout)
            {
                if (!worker.IsRunning)
                {
                    result["workerExited"] = true;
                    break;
                }

                await probe.UpdateAsync(queues, consuming);
                var now = clock.Elapsed.TotalSeconds;
                maxRssDuringStart = Math.Max(maxRssDuringStart, ProcStats.StatusBytes(pid, "VmRSS") ?? 0);
                if (consuming.Count > 0)
                {
                    firstConsumer ??= now;
                }

                curve.Add(new JsonArray(Math.Round(now, 2), consuming.Count));
                if (now >= nextReport)
                {
                    Console.WriteLine($"   {now:F0} s: {consuming.Count} of {targetCount} target queues have a consumer");
                    nextReport += 10;
                }

                if (consuming.Count == targetCount)
                {
                    allConsuming = now;
                    break;
                }

                await Task.Delay(500);
            }

            var startCpu = ProcStats.CpuSeconds(pid);
            result["start"] = new JsonObject
            {
                ["httpAnsweringSeconds"] = Math.Round(answering, 2),
                ["firstConsumerSeconds"] = firstConsumer is { } f ? Math.Round(f, 2) : null,
                ["allConsumingSeconds"] = allConsuming is { } a ? Math.Round(a, 2) : null,
                ["consumingAtEnd"] = consuming.Count,
                ["timeoutSeconds"] = startTimeout,
                ["workerCpuSecondsSoFar"] = startCpu,
                ["workerPeakRssBytesDuringStart"] = maxRssDuringStart,
                ["curve"] = curve,
            };
            Console.WriteLine(allConsuming is { } all
                ? $"   all {targetCount} consuming after {all:F1} s (worker CPU {startCpu:F1} s)"
                : $"   NOT all consuming after {clock.Elapsed.TotalSeconds:F0} s: {consuming.Count} of {targetCount}");

            // Settled: a few seconds after the start, the broker and the worker at rest.
            await Task.Delay(TimeSpan.FromSeconds(5));
            result["afterStart"] = await SnapshotAsync(node, vhost, beam, pid);
            Console.WriteLine($"   after start: {result["afterStart"]!.ToJsonString()}");

            // Idle cost: CPU of the worker and the broker over 20 s with no traffic (pause-marker probes, timers).
            var idleBefore = CpuSnapshot.Take(pid, beam);
            var idleClock = Stopwatch.StartNew();
            await Task.Delay(TimeSpan.FromSeconds(20));
            var idleAfter = CpuSnapshot.Take(pid, beam);
            var idleSeconds = idleClock.Elapsed.TotalSeconds;
            result["idle"] = new JsonObject
            {
                ["seconds"] = Math.Round(idleSeconds, 1),
                ["workerCores"] = Math.Round((idleAfter.Subject - idleBefore.Subject) / idleSeconds, 3),
                ["brokerCores"] = Math.Round((idleAfter.Broker - idleBefore.Broker) / idleSeconds, 3),
                ["machineBusyCores"] = Math.Round((idleAfter.MachineBusy - idleBefore.MachineBusy) / idleSeconds, 3),
            };
            Console.WriteLine($"   idle: {result["idle"]!.ToJsonString()}");

            // A target created through the admin API: until its queue has a consumer.
            result["newTarget"] = await NewTargetAsync(new Uri($"http://127.0.0.1:{adminPort.ToString(CultureInfo.InvariantCulture)}/"), targets, probe, targetCount);
            Console.WriteLine($"   new target: {result["newTarget"]!.ToJsonString()}");

            if (load && busy > 0 && worker.IsRunning)
            {
                result["load"] = await LoadAsync(worker, targets, pid, beam, busy, rate, seconds, sizeKb * 1024);
                Console.WriteLine($"   load: {result["load"]!.ToJsonString()}");
                result["afterLoad"] = await SnapshotAsync(node, vhost, beam, pid);
                Console.WriteLine($"   after load: {result["afterLoad"]!.ToJsonString()}");
            }

            var failures = worker.Failures();
            result["workerFailures"] = failures.Count;
            result["workerFailuresFirst"] = new JsonArray(failures.Take(10).Select(x => (JsonNode?)JsonValue.Create(x)).ToArray());
            result["workerLog"] = worker.LogPath;
            result["brokerChannelErrors"] = node.ChannelErrors(vhost).Count;
        }
        catch (Exception exception)
        {
            result["error"] = exception.ToString();
            Console.WriteLine($"   FAILED: {exception.GetBaseException().Message}");
            if (worker is not null)
            {
                result["workerLogTail"] = worker.LogTail(60);
            }
        }
        finally
        {
            if (worker is not null)
            {
                await worker.DisposeAsync();
            }

            if (manifestPath is not null)
            {
                File.Delete(manifestPath);
            }
        }

        result["finishedAt"] = DateTimeOffset.UtcNow.ToString("O");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        await File.WriteAllTextAsync(outPath, result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"scale: results in {outPath}");
        return result.ContainsKey("error") ? 1 : 0;
    }

    private static async Task<JsonObject> NewTargetAsync(Uri admin, FastTargets targets, ConsumerProbe probe, int index)
    {
        var name = "n" + index.ToString(CultureInfo.InvariantCulture);
        var queue = Topology.TargetQueue(name);
        using var client = new HttpClient { BaseAddress = admin, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminToken);
        var clock = Stopwatch.StartNew();
        using var response = await client.PostAsJsonAsync("admin/targets", new
        {
            name,
            url = targets.UrlOf(index).ToString(),
            events = new[] { "customer.created" },
            mode = "live",
            format = "event",
            allAccounts = true,
        });
        var answered = clock.Elapsed.TotalSeconds;
        var body = await response.Content.ReadAsStringAsync();
        var info = new JsonObject
        {
            ["name"] = name,
            ["status"] = (int)response.StatusCode,
            ["answeredSeconds"] = Math.Round(answered, 3),
        };
        if (!response.IsSuccessStatusCode)
        {
            info["body"] = body.Length > 500 ? body[..500] : body;
            return info;
        }

        double? consumed = null;
        while (clock.Elapsed.TotalSeconds < 120)
        {
            if (await probe.ConsumersAsync(queue) is > 0)
            {
                consumed = clock.Elapsed.TotalSeconds;
                break;
            }

            await Task.Delay(100);
        }

        info["consumerSeconds"] = consumed is { } c ? Math.Round(c, 3) : null;
        return info;
    }

    private static async Task<JsonObject> LoadAsync(WorkerProcess worker, FastTargets targets, int pid, int? beam, int busy, double rate, double seconds, int size)
    {
        var template = EventTemplate.Create(size);
        using var client = LoadGenerator.NewHttpClient(128);

        // Warm-up: 10 s at the same rate, events the targets do not record (JIT of the delivery path).
        var warmCount = (int)Math.Ceiling(rate * 10) + 16;
        var warm = template.Build(WarmTag, warmCount, Runner.WebhookSecret);
        await LoadGenerator.OpenLoopAsync(LoadGenerator.HttpSender(client, worker.WebhookUrl, warm), warmCount, rate, Window.From(TimeSpan.Zero, TimeSpan.FromSeconds(10)));
        await Task.Delay(TimeSpan.FromSeconds(3));

        var leadIn = TimeSpan.FromSeconds(3);
        var count = (int)Math.Ceiling(rate * (seconds + leadIn.TotalSeconds)) + 16;
        var events = template.Build(LoadTag, count, Runner.WebhookSecret);
        var ledger = targets.Begin(LoadTag, busy, count);
        var window = Window.From(leadIn, TimeSpan.FromSeconds(seconds));
        await using var memory = new MemorySampler(pid);
        var cpuBefore = CpuSnapshot.Take(pid, beam);
        var record = await LoadGenerator.OpenLoopAsync(LoadGenerator.HttpSender(client, worker.WebhookUrl, events), count, rate, window);
        var cpuAfter = CpuSnapshot.Take(pid, beam);
        var loadSeconds = Stopwatch.GetElapsedTime(window.Begin).TotalSeconds;

        // Grace: until every accepted event of the window reached every busy target, at most 30 s.
        var accepted = record.InWindow().Where(i => record.Status[i] == 200).ToList();
        var grace = Stopwatch.StartNew();
        var waiting = accepted.ToList();
        while (grace.Elapsed < TimeSpan.FromSeconds(30))
        {
            waiting.RemoveAll(i => ledger.AllReceived(i) != 0);
            if (waiting.Count == 0)
            {
                break;
            }

            await Task.Delay(100);
        }

        targets.End();
        static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
        var samples = new List<double>();
        long missing = 0;
        foreach (var i in accepted)
        {
            for (var t = 0; t < busy; t++)
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

        var e2e = Percentiles.Of(samples, missing);
        var inWindow = record.InWindow().ToList();
        var statuses = new JsonObject();
        foreach (var group in inWindow.GroupBy(i => record.Status[i]))
        {
            statuses[group.Key.ToString(CultureInfo.InvariantCulture)] = group.Count();
        }

        var ingest = Percentiles.Of(inWindow.Select(i => Ms(record.Completed[i] - record.Intended[i])).ToList(), 0);
        return new JsonObject
        {
            ["offeredEventsPerSecond"] = rate,
            ["offeredDeliveriesPerSecond"] = rate * busy,
            ["eventBytes"] = size,
            ["windowSeconds"] = Math.Round(record.WindowSeconds, 2),
            ["sentInWindow"] = inWindow.Count,
            ["statuses"] = statuses,
            ["ingestP50Ms"] = ingest?.P50,
            ["ingestP99Ms"] = ingest?.P99,
            ["deliveriesPerSecondInWindow"] = Math.Round(ledger.DeliveriesBetween(record.WindowStart, record.WindowEnd) / record.WindowSeconds, 1),
            ["expectedDeliveries"] = accepted.Count * busy,
            ["missingAfterGrace"] = missing,
            ["graceSeconds"] = Math.Round(grace.Elapsed.TotalSeconds, 2),
            ["endToEndP50Ms"] = e2e?.P50,
            ["endToEndP99Ms"] = e2e is { } p && double.IsFinite(p.P99) ? p.P99 : null,
            ["endToEndMaxMs"] = e2e is { } m && double.IsFinite(m.Max) ? m.Max : null,
            ["duplicates"] = ledger.Duplicates,
            ["workerCores"] = Math.Round((cpuAfter.Subject - cpuBefore.Subject) / loadSeconds, 3),
            ["brokerCores"] = Math.Round((cpuAfter.Broker - cpuBefore.Broker) / loadSeconds, 3),
            ["machineBusyCores"] = Math.Round((cpuAfter.MachineBusy - cpuBefore.MachineBusy) / loadSeconds, 3),
            ["workerPeakRssBytes"] = memory.MaxRss,
        };
    }

    /// <summary>Broker memory, queues, connections and channels; the worker's memory and threads.</summary>
    private static async Task<JsonObject> SnapshotAsync(RabbitMqNode node, string vhost, int? beam, int pid)
    {
        var snapshot = await BrokerMemoryAsync(node, beam);
        var queueLines = Lines(await node.CtlAsync(["list_queues", "-p", vhost, "-q", "--no-table-headers", "name", "type", "consumers"], throwOnError: false));
        snapshot["queues"] = queueLines.Count;
        snapshot["targetQueues"] = queueLines.Count(l => l.StartsWith(Topology.TargetQueuePrefix, StringComparison.Ordinal) && !l.Split('\t')[0].EndsWith(Topology.ErrorQueueSuffix, StringComparison.Ordinal));
        snapshot["errorQueues"] = queueLines.Count(l => l.Split('\t')[0].EndsWith(Topology.ErrorQueueSuffix, StringComparison.Ordinal));
        snapshot["queueTypes"] = string.Join(",", queueLines.Select(l => l.Split('\t').ElementAtOrDefault(1)).Distinct());
        snapshot["consumers"] = queueLines.Sum(l => int.TryParse(l.Split('\t').ElementAtOrDefault(2), CultureInfo.InvariantCulture, out var c) ? c : 0);
        var connections = new JsonArray();
        var channelTotal = 0;
        foreach (var line in Lines(await node.CtlAsync(["list_connections", "-q", "--no-table-headers", "vhost", "client_properties", "channels", "channel_max"], throwOnError: false)))
        {
            var parts = line.Split('\t');
            if (parts.Length < 4 || parts[0] != vhost)
            {
                continue;
            }

            var name = System.Text.RegularExpressions.Regex.Match(parts[1], "\"?connection_name\"?,\"?([^\"}]*)\"?").Groups[1].Value;
            var channels = int.TryParse(parts[^2], CultureInfo.InvariantCulture, out var n) ? n : -1;
            channelTotal += Math.Max(0, channels);
            connections.Add(new JsonObject { ["name"] = name, ["channels"] = channels, ["channelMax"] = parts[^1] });
        }

        snapshot["connections"] = connections;
        snapshot["channels"] = channelTotal;
        snapshot["workerRssBytes"] = ProcStats.StatusBytes(pid, "VmRSS");
        snapshot["workerHwmBytes"] = ProcStats.StatusBytes(pid, "VmHWM");
        snapshot["workerThreads"] = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("Threads:", StringComparison.Ordinal))?["Threads:".Length..].Trim();
        return snapshot;
    }

    private static async Task<JsonObject> BrokerMemoryAsync(RabbitMqNode node, int? beam)
    {
        var erlang = (await node.CtlAsync(["eval", "erlang:memory(total)."], throwOnError: false)).Trim();
        return new JsonObject
        {
            ["brokerErlangMemoryBytes"] = long.TryParse(erlang, CultureInfo.InvariantCulture, out var bytes) ? bytes : null,
            ["brokerRssBytes"] = beam is { } b ? ProcStats.StatusBytes(b, "VmRSS") : null,
        };
    }

    private static List<string> Lines(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => l.Contains('\t', StringComparison.Ordinal)).ToList();

    private static string WriteManifest(Uri targetFolder)
    {
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "manifest", "stripe-app.json")))!;
        manifest["ui_extension"]!["content_security_policy"]!["connect-src"] = new JsonArray(targetFolder.ToString());
        var path = Path.Combine(Path.GetTempPath(), $"stripe-app-scale-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, manifest.ToJsonString());
        return path;
    }

    /// <summary>
    /// Consumer counts of target queues by passive declares on one channel of its own connection (cheaper than
    /// rabbitmqctl, which starts an Erlang VM). A queue not declared yet closes the channel: the pass stops there and
    /// goes on from it next time (the worker declares target queues in order).
    /// </summary>
    private sealed class ConsumerProbe : IAsyncDisposable
    {
        private readonly IConnection _connection;
        private IChannel? _channel;

        private ConsumerProbe(IConnection connection) => _connection = connection;

        public static async Task<ConsumerProbe> StartAsync(Uri amqp) =>
            new(await new ConnectionFactory { Uri = amqp, ClientProvidedName = "scale-probe" }.CreateConnectionAsync());

        /// <summary>Adds to <paramref name="consuming"/> every queue of <paramref name="queues"/> that has a consumer now.</summary>
        public async Task UpdateAsync(IReadOnlyList<string> queues, HashSet<string> consuming)
        {
            foreach (var queue in queues)
            {
                if (consuming.Contains(queue))
                {
                    continue;
                }

                var consumers = await ConsumersAsync(queue);
                if (consumers is null)
                {
                    return; // Not declared yet: later ones most likely neither.
                }

                if (consumers > 0)
                {
                    consuming.Add(queue);
                }
            }
        }

        /// <summary>The queue's consumer count, or null when it does not exist.</summary>
        public async Task<uint?> ConsumersAsync(string queue)
        {
            try
            {
                _channel ??= await _connection.CreateChannelAsync();
                return (await _channel.QueueDeclarePassiveAsync(queue)).ConsumerCount;
            }
            catch (Exception exception) when (exception is OperationInterruptedException or AlreadyClosedException)
            {
                _channel = null;
                return null;
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_channel is not null)
            {
                await _channel.DisposeAsync();
            }

            await _connection.DisposeAsync();
        }
    }
}
