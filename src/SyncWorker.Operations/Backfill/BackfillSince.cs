using System.Globalization;
using SyncWorker.Operations.Cli;

namespace SyncWorker.Operations.Backfill;

/// <summary>
/// Parses <c>--since</c>: an ISO 8601 time (<c>2026-11-20T00:00:00Z</c>, <c>2026-11-20T01:00:00+01:00</c>,
/// <c>2026-11-20</c>; without an offset it is UTC) or a time relative to now (<c>90m</c>, <c>36h</c>, <c>3d</c>).
/// </summary>
/// <remarks>
/// Stripe's Events API returns events of the last 30 days only (<see cref="Retention"/>), so an earlier time is refused
/// rather than silently shortened; a time in the future lists nothing and is refused too. Both are usage errors.
/// </remarks>
internal static class BackfillSince
{
    /// <summary>How far back <c>GET /v1/events</c> reaches.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromDays(30);

    /// <summary>The time <paramref name="text"/> means at <paramref name="now"/>; a usage error when it is malformed or out of range.</summary>
    public static DateTimeOffset Parse(string text, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(text);
        var value = text.Trim();
        var since = TimeOption.Parse("--since", value, now);
        var oldest = now - Retention;
        if (since < oldest)
        {
            throw CliException.Usage(
                string.Create(CultureInfo.InvariantCulture, $"--since {value} is {(now - since).TotalDays:0.#} days ago, ") +
                "but Stripe keeps events for 30 days only " +
                $"(GET /v1/events returns the last 30 days), so backfill cannot reach further back. Use at most 30d, " +
                $"or a time after {Iso(oldest)}. Older events can no longer be recovered from Stripe.");
        }

        if (since > now)
        {
            throw CliException.Usage($"--since {value} is in the future ({Iso(since)}; now is {Iso(now)}): there is nothing to list yet.");
        }

        return since;
    }

    /// <summary>A time as ISO 8601 UTC with seconds, as the output shows it.</summary>
    public static string Iso(DateTimeOffset time) => TimeOption.Iso(time);
}
