namespace SyncWorker.Manifest;

/// <summary>
/// The outcome of <see cref="PermissionPolicy.Evaluate(string)"/> for one event type. Immutable; decisions for
/// event types in the table are computed once and shared.
/// </summary>
public sealed class PermissionDecision
{
    internal PermissionDecision(
        string eventType,
        PermissionDenialReason reason,
        IReadOnlyList<string> permissionsThatWouldAllow,
        string detail)
    {
        EventType = eventType;
        Reason = reason;
        PermissionsThatWouldAllow = permissionsThatWouldAllow;
        Detail = detail;
    }

    /// <summary>The event type the decision is about.</summary>
    public string EventType { get; }

    /// <summary>True when the manifest lets the app receive the event type.</summary>
    public bool IsAllowed => Reason == PermissionDenialReason.None;

    /// <summary>Why the event type is refused; <see cref="PermissionDenialReason.None"/> when allowed.</summary>
    public PermissionDenialReason Reason { get; }

    /// <summary>
    /// <c>event_read</c> followed by the permissions of which any one allows the event type.
    /// Empty for event types that are unknown or unverified, because no manifest change allows those.
    /// </summary>
    public IReadOnlyList<string> PermissionsThatWouldAllow { get; }

    /// <summary>A sentence for operators naming the event type and what would allow it.</summary>
    public string Detail { get; }

    /// <inheritdoc />
    public override string ToString() => Detail;
}
