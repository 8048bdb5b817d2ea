using System.Text.Json;
using System.Text.Json.Serialization;

namespace SyncWorker.LoadHarness;

/// <summary>What a phase drives.</summary>
internal enum SubjectKind
{
    /// <summary>SyncWorker, receive and forward (Worker:Role All).</summary>
    Worker,

    /// <summary>SyncWorker with Worker:Role Receiver: ingest only, nothing consumed.</summary>
    ReceiverOnly,

    /// <summary>RabbitMQ.Client alone, in the harness process: the ceiling.</summary>
    Bare,

    /// <summary>The Stripe.net tutorial receiver with MassTransit.</summary>
    Tutorial,
}

/// <summary>
/// One phase of the run: what is driven, how, with which events; for a worker that forwards, the store of its delivery
/// ledger (<see cref="LedgerStore"/>; null in results written before the harness chose it).
/// </summary>
internal sealed record PhaseSpec(string Name, SubjectKind Subject, int Targets, int SizeBytes, double? Rate, string? Store = null)
{
    public bool ClosedLoop => Rate is null;
}

/// <summary>Percentiles in milliseconds; Count is how many samples, Missing how many never completed (counted as +∞).</summary>
internal sealed record Percentiles(long Count, long Missing, double P50, double P90, double P99, double P999, double Max)
{
    public static Percentiles? Of(List<double> samples, long missing)
    {
        if (samples.Count + missing == 0)
        {
            return null;
        }

        samples.Sort();
        var n = samples.Count + missing;
        double At(double q)
        {
            var rank = (long)Math.Ceiling(q * n) - 1;
            rank = Math.Clamp(rank, 0, n - 1);
            return rank < samples.Count ? samples[(int)rank] : double.PositiveInfinity;
        }

        return new Percentiles(samples.Count, missing, At(0.50), At(0.90), At(0.99), At(0.999), missing > 0 ? double.PositiveInfinity : samples[^1]);
    }
}

/// <summary>How the subject process was warmed up before its first phase.</summary>
/// <param name="Seconds">Warm-up duration.</param>
/// <param name="Events">Events sent during it.</param>
/// <param name="SubjectJitPerSecond">Methods the subject JIT-compiled per second in the last round.</param>
/// <param name="HarnessJitPerSecond">The same for the harness.</param>
/// <param name="Settled">False when --max-warmup ended it before compilation settled.</param>
internal sealed record WarmupInfo(double Seconds, long Events, double SubjectJitPerSecond, double HarnessJitPerSecond, bool Settled);

/// <summary>Ready messages in the subject's queues over the window.</summary>
internal sealed record QueueDepths(long Start, long End, long Max, double SlopePerSecond, int Samples);

/// <summary>Measured figures of one phase.</summary>
internal sealed record PhaseResult
{
    public required PhaseSpec Spec { get; init; }

    public required int Concurrency { get; init; }

    public required double WindowSeconds { get; init; }

    public required bool RanOut { get; init; }

    /// <summary>Sends intended inside the window.</summary>
    public required long Sent { get; init; }

    /// <summary>Of those, answered 200 (confirmed by the broker).</summary>
    public required long Accepted { get; init; }

    /// <summary>Answers of the window's sends by status ("0" = no answer).</summary>
    public required Dictionary<string, long> Statuses { get; init; }

    /// <summary>Answers 200 that completed inside the window, per second.</summary>
    public required double IngestPerSecond { get; init; }

    public required Percentiles? Ingest { get; init; }

    /// <summary>Webhook sent (scheduled, in open loop) to receipt at a target, per delivery; missing = not received within the grace.</summary>
    public Percentiles? EndToEnd { get; init; }

    public double? GraceSeconds { get; init; }

    /// <summary>Deliveries (event × target) received by the targets inside the window, per second.</summary>
    public double? DeliveriesPerSecond { get; init; }

    /// <summary>Open loop: p99 of how late the generator started a send after its due time, ms.</summary>
    public double? GeneratorLagP99Ms { get; init; }

    /// <summary>Length of the CPU window (the measured window), s.</summary>
    public required double CpuWindowSeconds { get; init; }

    /// <summary>CPU seconds of the subject process in the window (the harness's own for the bare publisher).</summary>
    public required double SubjectCpuSeconds { get; init; }

    public required double BrokerCpuSeconds { get; init; }

    public required double HarnessCpuSeconds { get; init; }

    public required double MachineBusySeconds { get; init; }

