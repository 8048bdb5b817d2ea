using SyncWorker.Contracts;

namespace SyncWorker.Operations.Status;

/// <summary>The <c>status</c> document: what the broker and the workers said at <paramref name="At"/>. JSON, camelCase.</summary>
/// <param name="At">When it was taken (this machine's clock).</param>
/// <param name="Intake"><c>syncworker.intake</c>: accepted events waiting for the dispatcher, and its consumers.</param>
/// <param name="IntakeDeadLetters"><c>syncworker.intake_error</c>: events the dispatcher could not hand on.</param>
/// <param name="Targets">Each configured target, in configuration order.</param>
/// <param name="Receiver">Webhook outcomes summed over the receiving instances that answered; null when none did.</param>
/// <param name="Workers">Each worker asked, in the order given.</param>
/// <param name="Warnings">What an operator should know (unreachable workers, a refused token, no workers configured).</param>
/// <param name="Poison">
/// <c>syncworker.poison</c>: messages RabbitMQ dead-lettered from the intake or a target queue at the delivery limit;
/// <c>exists</c> false when the deploy/rabbitmq definitions are not applied.
/// </param>
/// <param name="DelayQueues">The shared delay queues (<c>syncworker.wait.{N}s</c>) of the targets' schedules that exist,
/// shortest wait first, with their depth: every target's deliveries waiting for a redelivery together.</param>
internal sealed record StatusReport(
    DateTimeOffset At,
    QueueDepth Intake,
    QueueDepth IntakeDeadLetters,
    IReadOnlyList<TargetSummary> Targets,
    ReceiverSummary? Receiver,
    IReadOnlyList<WorkerSummary> Workers,
    IReadOnlyList<string> Warnings,
    QueueDepth Poison,
    IReadOnlyList<QueueDepth> DelayQueues)
{
    /// <summary>True when a worker refused the token: <c>status</c> then exits 1.</summary>
    public bool TokenRefused => Workers.Any(worker => worker.State == WorkerSummary.Unauthorized);
}

/// <summary>One target: broker numbers, and instance numbers combined over the instances that answered.</summary>
/// <param name="Name">The target.</param>
/// <param name="Mode"><c>live</c> or <c>test</c>: the configuration's, else what an instance reported.</param>
/// <param name="Format"><c>order</c> or <c>event</c>, from the configuration.</param>
/// <param name="Paused">The pause marker exists.</param>
/// <param name="Queue">The target queue.</param>
/// <param name="QueueExists">False until a worker declared the target queue.</param>
/// <param name="Ready">Deliveries waiting in the target queue for a forwarder.</param>
/// <param name="Consumers">Consumers of the target queue (one per consuming instance, normally).</param>
/// <param name="RetryWaiting">Deliveries waiting for a redelivery, from the delivery ledger: rows in state <c>retrying</c>
/// or <c>waiting</c>; null when the store could not be read (a warning says why).</param>
/// <param name="EarlierDelayQueues">The target's own delay queues left by earlier versions that still exist, with their
/// depth: their messages still come back to the target; delete them once empty.</param>
/// <param name="DeadLetters">Messages in the target's dead-letter queue.</param>
/// <param name="Circuit">The worst circuit state among the instances (<c>Open</c> when any is open); null without instance data.</param>
/// <param name="CircuitByInstance">Each instance's circuit state.</param>
/// <param name="InFlight">Deliveries being attempted now, summed over the instances; null without instance data.</param>
/// <param name="ForwardingInstances">Instances that answered and forward to this target.</param>
/// <param name="ConsumingInstances">Those of them consuming its queue now.</param>
/// <param name="LastSuccessAt">The latest delivery the target accepted, over the instances.</param>
/// <param name="LastFailureAt">The latest failed delivery round, over the instances.</param>
/// <param name="LastFailureReason">Its reason.</param>
/// <param name="LastFailureInstance">The instance that saw it.</param>
/// <param name="NotReadyByInstance">Instances whose endpoint for the target did not become ready, with the reason.</param>
/// <param name="Disabled">The disable marker exists: the target failed for its <c>DisableAfterHours</c> (<c>targets enable</c>).</param>
internal sealed record TargetSummary(
    string Name,
    string? Mode,
    string Format,
    bool Paused,
    string Queue,
    bool QueueExists,
    uint? Ready,
    uint? Consumers,
    long? RetryWaiting,
    IReadOnlyList<QueueDepth> EarlierDelayQueues,
    uint DeadLetters,
    string? Circuit,
    IReadOnlyDictionary<string, string> CircuitByInstance,
    long? InFlight,
    int ForwardingInstances,
    int ConsumingInstances,
    DateTimeOffset? LastSuccessAt,
    DateTimeOffset? LastFailureAt,
    string? LastFailureReason,
    string? LastFailureInstance,
    IReadOnlyDictionary<string, string>? NotReadyByInstance = null,
    bool Disabled = false)
{
    /// <summary>True when the instances do not all report the same circuit state.</summary>
    public bool CircuitsDiffer => CircuitByInstance.Values.Distinct(StringComparer.Ordinal).Skip(1).Any();
}

