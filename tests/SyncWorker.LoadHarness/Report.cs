using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SyncWorker.LoadHarness;

/// <summary>Writes results.json, the SVG charts and the markdown report, all from one <see cref="RunResults"/>.</summary>
internal static class Report
{
    private const double MiB = 1024 * 1024;

    /// <summary>A goal of issue 7 and whether the run met it.</summary>
    private sealed record Goal(string What, string Target, string Measured, bool? Met);

    public static async Task WriteAsync(RunResults results, RunResults? baseline, HarnessOptions options)
    {
        Directory.CreateDirectory(options.OutDirectory);
        await File.WriteAllTextAsync(Path.Combine(options.OutDirectory, "results.json"), JsonSerializer.Serialize(results, RunResults.Json));
        var charts = WriteCharts(results, options.OutDirectory);
        var reportDirectory = Path.GetDirectoryName(Path.GetFullPath(options.ReportPath))!;
        Directory.CreateDirectory(reportDirectory);
        var chartLinks = charts.Select(c => Path.GetRelativePath(reportDirectory, Path.GetFullPath(c)).Replace('\\', '/')).ToList();
        var notes = Path.Combine(options.OutDirectory, "NOTES.md");
        var micro = FindUp(Path.Combine("tests", "SyncWorker.Benchmarks", "RESULTS.md"));
        var markdown = Markdown(results, baseline, options, chartLinks,
            File.Exists(notes) ? await File.ReadAllTextAsync(notes) : null,
            micro is not null ? await File.ReadAllTextAsync(micro) : null);
        await File.WriteAllTextAsync(options.ReportPath, markdown);
    }

    private static string? FindUp(string relative)
    {
        for (var directory = new DirectoryInfo(Environment.CurrentDirectory); directory is not null; directory = directory.Parent)
        {
            var path = Path.Combine(directory.FullName, relative);
            if (File.Exists(path))
            {
                return path;
            }
        }

        return null;
    }

    private static List<string> WriteCharts(RunResults r, string outDirectory)
    {
        var written = new List<string>();
        void Save(string name, string svg)
        {
            var path = Path.Combine(outDirectory, name);
            File.WriteAllText(path, svg);
            written.Add(path);
        }

        var sizes = new[] { 1, 8, 64 }.Where(k => r.Find($"worker-1t-{k}k") is not null || r.Find($"bare-{k}k") is not null).ToList();
        var sizeNames = sizes.Select(k => $"{k} KB").ToList();
        var subtitle = $"{r.Machine.Cores} cores shared by load generator, targets, worker and RabbitMQ; closed loop, concurrency {r.Concurrency}; run {r.StartedAt:yyyy-MM-dd HH:mm} UTC";
        Save("throughput.svg", Charts.Figure("Ingest throughput: SyncWorker against its references", subtitle,
        [
            new Panel("Events accepted per second", "events/s", sizeNames,
            [
                new Series("bare RabbitMQ.Client (ceiling)", Charts.Ceiling, sizes.Select(k => r.Find($"bare-{k}k")?.IngestPerSecond).ToList()),
                new Series("SyncWorker (1 target)", Charts.SyncWorker, sizes.Select(k => r.Find($"worker-1t-{k}k")?.IngestPerSecond).ToList()),
                new Series("SyncWorker receive-only", Charts.ReceiverOnly, sizes.Select(k => r.Find($"receiver-only-{k}k")?.IngestPerSecond).ToList()),
                new Series("SDK tutorial + MassTransit", Charts.Tutorial, sizes.Select(k => r.Find($"tutorial-{k}k")?.IngestPerSecond).ToList()),
            ]),
            new Panel("CPU of the receiving process", "CPU seconds per 1000 events", sizeNames,
            [
                new Series("bare (harness process)", Charts.Ceiling, sizes.Select(k => r.Find($"bare-{k}k")?.SubjectCpuPer1000).ToList()),
                new Series("SyncWorker (1 target)", Charts.SyncWorker, sizes.Select(k => r.Find($"worker-1t-{k}k")?.SubjectCpuPer1000).ToList()),
                new Series("SyncWorker receive-only", Charts.ReceiverOnly, sizes.Select(k => r.Find($"receiver-only-{k}k")?.SubjectCpuPer1000).ToList()),
                new Series("SDK tutorial", Charts.Tutorial, sizes.Select(k => r.Find($"tutorial-{k}k")?.SubjectCpuPer1000).ToList()),
            ]),
        ]));

        var rates = r.Phases.Where(p => p.Spec is { Subject: SubjectKind.Worker, Targets: 1, SizeBytes: 8192, Rate: not null })
            .OrderBy(p => p.Spec.Rate).ToList();
        if (rates.Count > 0)
        {
            var rateNames = rates.Select(p => $"{p.Spec.Rate:0}/s").ToList();
            Save("latency.svg", Charts.Figure("Latency at fixed offered rates (open loop, 8 KB, 1 target)", subtitle.Replace($"closed loop, concurrency {r.Concurrency}", "measured from each send's scheduled time", StringComparison.Ordinal),
            [
                new Panel("Ingest latency (webhook answered)", "ms", rateNames,
                [
                    new Series("p50", Charts.P50, rates.Select(p => p.Ingest?.P50).ToList()),
                    new Series("p99", Charts.P99, rates.Select(p => p.Ingest?.P99).ToList()),
                    new Series("p99.9", Charts.P999, rates.Select(p => p.Ingest?.P999).ToList()),
                ], 25, "goal p99 ≤ 25 ms at 500/s"),
                new Panel("End-to-end (webhook sent → target)", "ms", rateNames,
                [
                    new Series("p50", Charts.P50, rates.Select(p => p.EndToEnd?.P50).ToList()),
                    new Series("p99", Charts.P99, rates.Select(p => p.EndToEnd?.P99).ToList()),
                ], 100, "goal p99 ≤ 100 ms at 500/s"),
            ]));
        }

        var counts = new[] { 1, 4, 16 }.Where(t => r.Find($"worker-{t}t-8k") is not null || r.Find($"worker-{t}t-8k-500rps") is not null).ToList();
        if (counts.Count > 1)
        {
            var names = counts.Select(t => t == 1 ? "1 target" : $"{t} targets").ToList();
            Save("growth-targets.svg", Charts.Figure("Growth with the number of targets (8 KB events)", subtitle, GrowthPanels(
                names,
                counts.Select(t => r.Find($"worker-{t}t-8k")).ToList(),
                counts.Select(t => r.Find($"worker-{t}t-8k-500rps")).ToList())));
        }

        if (sizes.Count > 1)
        {
            Save("growth-size.svg", Charts.Figure("Growth with the event size (1 target)", subtitle, GrowthPanels(
                sizeNames,
                sizes.Select(k => r.Find($"worker-1t-{k}k")).ToList(),
                sizes.Select(k => r.Find($"worker-1t-{k}k-500rps")).ToList())));
        }

        return written;
    }

