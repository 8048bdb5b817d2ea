using System.Globalization;
using System.Text.RegularExpressions;
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
internal static partial class BackfillSince
{
    /// <summary>How far back <c>GET /v1/events</c> reaches.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromDays(30);

    private static readonly string[] IsoFormats =
    [
        "yyyy-MM-dd'T'HH:mm:ssK",
        "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK",
        "yyyy-MM-dd'T'HH:mmK",
        "yyyy-MM-dd",
    ];

    /// <summary>The time <paramref name="text"/> means at <paramref name="now"/>; a usage error when it is malformed or out of range.</summary>
    public static DateTimeOffset Parse(string text, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(text);
        var value = text.Trim();
        DateTimeOffset since;
        if (Relative().Match(value) is { Success: true } match)
        {
            if (!long.TryParse(match.Groups["amount"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var amount)
                || amount is <= 0 or > 100_000)
            {
                throw CliException.Usage($"--since {value}: the amount must be a whole number from 1, for example 36h or 3d.");
            }

            var span = match.Groups["unit"].Value switch
            {
                "m" => TimeSpan.FromMinutes(amount),
                "h" => TimeSpan.FromHours(amount),
                _ => TimeSpan.FromDays(amount),
            };
            since = now - span;
        }
        else if (DateTimeOffset.TryParseExact(
            value,
            IsoFormats,
            CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal,
            out var absolute))
        {
            since = absolute;
        }
        else
        {
            throw CliException.Usage(
                $"--since '{value}' is neither an ISO 8601 time (2026-11-20T00:00:00Z) nor a time relative to now " +
                "(90m, 36h, 3d: minutes, hours, days).");
        }

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
    public static string Iso(DateTimeOffset time) =>
        time.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^(?<amount>[0-9]+)(?<unit>[mhd])\z", RegexOptions.CultureInvariant)]
    private static partial Regex Relative();
}
