namespace SyncWorker.Webhooks.Receiving;

/// <summary>
/// Webhook outcomes of this instance per minute, for the last <see cref="WindowMinutes"/> minutes (the <c>status</c>
/// view; Prometheus has the full history). Thread-safe, fixed memory.
/// </summary>
public sealed class ReceiverActivity(TimeProvider timeProvider)
{
    /// <summary>Minutes kept.</summary>
    public const int WindowMinutes = 15;

    private readonly object _gate = new();
    private readonly Dictionary<string, long>[] _buckets = Enumerable.Range(0, WindowMinutes).Select(_ => new Dictionary<string, long>(StringComparer.Ordinal)).ToArray();
    private readonly long[] _bucketMinute = new long[WindowMinutes];

    /// <summary>Counts one webhook answered with <paramref name="outcome"/>.</summary>
    public void Record(string outcome)
    {
        var minute = timeProvider.GetUtcNow().ToUnixTimeSeconds() / 60;
        var index = (int)(minute % WindowMinutes);
        lock (_gate)
        {
            if (_bucketMinute[index] != minute)
            {
                _bucketMinute[index] = minute;
                _buckets[index].Clear();
            }

            _buckets[index][outcome] = _buckets[index].GetValueOrDefault(outcome) + 1;
        }
    }

    /// <summary>Totals per outcome over the window.</summary>
    public IReadOnlyDictionary<string, long> Totals()
    {
        var now = timeProvider.GetUtcNow().ToUnixTimeSeconds() / 60;
        var totals = new Dictionary<string, long>(StringComparer.Ordinal);
        lock (_gate)
        {
            for (var i = 0; i < WindowMinutes; i++)
            {
                if (now - _bucketMinute[i] < WindowMinutes)
                {
                    foreach (var (outcome, count) in _buckets[i])
                    {
                        totals[outcome] = totals.GetValueOrDefault(outcome) + count;
                    }
                }
            }
        }

        return totals;
    }
}
