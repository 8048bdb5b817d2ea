namespace SyncWorker.Operations.Cli;

/// <summary>The command a mistyped word most likely meant.</summary>
internal static class CommandSuggestion
{
    /// <summary>
    /// The command path (<c>targets</c>, <c>dead-letters replay</c>) whose last name starts with <paramref name="word"/>,
    /// else the one whose last name is the fewest edits away (Levenshtein, case-insensitive; top-level commands win ties).
    /// </summary>
    public static string Nearest(string word, IEnumerable<string> paths)
    {
        ArgumentNullException.ThrowIfNull(word);
        ArgumentNullException.ThrowIfNull(paths);
        var candidates = paths.ToList();
        var typed = word.ToLowerInvariant();
        static string Last(string path) => path[(path.LastIndexOf(' ') + 1)..];

        return candidates.FirstOrDefault(p => Last(p).StartsWith(typed, StringComparison.Ordinal) && typed.Length >= 3)
            ?? candidates
                .Select((path, order) => (path, order, distance: Distance(typed, Last(path))))
                .OrderBy(c => c.distance)
                .ThenBy(c => c.path.Contains(' ', StringComparison.Ordinal))
                .ThenBy(c => c.order)
                .First().path;
    }

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
