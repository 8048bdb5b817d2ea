using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

namespace SyncWorker.Benchmarks;

/// <summary>
/// Runs the benchmarks. Every BenchmarkDotNet option works (<c>--filter</c>, <c>--job</c>, <c>--list flat</c>, …);
/// <c>--quick</c> adds a short job (1 launch, 3 warm-ups, 8 iterations of about 100 ms) so that the whole set
/// finishes in a few minutes. Run in Release:
/// <c>dotnet run -c Release --project tests/SyncWorker.Benchmarks -- --filter '*' --quick</c>.
/// <c>--interleaved</c> (alone) runs <see cref="InterleavedProbe"/> instead: the receive goals, robust to background load.
/// </summary>
internal static class Program
{
    private const string QuickOption = "--quick";
    private const string InterleavedOption = "--interleaved";

    public static void Main(string[] args)
    {
        if (args.Contains(InterleavedOption, StringComparer.Ordinal))
        {
            InterleavedProbe.Run();
            return;
        }

        IConfig config = DefaultConfig.Instance.AddColumn(StatisticColumn.Median, StatisticColumn.Min);
        if (args.Contains(QuickOption, StringComparer.Ordinal))
        {
            args = [.. args.Where(a => a != QuickOption)];
            config = config.AddJob(Job.Default
                .WithId("Quick")
                .WithLaunchCount(1)
                .WithWarmupCount(3)
                .WithIterationCount(8)
                .WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(100)));
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
    }
}