/// <summary>Webhooks answered by the receiving instances in the last <paramref name="WindowMinutes"/> minutes.</summary>
/// <param name="WindowMinutes">The window the instances count over.</param>
/// <param name="Instances">Receiving instances that answered.</param>
/// <param name="Accepted">Events confirmed into the intake queue (<see cref="WebhookOutcomes.Accepted"/>).</param>
/// <param name="Ignored">Genuine events of a type SyncWorker never forwards, answered 200 and not queued
/// (<see cref="WebhookOutcomes.Ignored"/>).</param>
/// <param name="Refused">Every outcome but those and <see cref="WebhookOutcomes.ClientAborted"/> (nobody was answered).</param>
/// <param name="Outcomes">Every outcome with its count (accepted included), by name.</param>
internal sealed record ReceiverSummary(int WindowMinutes, int Instances, long Accepted, long Ignored, long Refused, IReadOnlyDictionary<string, long> Outcomes)
{
    /// <summary>Outcomes that count as neither accepted, ignored nor refused.</summary>
    public static bool IsRefusal(string outcome) =>
        outcome is not (WebhookOutcomes.Accepted or WebhookOutcomes.Ignored or WebhookOutcomes.ClientAborted);
}

/// <summary>One worker asked.</summary>
/// <param name="Url">Its base URL (no user info).</param>
/// <param name="State"><see cref="Ok"/>, <see cref="Unreachable"/>, <see cref="Unauthorized"/>, <see cref="Error"/> or <see cref="Duplicate"/>.</param>
/// <param name="Instance">The instance that answered (machine name and process id).</param>
/// <param name="Role"><c>All</c>, <c>Receiver</c> or <c>Forwarder</c>.</param>
/// <param name="StartedAt">When that instance started.</param>
/// <param name="HttpStatus">The HTTP status of its answer.</param>
/// <param name="Problem">What went wrong, when <paramref name="State"/> is not <see cref="Ok"/>.</param>
internal sealed record WorkerSummary(
    string Url, string State, string? Instance, string? Role, DateTimeOffset? StartedAt, int? HttpStatus, string? Problem)
{
    public const string Ok = "ok";
    public const string Unreachable = "unreachable";
    public const string Unauthorized = "unauthorized";
    public const string Error = "error";

    /// <summary>It answered as an instance another URL already answered for (counted once).</summary>
    public const string Duplicate = "duplicate";
}

/// <summary>
/// Deliveries waiting for a redelivery per target, counted in the delivery ledger (<see cref="Counts"/>), or why the
/// ledger could not be read (<see cref="Problem"/>).
/// </summary>
internal sealed record LedgerCounts(IReadOnlyDictionary<string, long>? Counts, string? Problem);

