using System.Collections.Concurrent;

namespace SyncWorker.Forwarding.Consumers;

/// <summary>
/// When this process saw each target paused (<c>targets pause</c>), in memory: the durable-retry clock
/// (<see cref="RedeliveryScheduler"/>) leaves out the time a delivery spent back in its target queue while the target was
/// paused. Fed by <see cref="Hosting.PauseHistoryRecorder"/> from the pause checks; what a process did not see (a pause
/// before it started) is not known to it and counts as failing time. Keeps the last <see cref="MaxIntervals"/> pauses
/// per target.
/// </summary>
public sealed class TargetPauseHistory(TimeProvider timeProvider)
{
    /// <summary>Pauses remembered per target.</summary>
    public const int MaxIntervals = 256;

    private readonly ConcurrentDictionary<string, Log> _logs = new(StringComparer.Ordinal);

    /// <summary>Records whether the target is paused now (as just checked); a change starts or ends a pause.</summary>
    public void Observe(string target, bool paused)
    {
        var log = _logs.GetOrAdd(target, static _ => new Log());
        var now = timeProvider.GetUtcNow();
        lock (log)
        {
            if (paused && log.Since is null)
            {
                log.Since = now;
            }
            else if (!paused && log.Since is { } since)
            {
                log.Ended.Add((since, now));
                if (log.Ended.Count > MaxIntervals)
                {
                    log.Ended.RemoveAt(0);
                }

                log.Since = null;
            }
        }
    }

    /// <summary>How much of [<paramref name="from"/>, <paramref name="to"/>] this process saw the target paused.</summary>
    public TimeSpan PausedBetween(string target, DateTimeOffset from, DateTimeOffset to)
    {
        if (to <= from || !_logs.TryGetValue(target, out var log))
        {
            return TimeSpan.Zero;
        }

        var now = timeProvider.GetUtcNow();
        var total = TimeSpan.Zero;
        lock (log)
        {
            foreach (var (start, end) in log.Ended.Append((log.Since ?? now, now)))
            {
                var overlap = Min(end, to) - Max(start, from);
                if (overlap > TimeSpan.Zero)
                {
                    total += overlap;
                }
            }
        }

        return total;
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private sealed class Log
    {
        public List<(DateTimeOffset Start, DateTimeOffset End)> Ended { get; } = [];

        public DateTimeOffset? Since { get; set; }
    }
}
