namespace SyncWorker.Manifest;

/// <summary>Why <see cref="PermissionPolicy"/> refuses an event type.</summary>
public enum PermissionDenialReason
{
    /// <summary>Not refused: the manifest lets the app receive the event type.</summary>
    None = 0,

    /// <summary>The manifest lacks <c>event_read</c>, which every app needs to receive any event.</summary>
    EventReadNotGranted,

    /// <summary>The manifest grants <c>event_read</c> but none of the permissions the event type needs.</summary>
    PermissionNotGranted,

    /// <summary>The event type is not in SyncWorker's event-permission table (fail closed).</summary>
    UnknownEventType,

    /// <summary>The event type's permission is only an unverified guess (fail closed).</summary>
    UnverifiedEventType,
}