/// <summary>Combines the broker's numbers, the ledger's counts and the instances' answers into a <see cref="StatusReport"/>.</summary>
internal static class StatusMerger
{
    /// <summary>Circuit states, worst first: the combined state is the worst any instance reports.</summary>
    private static readonly string[] CircuitSeverity = ["Open", "Isolated", "HalfOpen", "Closed"];

    public static StatusReport Merge(
        DateTimeOffset at,
        IReadOnlyList<StatusTarget> targets,
        BrokerSnapshot broker,
        IReadOnlyList<WorkerAnswer> answers,
        LedgerCounts? ledger = null)
    {
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(broker);
        ArgumentNullException.ThrowIfNull(answers);

        var warnings = new List<string>();
        var workers = new List<WorkerSummary>();
        var instances = new List<InstanceStatus>();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var answer in answers)
        {
            var url = StatusSettings.Display(answer.Worker);
            switch (answer.Kind)
            {
                case WorkerAnswerKind.Answered when answer.Status is { } status:
                    if (seen.TryGetValue(status.Instance, out var first))
                    {
                        workers.Add(new WorkerSummary(url, WorkerSummary.Duplicate, status.Instance, status.Role, status.StartedAt, answer.HttpStatus,
                            $"answered as {status.Instance}, as {first} did; counted once"));
                        warnings.Add($"Worker {url} answered as instance {status.Instance}, as {first} did (a load balancer?); counted once.");
                        break;
                    }

                    seen[status.Instance] = url;
                    instances.Add(status);
                    workers.Add(new WorkerSummary(url, WorkerSummary.Ok, status.Instance, status.Role, status.StartedAt, answer.HttpStatus, null));
                    break;
                case WorkerAnswerKind.Unauthorized:
                    workers.Add(new WorkerSummary(url, WorkerSummary.Unauthorized, null, null, null, answer.HttpStatus, answer.Problem));
                    warnings.Add($"Worker {url} {answer.Problem}.");
                    break;
                case WorkerAnswerKind.Unreachable:
                    workers.Add(new WorkerSummary(url, WorkerSummary.Unreachable, null, null, null, null, answer.Problem));
                    warnings.Add($"Worker {url} is unreachable ({answer.Problem}); its numbers are missing from the totals.");
                    break;
                default:
                    workers.Add(new WorkerSummary(url, WorkerSummary.Error, null, null, null, answer.HttpStatus, answer.Problem));
                    warnings.Add($"Worker {url} {answer.Problem}; its numbers are missing from the totals.");
                    break;
            }
        }

        if (answers.Count == 0)
        {
            warnings.Add(
                "No workers configured: circuit, in flight, last success and failure, and receiver outcomes come from each " +
                "worker's GET /admin/status. Pass --worker http://HOST:PORT (repeatable) or set Status:Workers:0, :1, … " +
                "(environment variable Status__Workers__0=http://10.0.0.5:8081: each worker's admin address, Admin:Urls), with Admin:Token set here as on the workers.");
        }

        var configured = targets.Select(target => target.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var unknown in instances.SelectMany(i => i.Targets.Select(t => (i.Instance, t.Name))).Where(p => !configured.Contains(p.Name)))
        {
            warnings.Add(
                $"Instance {unknown.Instance} forwards to target '{unknown.Name}', which is not in this configuration's Fulfillment:Targets: " +
                "run status with the configuration the workers use.");
        }

        if (ledger?.Problem is { } problem)
        {
            warnings.Add(
                $"Retry-waiting comes from the delivery ledger, which could not be read ({problem}): run status with the " +
                "workers' Store:* settings (Store:Provider, Store:ConnectionString).");
        }

