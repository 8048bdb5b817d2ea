using System.Globalization;
using System.Text.RegularExpressions;
using SyncWorker.Operations.Cli;

namespace SyncWorker.Operations.Status;

/// <summary>The <c>--interval</c> of <c>status --watch</c>: <c>5s</c>, <c>1.5s</c>, <c>2m</c>, <c>1500ms</c>, or a bare number of seconds.</summary>
internal static partial class WatchInterval
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(5);

    /// <summary>The shortest interval: each refresh opens a channel per queue and asks every worker.</summary>
    public static readonly TimeSpan Minimum = TimeSpan.FromSeconds(1);

    public static readonly TimeSpan Maximum = TimeSpan.FromHours(1);

    /// <summary>The interval, or a usage error (exit 2) that says what is accepted.</summary>
    public static TimeSpan Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var match = Pattern().Match(text.Trim());
        if (!match.Success)
        {
            throw CliException.Usage(
                $"--interval takes a duration such as 5s, 1.5s, 2m or 1500ms (a bare number means seconds); '{text}' is not one.");
        }

        var amount = double.Parse(match.Groups["amount"].Value, NumberStyles.Float, CultureInfo.InvariantCulture);
        var interval = match.Groups["unit"].Value switch
        {
            "ms" => TimeSpan.FromMilliseconds(amount),
            "m" => TimeSpan.FromMinutes(amount),
            "h" => TimeSpan.FromHours(amount),
            _ => TimeSpan.FromSeconds(amount),
        };
        if (interval < Minimum || interval > Maximum)
        {
            throw CliException.Usage($"--interval {text} is out of range: use 1s to 1h.");
        }

        return interval;
    }

    [GeneratedRegex(@"^(?<amount>\d{1,7}(\.\d{1,3})?)(?<unit>ms|s|m|h)?$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
