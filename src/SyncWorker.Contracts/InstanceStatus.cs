namespace SyncWorker.Contracts;

/// <summary>
/// What one SyncWorker instance reports at <c>GET /admin/status</c> (bearer token): the in-process facts the broker does
/// not know. The <c>status</c> verb combines it with queue depths read from the broker. JSON, camelCase.
/// </summary>
/// <param name="Instance">Machine name and process id.</param>
/// <param name="Role"><c>All</c>, <c>Receiver</c> or <c>Forwarder</c>.</param>
/// <param name="StartedAt">When the process started.</param>
/// <param name="Now">The instance's clock when it answered.</param>
/// <param name="Receiver">Webhook outcomes in the last minutes; null for a forwarder.</param>
/// <param name="Targets">Per target; empty for a receiver.</param>
public sealed record InstanceStatus(
    string Instance,
    string Role,
    DateTimeOffset StartedAt,
    DateTimeOffset Now,
    ReceiverStatus? Receiver,
    IReadOnlyList<TargetInstanceStatus> Targets);

/// <summary>Webhooks answered in the last <paramref name="WindowMinutes"/> minutes, by outcome (<see cref="WebhookOutcomes"/>).</summary>
public sealed record ReceiverStatus(int WindowMinutes, IReadOnlyDictionary<string, long> Outcomes);

/// <summary>One target as this instance sees it.</summary>
/// <param name="Name">The target's name.</param>
/// <param name="Mode"><c>live</c> or <c>test</c>.</param>
/// <param name="Format"><c>order</c> or <c>event</c>.</param>
/// <param name="Consuming">True while this instance consumes the target's queue.</param>
/// <param name="Paused">True while the pause marker exists.</param>
/// <param name="Circuit"><c>Closed</c>, <c>Open</c>, <c>HalfOpen</c> or <c>Isolated</c>.</param>
/// <param name="InFlight">Deliveries being attempted now.</param>
/// <param name="LastSuccessAt">Last delivery the target accepted.</param>
/// <param name="LastFailureAt">Last failed delivery round.</param>
/// <param name="LastFailureReason">Its reason (no secrets, no payload).</param>
/// <param name="NotReady">Why this instance is not consuming the target's queue although it should (its endpoint did not
/// become ready in time); null otherwise.</param>
/// <param name="Disabled">True while the disable marker exists (the target failed for its <c>DisableAfterHours</c>).</param>
public sealed record TargetInstanceStatus(
    string Name,
    string Mode,
    string Format,
    bool Consuming,
    bool Paused,
    string Circuit,
    long InFlight,
    DateTimeOffset? LastSuccessAt,
    DateTimeOffset? LastFailureAt,
    string? LastFailureReason,
    string? NotReady = null,
    bool Disabled = false);