    /// <summary>CPU seconds of the ledger's PostgreSQL server in the window (part of <see cref="OtherCpuSeconds"/>); null without one.</summary>
    public double? DatabaseCpuSeconds { get; init; }

    /// <summary>Machine CPU seconds not used by subject, broker or harness (other work on the machine).</summary>
    public required double OtherCpuSeconds { get; init; }

    /// <summary>Answers 200 completed in the CPU window (the denominator of the per-1000 figures).</summary>
    public required long AcceptedInCpuWindow { get; init; }

    public double? SubjectCpuPer1000 => AcceptedInCpuWindow > 0 ? SubjectCpuSeconds * 1000 / AcceptedInCpuWindow : null;

    public double? BrokerCpuPer1000 => AcceptedInCpuWindow > 0 ? BrokerCpuSeconds * 1000 / AcceptedInCpuWindow : null;

    /// <summary>Deliveries the targets received inside the CPU window (the denominator of the per-delivery figures).</summary>
    public long? DeliveriesInCpuWindow { get; init; }

    /// <summary>Subject CPU per delivery received in the window, ms.</summary>
    public double? SubjectCpuMsPerDelivery => DeliveriesInCpuWindow > 0 ? SubjectCpuSeconds * 1000 / DeliveriesInCpuWindow : null;

    /// <summary>Broker CPU per delivery received in the window, ms (it also pays for the intake hop of each event).</summary>
    public double? BrokerCpuMsPerDelivery => DeliveriesInCpuWindow > 0 ? BrokerCpuSeconds * 1000 / DeliveriesInCpuWindow : null;

    /// <summary>Bytes the subject allocated in the window per delivery received.</summary>
    public double? AllocatedBytesPerDelivery { get; init; }

    /// <summary>
    /// CPU seconds the machine was busy in the window: the larger of /proc/stat's busy time and the CPU of subject, broker
    /// and harness (/proc/stat reads low in this virtual machine at light load).
    /// </summary>
    public double? UsedCpuSeconds { get; init; }

    /// <summary>Share of the machine's CPU (<paramref name="cores"/> cores) left idle in the window.</summary>
    public double? IdleShare(int cores) => UsedCpuSeconds is { } used && cores > 0 && CpuWindowSeconds > 0
        ? 1 - (used / (cores * CpuWindowSeconds))
        : null;

    /// <summary>Highest VmRSS sampled (every 200 ms) during the phase, bytes.</summary>
    public long? PeakRssBytes { get; init; }

    /// <summary>VmHWM of the subject at the end of the phase (its lifetime peak), bytes.</summary>
    public long? VmHwmBytes { get; init; }

    public QueueDepths? Queues { get; init; }

    /// <summary>Deliveries received more than once (allowed: at-least-once).</summary>
    public long? DuplicateDeliveries { get; init; }

    public string? Note { get; init; }

    /// <summary>The warm-up of the process this phase ran in (shared by the phases of one process).</summary>
    public WarmupInfo? Warmup { get; init; }

    /// <summary>Methods the subject JIT-compiled during the window (near 0 in a steady state).</summary>
    public long? JitMethodsInWindow { get; init; }

    /// <summary>Bytes the subject allocated in the window per event accepted (for the bare publisher: the harness's).</summary>
    public double? AllocatedBytesPerEvent { get; init; }
}

/// <summary>The machine and software the run used.</summary>
internal sealed record MachineInfo(string CpuModel, int Cores, double MemoryGiB, string Os, string Kernel, string Dotnet, string RabbitMq, string Erlang);

/// <summary>Everything a run produced; docs/BENCHMARKS.md and the charts are written from this alone.</summary>
internal sealed record RunResults
{
    public required string Command { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    public required double DurationSeconds { get; set; }

    public required string GitCommit { get; init; }

    public required bool Quick { get; init; }

    public required int Concurrency { get; init; }

    public required int BareChannels { get; init; }

    /// <summary>Minimum warm-up of each process, s.</summary>
    public required double WarmupSeconds { get; init; }

    /// <summary>Maximum warm-up of each process, s.</summary>
    public required double MaxWarmupSeconds { get; init; }

    /// <summary>Load before each phase's window, s.</summary>
    public required double LeadInSeconds { get; init; }

    public required double MeasureSeconds { get; init; }

    public required MachineInfo Machine { get; init; }

    public List<PhaseResult> Phases { get; init; } = [];

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    public PhaseResult? Find(string name) => Phases.FirstOrDefault(p => p.Spec.Name == name);
}