    private static List<Panel> GrowthPanels(List<string> names, List<PhaseResult?> closed, List<PhaseResult?> open) =>
    [
        new Panel("Closed loop: ingest and delivery", "per second", names,
        [
            new Series("events accepted/s", Charts.SyncWorker, closed.Select(p => p?.IngestPerSecond).ToList()),
            new Series("deliveries/s (all targets)", Charts.ReceiverOnly, closed.Select(p => p?.DeliveriesPerSecond).ToList()),
        ]),
        new Panel("At 500 events/s: latency", "ms", names,
        [
            new Series("ingest p99", Charts.P99, open.Select(p => p?.Ingest?.P99).ToList()),
            new Series("end-to-end p50", Charts.P50, open.Select(p => p?.EndToEnd?.P50).ToList()),
            new Series("end-to-end p99", Charts.P999, open.Select(p => p?.EndToEnd?.P99).ToList()),
        ]),
        new Panel("At 500 events/s: CPU", "CPU seconds per 1000 events", names,
        [
            new Series("SyncWorker", Charts.SyncWorker, open.Select(p => p?.SubjectCpuPer1000).ToList()),
            new Series("RabbitMQ", Charts.Ceiling, open.Select(p => p?.BrokerCpuPer1000).ToList()),
        ]),
        new Panel("Worker memory", "MB", names,
        [
            new Series("peak RSS, closed loop", Charts.SyncWorker, closed.Select(p => p?.PeakRssBytes / MiB).ToList()),
            new Series("peak RSS, 500/s", Charts.ReceiverOnly, open.Select(p => p?.PeakRssBytes / MiB).ToList()),
        ], 300, "goal ≤ 300 MB"),
    ];

