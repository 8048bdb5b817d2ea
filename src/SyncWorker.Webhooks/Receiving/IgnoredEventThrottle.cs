namespace SyncWorker.Webhooks.Receiving;

/// <summary>
/// Which ignored events get a log line: the first of each event type, then the first after <see cref="Interval"/> has
/// passed since that type's last line, so a merchant's stream of events SyncWorker never forwards costs one line per
/// type per minute, not one per event. Thread-safe, bounded memory (<see cref="MaxTypes"/> types tracked).
/// </summary>
internal sealed class IgnoredEventThrottle(TimeProvider timeProvider)
{
    /// <summary>Least time between two lines about the same event type.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    /// <summary>Event types tracked at once; beyond that, types whose minute is over are forgotten first.</summary>
    public const int MaxTypes = 1024;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _types = new(StringComparer.Ordinal);

    /// <summary>
    /// True when this event of <paramref name="eventType"/> is to be logged; <paramref name="notLogged"/> is then the
    /// number of events of that type ignored without a line since the previous one.
    /// </summary>
    public bool ShouldLog(string eventType, out long notLogged)
    {
        ArgumentNullException.ThrowIfNull(eventType);
        var now = timeProvider.GetUtcNow();
        lock (_gate)
        {
            if (_types.TryGetValue(eventType, out var entry))
            {
                if (now - entry.LoggedAt < Interval)
                {
                    entry.NotLogged++;
                    notLogged = 0;
                    return false;
                }

                notLogged = entry.NotLogged;
                entry.LoggedAt = now;
                entry.NotLogged = 0;
                return true;
            }

            notLogged = 0;
            if (_types.Count >= MaxTypes)
            {
                foreach (var (type, old) in _types.ToList())
                {
                    if (now - old.LoggedAt >= Interval)
                    {
                        _types.Remove(type);
                    }
                }
            }

            if (_types.Count < MaxTypes)
            {
                _types[eventType] = new Entry { LoggedAt = now };
            }

            // Still full: every type is within its minute; this one is logged, untracked, rather than never.
            return true;
        }
    }

    private sealed class Entry
    {
        public DateTimeOffset LoggedAt { get; set; }

        public long NotLogged { get; set; }
    }
}