        foreach (var target in broker.Targets.Where(t => t.EarlierDelayQueues.Count > 0))
        {
            var waiting = target.EarlierDelayQueues.Sum(queue => (long)(queue.Ready ?? 0));
            var names = string.Join(", ", target.EarlierDelayQueues.Select(queue => queue.Queue));
            warnings.Add(waiting > 0
                ? $"Target '{target.Name}' still has {waiting} deliveries in delay queues of an earlier version ({names}); they come back to its queue when their wait ends. Delete those queues once they are empty."
                : $"Target '{target.Name}' has empty delay queues of an earlier version ({names}), no longer used: delete them.");
        }

        var summaries = targets
            .Select(target => SummarizeTarget(target, broker.Targets.Single(t => t.Name == target.Name), instances, ledger))
            .ToList();
        return new StatusReport(at, broker.Intake, broker.IntakeErrors, summaries, SummarizeReceiver(instances), workers, warnings, broker.Poison, broker.DelayQueues);
    }

    private static TargetSummary SummarizeTarget(StatusTarget target, TargetBrokerState broker, List<InstanceStatus> instances, LedgerCounts? ledger)
    {
        var reports = instances
            .SelectMany(instance => instance.Targets
                .Where(t => string.Equals(t.Name, target.Name, StringComparison.Ordinal))
                .Select(t => (instance.Instance, Target: t)))
            .ToList();
        var circuits = reports.ToDictionary(r => r.Instance, r => r.Target.Circuit ?? "Unknown", StringComparer.Ordinal);
        var lastFailure = reports
            .Where(r => r.Target.LastFailureAt is not null)
            .Select(r => ((string Instance, TargetInstanceStatus Target)?)r)
            .MaxBy(r => r!.Value.Target.LastFailureAt);
        return new TargetSummary(
            target.Name,
            target.Mode ?? reports.Select(r => r.Target.Mode).FirstOrDefault(m => !string.IsNullOrEmpty(m)),
            target.Format,
            broker.Paused,
            broker.Queue.Queue,
            broker.Queue.Exists,
            broker.Queue.Ready,
            broker.Queue.Consumers,
            ledger?.Counts is { } counts ? counts.GetValueOrDefault(target.Name) : null,
            broker.EarlierDelayQueues,
            broker.ErrorQueue.Ready ?? 0,
            circuits.Count == 0 ? null : circuits.Values.MinBy(Severity),
            circuits,
            reports.Count == 0 ? null : reports.Sum(r => r.Target.InFlight),
            reports.Count,
            reports.Count(r => r.Target.Consuming),
            reports.Max(r => r.Target.LastSuccessAt),
            lastFailure?.Target.LastFailureAt,
            lastFailure?.Target.LastFailureReason,
            lastFailure?.Instance,
            reports.Where(r => r.Target.NotReady is not null).ToDictionary(r => r.Instance, r => r.Target.NotReady!, StringComparer.Ordinal),
            broker.Disabled || reports.Any(r => r.Target.Disabled));
    }

    private static ReceiverSummary? SummarizeReceiver(List<InstanceStatus> instances)
    {
        var receivers = instances.Where(instance => instance.Receiver is not null).Select(instance => instance.Receiver!).ToList();
        if (receivers.Count == 0)
        {
            return null;
        }

        var outcomes = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var (outcome, count) in receivers.SelectMany(receiver => receiver.Outcomes ?? new Dictionary<string, long>()))
        {
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + count;
        }

        return new ReceiverSummary(
            receivers.Max(receiver => receiver.WindowMinutes),
            receivers.Count,
            outcomes.GetValueOrDefault(WebhookOutcomes.Accepted),
            outcomes.GetValueOrDefault(WebhookOutcomes.Ignored),
            outcomes.Where(pair => ReceiverSummary.IsRefusal(pair.Key)).Sum(pair => pair.Value),
            outcomes);
    }

    /// <summary>The rank of a circuit state; states not known here rank after <c>Closed</c>.</summary>
    private static int Severity(string state)
    {
        var index = Array.IndexOf(CircuitSeverity, state);
        return index < 0 ? CircuitSeverity.Length : index;
    }
}
