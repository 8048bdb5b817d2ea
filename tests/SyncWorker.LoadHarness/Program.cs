using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SyncWorker.LoadHarness;
using SyncWorker.Testing;

if (args.Length > 0 && args[0] == TutorialReceiver.Mode)
{
    return await TutorialReceiver.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == ScaleScenario.Mode)
{
    return await ScaleScenario.RunAsync(args[1..]);
}

HarnessOptions options;
try
{
    options = HarnessOptions.Parse(args);
}
catch (ArgumentException exception)
{
    Console.Error.WriteLine(exception.Message);
    Console.Error.WriteLine(HarnessOptions.Usage);
    return 2;
}

if (options.ReportFrom is { } resultsPath)
{
    var stored = JsonSerializer.Deserialize<RunResults>(await File.ReadAllTextAsync(resultsPath), RunResults.Json)!;
    var baseline = options.Baseline is { } b ? JsonSerializer.Deserialize<RunResults>(await File.ReadAllTextAsync(b), RunResults.Json) : null;
    await Report.WriteAsync(stored, baseline, options);
    return 0;
}

var clock = Stopwatch.StartNew();
var plan = Runner.Plan(options);
var results = new RunResults
{
    Command = "dotnet run -c Release --project tests/SyncWorker.LoadHarness" + (args.Length > 0 ? " -- " + string.Join(' ', args) : ""),
    StartedAt = DateTimeOffset.UtcNow,
    DurationSeconds = 0,
    GitCommit = Machine.GitCommit(),
    Quick = options.Quick,
    Concurrency = options.Concurrency,
    BareChannels = options.BareChannels,
    WarmupSeconds = options.Warmup.TotalSeconds,
    MaxWarmupSeconds = options.MaxWarmup.TotalSeconds,
    LeadInSeconds = options.LeadIn.TotalSeconds,
    MeasureSeconds = options.Measure.TotalSeconds,
    Machine = Machine.Describe(),
};
Console.WriteLine($"Load harness: {plan.Sum(g => g.Phases.Count)} phases in {plan.Count} processes; warm-up {options.Warmup.TotalSeconds}-{options.MaxWarmup.TotalSeconds} s per process, lead-in {options.LeadIn.TotalSeconds} s + window {options.Measure.TotalSeconds} s per phase; logs in {options.LogDirectory}");
Console.WriteLine($"Machine: {results.Machine.CpuModel}, {results.Machine.Cores} cores, {results.Machine.MemoryGiB:F1} GiB; {results.Machine.Dotnet}; RabbitMQ {results.Machine.RabbitMq}");

// The ledger on PostgreSQL: a private cluster with production durability, in a temporary folder removed at the end.
var postgres = plan.Any(g => g.Store == LedgerStore.Postgres) ? await PostgresServer.LaunchAsync(durable: true) : null;
if (postgres is not null)
{
    Console.WriteLine($"PostgreSQL: private cluster on port {postgres.Port} (fsync and synchronous_commit on)");
}

await using (postgres)
await using (var node = await RabbitMqNode.LaunchAsync())
await using (var targets = await FastTargets.StartAsync())
{
    var runner = new Runner(options, node, targets, postgres);
    foreach (var group in plan)
    {
        results.Phases.AddRange(await runner.RunAsync(group));
    }
}

results.DurationSeconds = clock.Elapsed.TotalSeconds;
var baselineResults = options.Baseline is { } baselinePath ? JsonSerializer.Deserialize<RunResults>(await File.ReadAllTextAsync(baselinePath), RunResults.Json) : null;
await Report.WriteAsync(results, baselineResults, options);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Done in {clock.Elapsed.TotalMinutes:F1} min: {Path.Combine(options.OutDirectory, "results.json")}, {options.ReportPath}"));
return 0;
