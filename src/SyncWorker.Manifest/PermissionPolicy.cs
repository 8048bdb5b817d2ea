using System.Collections.Frozen;
using System.Collections.ObjectModel;

namespace SyncWorker.Manifest;

/// <summary>
/// Decides, per event type, whether the app's manifest lets it receive the event, using the event-permission
/// table. Decisions for every event type in the table are computed once in the constructor, so
/// <see cref="Evaluate(string)"/> does not allocate for them. Unknown and unverified event types are refused
/// (fail closed). Immutable and safe to share between threads.
/// </summary>
public sealed class PermissionPolicy
{
    /// <summary>
    /// The App Installs API's events, which SyncWorker consumes itself (its install registry): Stripe sends them to the app
    /// developer for every install, documenting no permission beyond the <c>event_read</c> every app has, so the table's
    /// unverified rows for them do not refuse them.
    /// </summary>
    public static readonly FrozenSet<string> InstallEventTypes =
        new[] { "apps.install.created", "apps.install.updated", "apps.install.deleted" }.ToFrozenSet(StringComparer.Ordinal);

    private readonly FrozenDictionary<string, PermissionDecision> _decisions;

    /// <summary>Precomputes the decision for every event type in <paramref name="table"/>.</summary>
    public PermissionPolicy(AppManifest manifest, EventPermissionTable table)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(table);

        Manifest = manifest;
        Table = table;
        _decisions = table.Rules.ToFrozenDictionary(r => r.EventType, Decide, StringComparer.Ordinal);
        PermittedEventTypes = _decisions.Values
            .Where(d => d.IsAllowed)
            .Select(d => d.EventType)
            .ToFrozenSet(StringComparer.Ordinal);
    }

    /// <summary>The manifest the decisions are for.</summary>
    public AppManifest Manifest { get; }

    /// <summary>The table the decisions are based on.</summary>
    public EventPermissionTable Table { get; }

    /// <summary>Every event type the manifest lets the app receive.</summary>
    public IReadOnlyCollection<string> PermittedEventTypes { get; }

    /// <summary>Decides whether the app may receive <paramref name="eventType"/>.</summary>
    /// <param name="eventType">The event's <c>type</c>, for example <c>checkout.session.completed</c>; case-sensitive.</param>
    public PermissionDecision Evaluate(string eventType)
    {
        ArgumentNullException.ThrowIfNull(eventType);
        return _decisions.TryGetValue(eventType, out var decision) ? decision : DecideUnknown(eventType);
    }

    private PermissionDecision Decide(EventPermissionRule rule)
    {
        var eventType = rule.EventType;
        // The file name only: details travel back to Stripe in 403 bodies, and a server path is nobody's business there.
        var path = $"the app manifest ({System.IO.Path.GetFileName(Manifest.SourcePath)})";

        if (!Manifest.Grants(EventPermissionTable.EventRead))
        {
            if (!rule.IsVerified)
            {
                return new PermissionDecision(
                    eventType,
                    PermissionDenialReason.EventReadNotGranted,
                    ReadOnlyCollection<string>.Empty,
                    $"The manifest does not grant event_read, which every app needs to receive any event, so this app does not receive '{eventType}'; with event_read it would still be refused, because {UnverifiedClause(rule)}.");
            }

            return new PermissionDecision(
                eventType,
                PermissionDenialReason.EventReadNotGranted,
                WouldAllow(rule),
                $"The manifest does not grant event_read, which every app needs to receive any event, so this app does not receive '{eventType}': add {Requirement(rule)} to {path}.");
        }

        if (InstallEventTypes.Contains(eventType))
        {
            return new PermissionDecision(
                eventType,
                PermissionDenialReason.None,
                new ReadOnlyCollection<string>([EventPermissionTable.EventRead]),
                $"The manifest grants event_read, and '{eventType}' is an App Installs API event that Stripe sends to the app's developer for each install, so this app receives it (SyncWorker's install registry reads it).");
        }

        if (!rule.IsVerified)
        {
            return new PermissionDecision(
                eventType,
                PermissionDenialReason.UnverifiedEventType,
                ReadOnlyCollection<string>.Empty,
                $"'{eventType}' is refused (fail closed) because {UnverifiedClause(rule)}. Once a test install shows which permission delivers it, add a row to {EventPermissionTable.DocumentedFileName}.");
        }

        var granted = rule.AnyOf.FirstOrDefault(Manifest.Grants);
        if (granted is not null)
        {
            var grants = granted == EventPermissionTable.EventRead ? "event_read" : $"event_read and {granted}";
            return new PermissionDecision(
                eventType,
                PermissionDenialReason.None,
                WouldAllow(rule),
                $"The manifest grants {grants}, so this app receives '{eventType}'.");
        }

        return new PermissionDecision(
            eventType,
            PermissionDenialReason.PermissionNotGranted,
            WouldAllow(rule),
            $"The manifest does not grant a permission that lets this app receive '{eventType}': add {Requirement(rule)} to {path}.");
    }

    private PermissionDecision DecideUnknown(string eventType)
    {
        if (!Manifest.Grants(EventPermissionTable.EventRead))
        {
            return new PermissionDecision(
                eventType,
                PermissionDenialReason.EventReadNotGranted,
                ReadOnlyCollection<string>.Empty,
                $"The manifest does not grant event_read, which every app needs to receive any event, so this app does not receive '{eventType}'; with event_read it would still be refused, because '{eventType}' is not in SyncWorker's event-permission table.");
        }

        return new PermissionDecision(
            eventType,
            PermissionDenialReason.UnknownEventType,
            ReadOnlyCollection<string>.Empty,
            $"'{eventType}' is not in SyncWorker's event-permission table, so it is refused (fail closed). If Stripe added this event type, add a row to {EventPermissionTable.DocumentedFileName}.");
    }

    private static ReadOnlyCollection<string> WouldAllow(EventPermissionRule rule)
    {
        var permissions = new List<string>(rule.AnyOf.Count + 1) { EventPermissionTable.EventRead };
        permissions.AddRange(rule.AnyOf.Where(p => p != EventPermissionTable.EventRead));
        return permissions.AsReadOnly();
    }

    private static string Requirement(EventPermissionRule rule)
    {
        var alternatives = rule.AnyOf.Where(p => p != EventPermissionTable.EventRead).ToList();
        return alternatives.Count switch
        {
            0 => "event_read",
            1 => $"event_read and {alternatives[0]}",
            _ => $"event_read and one of {string.Join(", ", alternatives)}",
        };
    }

    private static string UnverifiedClause(EventPermissionRule rule)
    {
        var guess = rule.AnyOf.Count == 0
            ? "no permission is known for it"
            : $"its permission ({string.Join(", ", rule.AnyOf)}) is an unverified guess";
        return $"{guess} ({rule.SourceName} line {rule.LineNumber}, basis '{rule.Basis}')";
    }
}