    private static List<Goal> Goals(RunResults r)
    {
        var goals = new List<Goal>();
        var worker = r.Find("worker-1t-8k");
        var bare = r.Find("bare-8k");
        var tutorial = r.Find("tutorial-8k");
        if (worker is not null && bare is not null)
        {
            var ratio = worker.IngestPerSecond / bare.IngestPerSecond;
            goals.Add(new Goal("Ingest throughput against the bare publisher ceiling (8 KB, concurrency " + r.Concurrency + ")", "≥ 60 %",
                $"{ratio * 100:F0} % ({worker.IngestPerSecond:F0}/s of {bare.IngestPerSecond:F0}/s)", ratio >= 0.60));
        }

        if (worker is not null && tutorial is not null)
        {
            var ratio = worker.IngestPerSecond / tutorial.IngestPerSecond;
            goals.Add(new Goal("Ingest throughput against the SDK-tutorial receiver (same concurrency)", "≥ 1.5×",
                $"{ratio:F2}× ({worker.IngestPerSecond:F0}/s vs {tutorial.IngestPerSecond:F0}/s)", ratio >= 1.5));
        }

        if (r.Find("receiver-only-8k") is { } receiver && bare is not null && tutorial is not null)
        {
            goals.Add(new Goal("For comparison, not a goal: receive-only SyncWorker (Worker:Role=Receiver, nothing forwarded) against the same references", "–",
                $"{receiver.IngestPerSecond / bare.IngestPerSecond * 100:F0} % of the ceiling, {receiver.IngestPerSecond / tutorial.IngestPerSecond:F2}× the tutorial ({receiver.IngestPerSecond:F0}/s)", null));
        }

        if (r.Find("worker-1t-8k-500rps") is { } at500)
        {
            goals.Add(new Goal("Ingest p99 at 500 events/s offered", "≤ 25 ms", $"{Ms(at500.Ingest?.P99)} (p50 {Ms(at500.Ingest?.P50)}, p99.9 {Ms(at500.Ingest?.P999)})", at500.Ingest?.P99 <= 25));
            goals.Add(new Goal("End-to-end p99 at 500 events/s offered", "≤ 100 ms", $"{Ms(at500.EndToEnd?.P99)} (p50 {Ms(at500.EndToEnd?.P50)})", at500.EndToEnd?.P99 <= 100));
        }

        if (r.Find("worker-4t-8k-500rps") is { } four)
        {
            var needed = four.IngestPerSecond * 4;
            var q = four.Queues;
            var keepsUp = four.DeliveriesPerSecond >= needed * 0.98 && four.EndToEnd?.Missing == 0
                && q is not null && q.SlopePerSecond <= Math.Max(5, needed * 0.01);
            goals.Add(new Goal("Delivery keeps up at 500 events/s with 4 targets (no queue growth)", "no growth",
                $"{four.DeliveriesPerSecond:F0} deliveries/s for {four.IngestPerSecond:F0} events/s accepted × 4 = {needed:F0}/s; queued {q?.Start}→{q?.End} (max {q?.Max}, trend {q?.SlopePerSecond:+0.0;-0.0} msg/s); undelivered after {four.GraceSeconds:F1} s: {four.EndToEnd?.Missing}",
                keepsUp));
        }

        foreach (var (with, without) in LedgerPairs(r).Where(pair => pair.With.Spec.ClosedLoop && pair.With.Spec.Targets == 1))
        {
            var ratio = with.DeliveriesPerSecond / without.DeliveriesPerSecond;
            goals.Add(new Goal($"Closed-loop deliveries/s to one target with the ledger on {with.Spec.Store} against without ({with.Spec.Name})", "≥ 80 %",
                $"{ratio * 100:F0} % ({with.DeliveriesPerSecond:F0}/s of {without.DeliveriesPerSecond:F0}/s)", ratio >= 0.80));
        }

        if (r.Find("worker-4t-8k-500rps" + LedgerStore.Suffix(LedgerStore.Postgres)) is { } fourPostgres)
        {
            var q = fourPostgres.Queues;
            var keepsUp = fourPostgres.DeliveriesPerSecond >= fourPostgres.IngestPerSecond * 4 * 0.98 && fourPostgres.EndToEnd?.Missing == 0
                && q is not null && q.SlopePerSecond <= Math.Max(5, fourPostgres.IngestPerSecond * 4 * 0.01);
            goals.Add(new Goal("With the ledger on PostgreSQL, 500 events/s with 4 targets: keeps up, end-to-end p99", "no growth, ≤ 100 ms",
                $"{fourPostgres.DeliveriesPerSecond:F0} deliveries/s, queue trend {q?.SlopePerSecond:+0.0;-0.0} msg/s, e2e p99 {Ms(fourPostgres.EndToEnd?.P99)}",
                keepsUp && fourPostgres.EndToEnd?.P99 <= 100));
        }

        var workerPhases = r.Phases.Where(p => p.Spec.Subject is SubjectKind.Worker or SubjectKind.ReceiverOnly && p.VmHwmBytes is not null).ToList();
        if (workerPhases.Count > 0)
        {
            var peak = workerPhases.MaxBy(p => p.VmHwmBytes)!;
            goals.Add(new Goal("Worker peak memory under load (VmHWM: lifetime peak of every worker process)", "≤ 300 MB",
                $"{peak.VmHwmBytes / MiB:F0} MB (worker of {peak.Spec.Name})", peak.VmHwmBytes / MiB <= 300));
        }

        return goals;
    }

