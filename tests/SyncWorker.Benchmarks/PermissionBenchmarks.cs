using BenchmarkDotNet.Attributes;
using SyncWorker.Manifest;

namespace SyncWorker.Benchmarks;

/// <summary>
/// <c>PermissionPolicy.Evaluate</c> against the repository's manifest and the embedded event-permission table.
/// It reads only the event type, so the event size does not matter here.
/// </summary>
[MemoryDiagnoser]
public class PermissionBenchmarks
{
    private PermissionPolicy _policy = null!;

    [GlobalSetup]
    public void Setup()
    {
        _policy = new PermissionPolicy(Payloads.Manifest(), EventPermissionTable.LoadEmbedded());
        if (!Allowed().IsAllowed || NotGranted().IsAllowed || Unknown().IsAllowed)
        {
            throw new InvalidOperationException("The manifest's decisions are not the expected ones.");
        }
    }

    /// <summary>A permitted type (event_read + checkout_session_read).</summary>
    [Benchmark(Baseline = true)]
    public PermissionDecision Allowed() => _policy.Evaluate("checkout.session.completed");

    /// <summary>A known type the manifest does not grant (precomputed refusal).</summary>
    [Benchmark]
    public PermissionDecision NotGranted() => _policy.Evaluate("invoice.paid");

    /// <summary>A type not in the table (refusal built per call).</summary>
    [Benchmark]
    public PermissionDecision Unknown() => _policy.Evaluate("checkout.session.teleported");
}
