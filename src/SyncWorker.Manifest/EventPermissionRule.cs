using System.Collections.ObjectModel;

namespace SyncWorker.Manifest;

/// <summary>One row of SyncWorker's event-permission table: which permissions let an app receive an event type.</summary>
public sealed class EventPermissionRule
{
    internal EventPermissionRule(
        string eventType,
        string[] anyOf,
        bool isDocumented,
        string basis,
        bool isVerified,
        string sourceName,
        int lineNumber)
    {
        EventType = eventType;
        AnyOf = new ReadOnlyCollection<string>(anyOf);
        IsDocumented = isDocumented;
        Basis = basis;
        IsVerified = isVerified;
        SourceName = sourceName;
        LineNumber = lineNumber;
    }

    /// <summary>The event type, for example <c>checkout.session.completed</c>.</summary>
    public string EventType { get; }

    /// <summary>
    /// The permissions of which any one (in addition to <c>event_read</c>) lets the app receive the event.
    /// For unverified rows this is the unverified guess and may be empty.
    /// </summary>
    public IReadOnlyList<string> AnyOf { get; }

    /// <summary>True for rows from Stripe's documented table (<c>event-permissions.tsv</c>).</summary>
    public bool IsDocumented { get; }

    /// <summary>
    /// Why the row is believed: <see cref="EventPermissionTable.DocumentedBasis"/> for documented rows,
    /// otherwise the basis column of <c>event-permissions-derived.tsv</c>.
    /// </summary>
    public string Basis { get; }

    /// <summary>
    /// True when the policy may rely on the row: documented rows, and derived rows whose basis is
    /// <see cref="EventPermissionTable.TrustedDerivedBasis"/>.
    /// </summary>
    public bool IsVerified { get; }

    /// <summary>The file the row came from.</summary>
    public string SourceName { get; }

    /// <summary>The one-based line number of the row in <see cref="SourceName"/>.</summary>
    public int LineNumber { get; }

    /// <inheritdoc />
    public override string ToString() => $"{EventType}: {string.Join(',', AnyOf)} ({Basis})";
}