    private static string Markdown(RunResults r, RunResults? baseline, HarnessOptions options, List<string> charts, string? notes, string? micro)
    {
        var md = new StringBuilder();
        void Line(string text = "") => md.Append(text).Append('\n');

        Line("# Benchmarks");
        Line();
        Line("<!-- Written by tests/SyncWorker.LoadHarness from its own results (docs/benchmarks/results.json). Do not edit the");
        Line("     generated sections by hand: run the command again. Hand-written analysis lives in docs/benchmarks/NOTES.md. -->");
        Line();
        Line($"Load test of SyncWorker's receive → RabbitMQ → forward path on one small machine, with two references measured in");
        Line($"the same run: the **ceiling** (a bare RabbitMQ.Client publisher) and the **SDK-tutorial receiver** (ASP.NET Core +");
        Line($"`EventUtility.ConstructEvent` + MassTransit). Run of **{r.StartedAt:yyyy-MM-dd HH:mm} UTC** at commit `{r.GitCommit}`, " +
             $"{(r.Quick ? "quick" : "full")} run, {r.DurationSeconds / 60:F1} minutes.");
        Line();
        Line("## Reproduce");
        Line();
        Line("From the repository root, on Debian with the .NET 10 SDK and `rabbitmq-server` installed (`./test.sh` installs it):");
        Line();
        Line("```sh");
        Line(r.Command);
        Line("```");
        Line();
        Line("It builds the worker and the harness in Release, starts a private RabbitMQ node (free ports, temporary data folder),");
        Line("runs every phase below, and writes `docs/benchmarks/results.json`, the SVG charts next to it and this file.");
        Line("`--quick` runs a subset in about 2 minutes; `--report-from docs/benchmarks/results.json` rewrites this file and the");
        Line("charts from stored results without measuring. `--help`-style usage: see `tests/SyncWorker.LoadHarness/HarnessOptions.cs`.");
        Line();
        Line("## Machine");
        Line();
        Line("| | |");
        Line("|---|---|");
        Line($"| CPU | {r.Machine.CpuModel}, {r.Machine.Cores} cores |");
        Line($"| Memory | {r.Machine.MemoryGiB:F1} GiB |");
        Line($"| OS | {r.Machine.Os}, kernel {r.Machine.Kernel} |");
        Line($"| .NET | {r.Machine.Dotnet} |");
        Line($"| RabbitMQ | {r.Machine.RabbitMq} (Debian package), Erlang {r.Machine.Erlang}; data on the local disk |");
        Line($"| Sharing | load generator, targets, worker and broker all on these {r.Machine.Cores} cores; the \"other\" column below is CPU used by anything else on the machine during the window |");
        Line();
        Line("## How it measures");
        Line();
        Line("- **Processes and phases.** Phases run in groups, one process per group: a SyncWorker per target count (1, 4, 16)");
        Line("  and a receive-only one, one tutorial receiver, and the bare publisher inside the harness. Each group gets a fresh");
        Line("  virtual host. Before its first phase a process is **warmed up**: closed-loop load in 2-second rounds until it and the");
        Line($"  harness JIT-compile fewer than 20 methods per second (at least {r.WarmupSeconds:0} s, at most {r.MaxWarmupSeconds:0} s). Tiered");
        Line("  compilation of MassTransit, Kestrel and OpenTelemetry takes tens of seconds of CPU on a small machine, and a window");
        Line("  measured during it would measure the JIT rather than the steady state a long-running worker lives in; the warm-up");
        Line("  time is reported below. Before each phase the process's queues are purged, then the phase's own load runs for");
        Line($"  {r.LeadInSeconds:0} s before a measured window of {r.MeasureSeconds:0} s. Only sends inside the window count.");
        Line("- **Worker.** The Release build of `src/SyncWorker`, started as `dotnet SyncWorker.dll` and configured by environment");
        Line("  variables only (as the fault-injection suite does): `RabbitMq__Uri` to the phase's virtual host, one webhook secret,");
        Line("  a temporary manifest whose `connect-src` lists the targets, and `Fulfillment__Targets__N__*` with `Format=event`");
        Line("  (raw event; order documents would need a Stripe API stand-in) and default concurrency. **Logging at `Warning`**");
        Line("  (`Logging__LogLevel__Default` and `…__System.Net.Http.HttpClient`): the default `Information` writes lines per event");
        Line("  and per delivery to the console, whose cost is not what this measures. The phase starts once `/health/ready` answers 200.");
        Line("- **Events.** Live-mode `checkout.session.completed`, built from Stripe's fixture (trimmed for 1 KB) and padded to the");
        Line("  exact size with a `metadata.padding` string; every event has its own id; all are signed (`Stripe-Signature`, HMAC-SHA256)");
        Line("  before the phase starts.");
        Line($"- **Load.** Keep-alive `HttpClient` (`SocketsHttpHandler`). *Closed loop*: {r.Concurrency} senders, each sending its next");
        Line("  event when the previous one is answered (throughput). *Open loop*: event i is sent at start + i/rate whatever the");
        Line("  answers do, and latency is measured from that scheduled time, so a stall is not hidden (no coordinated omission).");
        Line("- **Targets.** One Kestrel server in the harness process, a path per target, answering 200 as soon as the body is read");
        Line("  and recording the first arrival of each event. Send and receipt times come from the same monotonic clock, so");
        Line("  end-to-end latency (webhook sent → target received) needs no clock synchronisation. A delivery not received within the");
        Line("  grace period after the window counts as infinitely late (∞).");
        Line("- **CPU.** utime + stime from `/proc/PID/stat` of the worker (or tutorial receiver), of RabbitMQ's `beam.smp` and of the");
        Line("  harness, over the window; per 1000 events = CPU seconds ÷ events accepted in the window × 1000. Whole-machine busy time");
        Line("  from `/proc/stat`; in this virtual machine it reads low when the load is light (below the sum of the processes), so");
        Line("  \"other\" (machine busy minus subject, broker and harness) is a lower bound. The bare publisher runs inside the");
        Line("  harness, so its CPU is the harness's.");
        Line("- **Closed loop and forwarding.** In a closed loop the receiver accepts events faster than a target's consumers");
        Line("  deliver them (deliveries/s below accepted/s): ingest is measured at its maximum, and CPU or allocation per accepted");
        Line("  event then pays for only part of the forwarding. Open-loop phases that keep up give the full cost per event.");
        Line("- **Allocation.** Bytes the subject allocated during the window (`dotnet_gc_heap_total_allocated_bytes_total` from");
        Line("  SyncWorker's `/metrics`; `GC.GetTotalAllocatedBytes()` in the tutorial receiver) per event accepted: unlike CPU time,");
        Line("  it does not depend on what else runs on the machine. SyncWorker's exported counter moves in steps of the server GC's");
        Line("  allocation budgets and was seen not to move at all over some low-rate windows: it is shown only when it moved and at");
        Line("  least 20 collections happened in the window (\"–\" otherwise), and should be read as approximate.");
        Line("- **Memory.** Resident set (`VmRSS`) of the subject process sampled every 200 ms during the phase (peak shown per phase;");
        Line("  for the bare publisher it is the harness process, which holds all pre-signed events), and `VmHWM`, the lifetime peak.");
        Line("- **Queues.** Ready messages of the intake and target queues, read every 500 ms with passive declares; the trend is a");
        Line("  least-squares slope over the window.");
        Line($"- **References.** *Ceiling*: RabbitMQ.Client 7 alone in the harness process, {r.BareChannels} channel(s) with publisher");
        Line("  confirmations and confirmation tracking, persistent mandatory messages of the same bytes to a durable fanout exchange");
        Line($"  bound to a durable queue, {r.Concurrency} publishes in flight. *SDK tutorial*: a separate process with an ASP.NET Core");
        Line("  minimal API that reads the body as a string, calls `EventUtility.ConstructEvent(json, header, secret,");
        Line("  throwOnApiVersionMismatch: false)` and `IPublishEndpoint.Publish` (MassTransit 8 on RabbitMQ, confirmed, persistent) to");
        Line("  an exchange bound to a durable queue before the run. Neither reference consumes what it published; SyncWorker's own");
        Line("  phases also forward every event to the targets in the same process, unless marked receive-only (`Worker__Role=Receiver`).");
        Line();
        Line("## Goals");
        Line();
        Line("| Goal | Target | Measured | |");
        Line("|---|---|---|---|");
        foreach (var goal in Goals(r))
        {
            Line($"| {goal.What} | {goal.Target} | {goal.Measured} | {(goal.Met switch { true => "**pass**", false => "**miss**", _ => "" })} |");
        }

        Line();
        Line("## Results");
        Line();
        Line($"### Throughput (closed loop, concurrency {r.Concurrency})");
        Line();
        if (charts.FirstOrDefault(c => c.EndsWith("throughput.svg", StringComparison.Ordinal)) is { } throughputChart)
        {
            Line($"![Ingest throughput]({throughputChart})");
            Line();
        }

        Table(md, r.Phases.Where(p => p.Spec.ClosedLoop).ToList());
        Line();
        Line("### Latency at fixed offered rates (open loop)");
        Line();
        if (charts.FirstOrDefault(c => c.EndsWith("latency.svg", StringComparison.Ordinal)) is { } latencyChart)
        {
            Line($"![Latency]({latencyChart})");
            Line();
        }

        Table(md, r.Phases.Where(p => !p.Spec.ClosedLoop).ToList());
        Line();
        PerDeliveryTable(md, r.Phases.Where(p => p.DeliveriesInCpuWindow > 0).ToList(), r.Machine.Cores);
        LedgerTable(md, r);
        foreach (var (file, title) in new[] { ("growth-targets.svg", "Growth with targets"), ("growth-size.svg", "Growth with event size") })
        {
            if (charts.FirstOrDefault(c => c.EndsWith(file, StringComparison.Ordinal)) is { } chart)
            {
                Line($"### {title}");
                Line();
                Line($"![{title}]({chart})");
                Line();
            }
        }

        Line("### Warm-up");
        Line();
        Line("| Process (first phase) | warm-up s | events | JIT methods/s at the end (subject / harness) | settled | JIT methods during each window |");
        Line("|---|---:|---:|---|---|---|");
        foreach (var group in r.Phases.GroupBy(p => p.Warmup))
        {
            var first = group.First();
            if (first.Warmup is not { } w)
            {
                continue;
            }

            Line($"| {Subject(first.Spec.Subject)}{(first.Spec.Targets > 0 ? $", {first.Spec.Targets} target(s)" : "")} ({first.Spec.Name}) | {w.Seconds:F0} | {w.Events} | {F(w.SubjectJitPerSecond, "F0")} / {F(w.HarnessJitPerSecond, "F0")} | {(w.Settled ? "yes" : "**no**")} | {string.Join(", ", group.Select(p => $"{p.Spec.Name}: {p.JitMethodsInWindow?.ToString(CultureInfo.InvariantCulture) ?? "–"}"))} |");
        }

        Line();
        Line("### Where the CPU went");
        Line();
        Line("Cores in use during each window (CPU seconds ÷ window seconds), of the machine's " + r.Machine.Cores + ":");
        Line();
        Line("| Phase | subject | RabbitMQ | harness (load + targets) | other | machine busy |");
        Line("|---|---:|---:|---:|---:|---:|");
        foreach (var p in r.Phases)
        {
            var w = Math.Max(0.001, p.CpuWindowSeconds);
            var subject = p.Spec.Subject == SubjectKind.Bare ? "(in harness)" : F(p.SubjectCpuSeconds / w, "F2");
            Line($"| {p.Spec.Name} | {subject} | {F(p.BrokerCpuSeconds / w, "F2")} | {F(p.HarnessCpuSeconds / w, "F2")} | {F(p.OtherCpuSeconds / w, "F2")} | {F(p.MachineBusySeconds / w, "F2")} |");
        }

        Line();
        if (baseline is not null)
        {
            Line("## Before and after");
            Line();
            Line($"Baseline: run of {baseline.StartedAt:yyyy-MM-dd HH:mm} UTC at commit `{baseline.GitCommit}` (`{baseline.Command}`), same machine.");
            Line();
            Line("| Phase | ingest/s before → after | deliveries/s before → after | ingest p99 ms before → after | e2e p99 ms before → after | worker CPU s/1000 before → after | worker / broker CPU ms per delivery before → after | allocated KB/event before → after | allocated KB/delivery before → after | peak RSS MB before → after |");
            Line("|---|---|---|---|---|---|---|---|---|---|");
            foreach (var p in r.Phases)
            {
                if (baseline.Find(p.Spec.Name) is not { } b || p.Spec.Subject is SubjectKind.Bare or SubjectKind.Tutorial)
                {
                    continue;
                }

                Line($"| {p.Spec.Name} | {F(b.IngestPerSecond, "F0")} → {F(p.IngestPerSecond, "F0")} | {F(b.DeliveriesPerSecond, "F0")} → {F(p.DeliveriesPerSecond, "F0")} | {Ms(b.Ingest?.P99)} → {Ms(p.Ingest?.P99)} | " +
                     $"{Ms(b.EndToEnd?.P99)} → {Ms(p.EndToEnd?.P99)} | {F(b.SubjectCpuPer1000, "F2")} → {F(p.SubjectCpuPer1000, "F2")} | " +
                     $"{F(b.SubjectCpuMsPerDelivery, "F3")} / {F(b.BrokerCpuMsPerDelivery, "F3")} → {F(p.SubjectCpuMsPerDelivery, "F3")} / {F(p.BrokerCpuMsPerDelivery, "F3")} | " +
                     $"{F(Positive(b.AllocatedBytesPerEvent) / 1024, "F1")} → {F(Positive(p.AllocatedBytesPerEvent) / 1024, "F1")} | {F(Positive(b.AllocatedBytesPerDelivery) / 1024, "F1")} → {F(Positive(p.AllocatedBytesPerDelivery) / 1024, "F1")} | {F(b.PeakRssBytes / MiB, "F0")} → {F(p.PeakRssBytes / MiB, "F0")} |");
            }

            Line();
        }

        if (notes is not null)
        {
            Line(notes.TrimEnd());
            Line();
        }

        if (micro is not null)
        {
            Line(micro.TrimEnd());
        }
        else
        {
            Line("## Micro-benchmarks");
            Line();
            Line("<!-- Filled from tests/SyncWorker.Benchmarks/RESULTS.md (BenchmarkDotNet) when that file exists. -->");
            Line("_Not yet run: the BenchmarkDotNet micro-benchmarks are reported here from tests/SyncWorker.Benchmarks/RESULTS.md._");
        }

        return md.ToString();
    }

