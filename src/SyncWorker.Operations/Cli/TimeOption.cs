using System.Globalization;
using System.Text.RegularExpressions;

namespace SyncWorker.Operations.Cli;

/// <summary>
/// Parses a time option (<c>--since</c>, <c>--until</c>): an ISO 8601 time (<c>2026-11-20T00:00:00Z</c>,
/// <c>2026-11-20T01:00:00+01:00</c>, <c>2026-11-20</c>; without an offset it is UTC) or a time relative to now
/// (<c>90m</c>, <c>36h</c>, <c>3d</c>: that long ago). Anything else is a usage error naming the option.
/// </summary>
internal static partial class TimeOption
{
    /// <summary>The forms accepted, for help texts.</summary>
    public const string Forms = "ISO 8601 (2026-11-20T00:00:00Z) or relative to now (90m, 36h, 3d)";

    private static readonly string[] IsoFormats =
    [
        "yyyy-MM-dd'T'HH:mm:ssK",
        "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK",
        "yyyy-MM-dd'T'HH:mmK",
        "yyyy-MM-dd",
    ];

    /// <summary>The time <paramref name="text"/>, given to <paramref name="option"/>, means at <paramref name="now"/>.</summary>
    public static DateTimeOffset Parse(string option, string text, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(text);
        var value = text.Trim();
        if (Relative().Match(value) is { Success: true } match)
        {
            if (!long.TryParse(match.Groups["amount"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var amount)
                || amount is <= 0 or > 100_000)
            {
                throw CliException.Usage($"{option} {value}: the amount must be a whole number from 1, for example 36h or 3d.");
            }

            return now - match.Groups["unit"].Value switch
            {
                "m" => TimeSpan.FromMinutes(amount),
                "h" => TimeSpan.FromHours(amount),
                _ => TimeSpan.FromDays(amount),
            };
        }

        if (DateTimeOffset.TryParseExact(
            value,
            IsoFormats,
            CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal,
            out var absolute))
        {
            return absolute;
        }

        throw CliException.Usage(
            $"{option} '{value}' is neither an ISO 8601 time (2026-11-20T00:00:00Z) nor a time relative to now " +
            "(90m, 36h, 3d: minutes, hours, days).");
    }

    /// <summary>
    /// <c>--since</c> and <c>--until</c> together, either or both absent (null); a usage error when the range is empty.
    /// <paramref name="prefix"/> goes before the names in messages (<c>--</c> on the command line, nothing in a URL).
    /// </summary>
    public static (DateTimeOffset? Since, DateTimeOffset? Until) Range(string? since, string? until, DateTimeOffset now, string prefix = "--")
    {
        var from = since is null ? (DateTimeOffset?)null : Parse(prefix + "since", since, now);
        var to = until is null ? (DateTimeOffset?)null : Parse(prefix + "until", until, now);
        if (from >= to)
        {
            throw CliException.Usage($"{prefix}since ({Iso(from.Value)}) must be before {prefix}until ({Iso(to!.Value)}).");
        }

        return (from, to);
    }

    /// <summary>A time as ISO 8601 UTC with seconds, as the output shows it.</summary>
    public static string Iso(DateTimeOffset time) =>
        time.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^(?<amount>[0-9]+)(?<unit>[mhd])\z", RegexOptions.CultureInvariant)]
    private static partial Regex Relative();
}
