using System.Globalization;

namespace SyncWorker.LoadHarness;

/// <summary>Command-line options.</summary>
internal sealed class HarnessOptions
{
    public const string Usage = """
        dotnet run -c Release --project tests/SyncWorker.LoadHarness -- [options]
          --quick                 the short run (about 2 minutes): references and SyncWorker at 8 KB, 500/s with 1 and 4 targets
          --out DIR               results.json and the SVG charts (default docs/benchmarks)
          --report FILE           the markdown report (default docs/BENCHMARKS.md)
          --concurrency N         closed-loop senders (default 32)
          --rates A,B,C           open-loop offered rates, events/s (default 250,500,1000)
          --warmup S              minimum warm-up of each process, s (default 10; quick 5); warm-up goes on until the
                                  subject and the harness JIT-compile < 20 methods/s, at most --max-warmup S (default 90; quick 20)
          --lead-in S --measure S seconds of load before each window, and of the window (default 3 and 12; quick 2 and 5)
          --grace S               seconds to wait for deliveries after the window (default 10; quick 5)
          --bare-channels N       channels of the bare publisher (default 1)
          --only A,B              only these phases (a trailing * matches a prefix: worker-1t-8k*)
          --store A,B             the delivery ledger of worker phases: sqlite (default: the worker's own default),
                                  postgres (a private PostgreSQL cluster with production durability, started by the
                                  harness in a temporary folder and removed after), none (Benchmark:WithoutLedger: the
                                  baseline); each store runs every worker phase in a process of its own, back to back;
                                  phase names get the suffix -noledger or -postgres (sqlite keeps the plain name)
          --target-concurrency N  every target's MaxConcurrency (deliveries in flight per target; the worker's
                                  default 4 when not given), in every worker phase
          --worker-setting K=V    extra worker configuration (repeatable), for experiments
          --baseline FILE         an earlier results.json to compare with in the report (before/after)
          --report-from FILE      write the report and charts from a results.json, without running anything
        Many targets on one broker (issue 15), a mode of its own: `-- scale --targets 2000 --queue-type quorum` (see ScaleScenario.Usage)
        """;

    public bool Quick { get; private set; }

    public string OutDirectory { get; private set; } = Path.Combine("docs", "benchmarks");

    public string ReportPath { get; private set; } = Path.Combine("docs", "BENCHMARKS.md");

    public int Concurrency { get; private set; } = 32;

    public int OpenLoopConnections { get; private set; } = 128;

    public IReadOnlyList<int> Rates { get; private set; } = [250, 500, 1000];

    public TimeSpan Warmup { get; private set; }

    public TimeSpan Measure { get; private set; }

    public TimeSpan MaxWarmup { get; private set; }

    public TimeSpan LeadIn { get; private set; }

    public TimeSpan Grace { get; private set; }

    public int BareChannels { get; private set; } = 1;

    public IReadOnlyList<string>? Only { get; private set; }

    public Dictionary<string, string> WorkerSettings { get; } = new(StringComparer.Ordinal);

    /// <summary>Every target's <c>MaxConcurrency</c>, or null for the worker's default.</summary>
    public int? TargetConcurrency { get; private set; }

    /// <summary>The ledger stores of worker phases, in the order they run (<see cref="LedgerStore"/>).</summary>
    public IReadOnlyList<string> Stores { get; private set; } = [LedgerStore.Sqlite];

    public string? Baseline { get; private set; }

    public string? ReportFrom { get; private set; }

    public string LogDirectory { get; } = Path.Combine(Path.GetTempPath(), "syncworker-loadharness", DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));

    public static HarnessOptions Parse(string[] args)
    {
        var options = new HarnessOptions();
        double? warmup = null, measure = null, grace = null, maxWarmup = null, leadIn = null;
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--quick": options.Quick = true; break;
                case "--out": options.OutDirectory = Value(); break;
                case "--report": options.ReportPath = Value(); break;
                case "--concurrency": options.Concurrency = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--rates": options.Rates = Value().Split(',').Select(r => int.Parse(r, CultureInfo.InvariantCulture)).ToList(); break;
                case "--warmup": warmup = double.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--measure": measure = double.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--max-warmup": maxWarmup = double.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--lead-in": leadIn = double.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--grace": grace = double.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--bare-channels": options.BareChannels = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--only": options.Only = Value().Split(',', StringSplitOptions.RemoveEmptyEntries); break;
                case "--store":
                    options.Stores = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                        .Select(LedgerStore.Parse).Distinct(StringComparer.Ordinal).ToList();
                    break;
                case "--target-concurrency":
                    options.TargetConcurrency = int.Parse(Value(), CultureInfo.InvariantCulture);
                    break;
                case "--worker-setting":
                    var pair = Value().Split('=', 2);
                    if (pair.Length != 2)
                    {
                        throw new ArgumentException("--worker-setting takes Key=Value.");
                    }

                    options.WorkerSettings[pair[0]] = pair[1];
                    break;
                case "--baseline": options.Baseline = Value(); break;
                case "--report-from": options.ReportFrom = Value(); break;
                default: throw new ArgumentException($"Unknown option {args[i]}.");
            }
        }

        options.Warmup = TimeSpan.FromSeconds(warmup ?? (options.Quick ? 5 : 10));
        options.MaxWarmup = TimeSpan.FromSeconds(Math.Max(maxWarmup ?? (options.Quick ? 20 : 90), options.Warmup.TotalSeconds));
        options.LeadIn = TimeSpan.FromSeconds(leadIn ?? (options.Quick ? 2 : 3));
        options.Measure = TimeSpan.FromSeconds(measure ?? (options.Quick ? 5 : 12));
        options.Grace = TimeSpan.FromSeconds(grace ?? (options.Quick ? 5 : 10));
        return options;
    }
}

/// <summary>The delivery ledger a worker phase runs with.</summary>
internal static class LedgerStore
{
    public const string None = "none";
    public const string Sqlite = "sqlite";
    public const string Postgres = "postgres";

    public static string Parse(string text) => text.ToLowerInvariant() switch
    {
        None or "noledger" => None,
        Sqlite => Sqlite,
        Postgres or "postgresql" => Postgres,
        _ => throw new ArgumentException($"--store takes none, sqlite or postgres (got '{text}')."),
    };

    /// <summary>
    /// The phase name's suffix for a store: none for SQLite, the worker's default (so the phases keep their names, and the
    /// report's charts and goals find them), <c>-noledger</c> or <c>-postgres</c> for the others.
    /// </summary>
    public static string Suffix(string store) => store switch
    {
        None => "-noledger",
        Sqlite => "",
        _ => "-" + store,
    };
}