    /// <summary>Cost per delivery (event × target) received in the window, and the machine's idle share.</summary>
    private static void PerDeliveryTable(StringBuilder md, List<PhaseResult> phases, int cores)
    {
        if (phases.Count == 0)
        {
            return;
        }

        md.Append("### Per delivery\n\n");
        md.Append("| Phase | deliveries in window | worker CPU ms/delivery | broker CPU ms/delivery | worker allocated KB/delivery | machine idle |\n");
        md.Append("|---|---:|---:|---:|---:|---:|\n");
        foreach (var p in phases)
        {
            md.Append(CultureInfo.InvariantCulture, $"| {p.Spec.Name} | {p.DeliveriesInCpuWindow} | {F(p.SubjectCpuMsPerDelivery, "F3")} | {F(p.BrokerCpuMsPerDelivery, "F3")} | {F(Positive(p.AllocatedBytesPerDelivery) / 1024, "F1")} | {F(p.IdleShare(cores) * 100, "F0")} % |\n");
        }

        md.Append('\n');
    }

    /// <summary>
    /// Each worker phase with a delivery ledger beside the same phase without one (--store none, same run): deliveries/s
    /// and their ratio, end-to-end p99, queue trend, and the CPU of other processes (PostgreSQL's server among them).
    /// </summary>
    private static void LedgerTable(StringBuilder md, RunResults r)
    {
        var pairs = LedgerPairs(r);
        if (pairs.Count == 0)
        {
            return;
        }

        md.Append("### The delivery ledger's cost (same phase, same run)\n\n");
        md.Append("| Phase | store | deliveries/s | without ledger | ratio | e2e p99 ms | queue trend msg/s | worker CPU ms/delivery (without) | PostgreSQL CPU, cores (ms/delivery) | other processes' CPU, cores |\n");
        md.Append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        foreach (var (with, without) in pairs)
        {
            md.Append(CultureInfo.InvariantCulture, $"| {with.Spec.Name} | {with.Spec.Store} | {F(with.DeliveriesPerSecond, "F0")} | {F(without.DeliveriesPerSecond, "F0")} | ");
            md.Append(CultureInfo.InvariantCulture, $"{F(with.DeliveriesPerSecond / without.DeliveriesPerSecond * 100, "F0")} % | {Ms(with.EndToEnd?.P99)} | {F(with.Queues?.SlopePerSecond, "+0.0;-0.0")} | ");
            md.Append(CultureInfo.InvariantCulture, $"{F(with.SubjectCpuMsPerDelivery, "F3")} ({F(without.SubjectCpuMsPerDelivery, "F3")}) | ");
            md.Append(CultureInfo.InvariantCulture, $"{F(with.DatabaseCpuSeconds / Math.Max(0.001, with.CpuWindowSeconds), "F2")} ({F(with.DatabaseCpuSeconds * 1000 / with.DeliveriesInCpuWindow, "F3")}) | ");
            md.Append(CultureInfo.InvariantCulture, $"{F(with.OtherCpuSeconds / Math.Max(0.001, with.CpuWindowSeconds), "F2")} |\n");
        }

        md.Append('\n');
    }

