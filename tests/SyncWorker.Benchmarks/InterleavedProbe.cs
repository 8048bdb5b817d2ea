using System.Diagnostics;
using System.Globalization;

namespace SyncWorker.Benchmarks;

/// <summary>
/// <c>--interleaved</c>: the receive goals measured robustly on a busy machine. The contenders of
/// <see cref="ReceiveBenchmarks"/> run in turn, round after round, in one process, and each keeps its fastest
/// round; background load then hits all of them alike instead of whichever BenchmarkDotNet happened to be running.
/// </summary>
internal static class InterleavedProbe
{
    public static void Run(int rounds = 40)
    {
        foreach (int size in new[] { 1, 8, 64 })
        {
            var bench = new ReceiveBenchmarks { SizeKB = size };
            bench.Setup();
            (string Name, Action Run)[] contenders =
            [
                ("BareHmac", () => bench.BareHmac()),
                ("SyncWorkerVerifyAndEnvelope", () => bench.SyncWorkerVerifyAndEnvelope()),
                ("SyncWorkerVerifyOnly", () => bench.SyncWorkerVerifyOnly()),
                ("SyncWorkerEnvelopeOnly", () => bench.SyncWorkerEnvelopeOnly()),
                ("StripeNetValidateSignature", bench.StripeNetValidateSignature),
                ("StripeNetConstructEvent", () => bench.StripeNetConstructEvent()),
            ];
            var best = new double[contenders.Length];
            Array.Fill(best, double.MaxValue);
            for (int round = 0; round < rounds; round++)
            {
                for (int c = 0; c < contenders.Length; c++)
                {
                    // About 20 ms per contender and round (ConstructEvent is ~100x slower than the rest).
                    int calls = c == contenders.Length - 1 ? Math.Max(5, 200 / size) : Math.Max(50, 20_000 / size);
                    var clock = Stopwatch.StartNew();
                    for (int i = 0; i < calls; i++)
                    {
                        contenders[c].Run();
                    }

                    best[c] = Math.Min(best[c], clock.Elapsed.TotalMicroseconds / calls);
                }
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {size} KB | ") + string.Join(
                " | ",
                contenders.Select((c, i) => string.Create(CultureInfo.InvariantCulture, $"{c.Name} {best[i]:F2} µs ({best[i] / best[0]:F2}x)"))) + " |");
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"|   goals | ConstructEvent / SyncWorker = {best[5] / best[1]:F1}x (goal >= 7) | SyncWorker / BareHmac = {best[1] / best[0]:F2}x (goal <= 2) |"));
        }
    }
}
