using System.Collections.Frozen;
using Microsoft.Extensions.Options;

namespace SyncWorker.Forwarding.Targets;

/// <summary>
/// The targets, compiled; shared by the dispatcher, the delivery consumers and the endpoint supervisor. Targets of the
/// configuration file (validated at start) come first and never change; targets managed at run time (the admin API, kept
/// in the store) are replaced as a whole by <see cref="SetManaged"/> whenever the store's copy changes. Readers take one
/// snapshot at a time, without locks.
/// </summary>
public sealed class TargetRegistry
{
    private readonly TargetRoute[] _configured;
    private volatile Snapshot _snapshot;

    /// <summary>Compiles the configured targets (validated at start).</summary>
    public TargetRegistry(IOptions<FulfillmentOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _configured = options.Value.Targets.Select(target => new TargetRoute(target)).ToArray();
        _snapshot = new Snapshot(_configured);
    }

    /// <summary>Raised after the managed targets changed.</summary>
    public event Action? Changed;

    /// <summary>Every target: the configuration file's, in order, then those managed at run time, by name.</summary>
    public IReadOnlyList<TargetRoute> Routes => _snapshot.Routes;

    /// <summary>The targets of the configuration file.</summary>
    public IReadOnlyList<TargetRoute> Configured => _configured;

    /// <summary>The target called <paramref name="name"/>, or null when it is not (or no longer) there.</summary>
    public TargetRoute? Find(string name) => _snapshot.ByName.GetValueOrDefault(name);

    /// <summary>True when the configuration file has a target called <paramref name="name"/>.</summary>
    public bool IsConfigured(string name) => _configured.Any(route => route.Name == name);

    /// <summary>
    /// Replaces the targets managed at run time (one named like a configured target is ignored: the file wins).
    /// Returns the names added, changed (a new revision or state) and removed.
    /// </summary>
    public (IReadOnlyList<string> Added, IReadOnlyList<string> Changed, IReadOnlyList<string> Removed) SetManaged(IReadOnlyList<TargetRoute> managed)
    {
        ArgumentNullException.ThrowIfNull(managed);
        var before = _snapshot;
        var kept = managed.Where(route => route.Managed is not null && !IsConfigured(route.Name)).OrderBy(route => route.Name, StringComparer.Ordinal).ToArray();
        var next = new Snapshot([.. _configured, .. kept]);
        var added = kept.Where(route => !before.ByName.ContainsKey(route.Name)).Select(route => route.Name).ToList();
        var changed = kept.Where(route => before.ByName.TryGetValue(route.Name, out var old) && old.Managed != route.Managed).Select(route => route.Name).ToList();
        var removed = before.Routes.Where(route => route.Managed is not null && !next.ByName.ContainsKey(route.Name)).Select(route => route.Name).ToList();
        _snapshot = next;
        if (added.Count + changed.Count + removed.Count > 0)
        {
            Changed?.Invoke();
        }

        return (added, changed, removed);
    }

    private sealed class Snapshot
    {
        public Snapshot(TargetRoute[] routes)
        {
            Routes = routes;
            ByName = routes.ToFrozenDictionary(route => route.Name, StringComparer.Ordinal);
        }

        public TargetRoute[] Routes { get; }

        public FrozenDictionary<string, TargetRoute> ByName { get; }
    }
}