    /// <summary>(phase with a ledger, the same phase with none), for every phase run both ways.</summary>
    private static List<(PhaseResult With, PhaseResult Without)> LedgerPairs(RunResults r)
    {
        var suffix = LedgerStore.Suffix(LedgerStore.None);
        return r.Phases
            .Where(p => p.Spec.Store is { } store && store != LedgerStore.None)
            .Select(p => (With: p, Without: r.Find(p.Spec.Name[..^LedgerStore.Suffix(p.Spec.Store!).Length] + suffix)))
            .Where(pair => pair.Without is not null)
            .Select(pair => (pair.With, pair.Without!))
            .ToList();
    }

    private static void Table(StringBuilder md, List<PhaseResult> phases)
    {
        md.Append("| Phase | subject | targets | event | load | accepted/s | ingest p50 / p99 / p99.9 ms | e2e p50 / p99 ms | deliveries/s | CPU s/1000 (subject / broker) | allocated KB/event | peak RSS MB | queued start→end (max) | not 200 |\n");
        md.Append("|---|---|---:|---:|---|---:|---|---|---:|---|---:|---:|---|---|\n");
        foreach (var p in phases)
        {
            var load = p.Spec.Rate is { } rate ? $"{rate:0}/s offered" : $"{p.Concurrency} concurrent";
            var e2e = p.EndToEnd is { } e ? $"{Ms(e.P50)} / {Ms(e.P99)}" + (e.Missing > 0 ? $" ({e.Missing} late)" : "") : "–";
            var q = p.Queues is { } d ? $"{d.Start}→{d.End} ({d.Max})" : "–";
            var refused = string.Join(' ', p.Statuses.Where(s => s.Key != "200").Select(s => $"{(s.Key == "0" ? "no answer" : s.Key)}×{s.Value}"));
            md.Append(CultureInfo.InvariantCulture, $"| {p.Spec.Name}{(p.RanOut ? " ¹" : "")} | {Subject(p.Spec.Subject)} | {p.Spec.Targets} | {p.Spec.SizeBytes / 1024} KB | {load} | {p.IngestPerSecond:F0} | ");
            md.Append(CultureInfo.InvariantCulture, $"{Ms(p.Ingest?.P50)} / {Ms(p.Ingest?.P99)} / {Ms(p.Ingest?.P999)} | {e2e} | {F(p.DeliveriesPerSecond, "F0")} | ");
            md.Append(CultureInfo.InvariantCulture, $"{F(p.SubjectCpuPer1000, "F2")} / {F(p.BrokerCpuPer1000, "F2")} | {F(Positive(p.AllocatedBytesPerEvent) / 1024, "F0")} | {F(p.PeakRssBytes / MiB, "F0")} | {q} | {(refused.Length == 0 ? "0" : refused)} |\n");
        }

        if (phases.Any(p => p.RanOut))
        {
            md.Append("\n¹ The pre-signed events ran out before the window's end; the window was shortened to the last send.\n");
        }
    }

    private static string Subject(SubjectKind kind) => kind switch
    {
        SubjectKind.Worker => "SyncWorker",
        SubjectKind.ReceiverOnly => "SyncWorker receive-only",
        SubjectKind.Bare => "bare RabbitMQ.Client",
        _ => "SDK tutorial",
    };

    private static string Ms(double? value) => value switch
    {
        null => "–",
        { } v when double.IsInfinity(v) => "∞",
        { } v when v < 10 => v.ToString("F2", CultureInfo.InvariantCulture),
        { } v => v.ToString("F1", CultureInfo.InvariantCulture),
    };

    /// <summary>An allocation figure that did not move (results written before the harness checked for that) is unknown, not 0.</summary>
    private static double? Positive(double? value) => value > 0 ? value : null;

    private static string F(double? value, string format) => value is { } v && double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "–";
}
