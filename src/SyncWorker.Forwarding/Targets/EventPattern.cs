using System.Text.RegularExpressions;

namespace SyncWorker.Forwarding.Targets;

/// <summary>
/// One entry of a target's <c>Events</c>: an exact event type, or a pattern where <c>*</c> matches any run of
/// characters (dots included): <c>checkout.session.*</c>, <c>charge.*</c>, <c>*</c>.
/// </summary>
public sealed class EventPattern
{
    private readonly Regex? _regex;

    /// <summary>Parses a pattern.</summary>
    public EventPattern(string pattern)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(pattern);
        Text = pattern.Trim();
        if (Text.Contains('*', StringComparison.Ordinal))
        {
            var expression = "^" + string.Join(".*", Text.Split('*').Select(Regex.Escape)) + "$";
            _regex = new Regex(expression, RegexOptions.CultureInvariant | RegexOptions.Compiled, TimeSpan.FromMilliseconds(100));
        }
    }

    /// <summary>The pattern as configured.</summary>
    public string Text { get; }

    /// <summary>True when the pattern has a wildcard.</summary>
    public bool IsWildcard => _regex is not null;

    /// <summary>True when <paramref name="eventType"/> matches.</summary>
    public bool Matches(string eventType) =>
        _regex?.IsMatch(eventType) ?? string.Equals(Text, eventType, StringComparison.Ordinal);
}
