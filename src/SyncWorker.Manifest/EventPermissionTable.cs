using System.Collections.Frozen;
using System.Collections.ObjectModel;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace SyncWorker.Manifest;

/// <summary>
/// Which permissions let a Stripe App receive each event type: Stripe's documented table
/// (<c>Data/event-permissions.tsv</c>) plus the derived rows for event types the docs do not map
/// (<c>Data/event-permissions-derived.tsv</c>).
/// </summary>
/// <remarks>
/// An app receives an event only if its manifest grants <see cref="EventRead"/> and at least one of the
/// row's permissions (comma-separated alternatives). Of the derived rows only those whose basis is
/// <see cref="TrustedDerivedBasis"/> are verified; the others are kept so that the policy can say why it
/// refuses them. The table is immutable and safe to share between threads.
/// </remarks>
public sealed class EventPermissionTable
{
    /// <summary>The permission every app needs, in addition to a per-event permission, to receive events.</summary>
    public const string EventRead = "event_read";

    /// <summary>The only basis in the derived file that is trusted: the same <c>data.object</c> type as documented events.</summary>
    public const string TrustedDerivedBasis = "derived:same-data.object-type-as-documented-events";

    /// <summary>The <see cref="EventPermissionRule.Basis"/> of rows from the documented table.</summary>
    public const string DocumentedBasis = "documented";

    /// <summary>The manifest resource name of the embedded documented table.</summary>
    public const string DocumentedResourceName = "SyncWorker.Manifest.Data.event-permissions.tsv";

    /// <summary>The manifest resource name of the embedded derived table.</summary>
    public const string DerivedResourceName = "SyncWorker.Manifest.Data.event-permissions-derived.tsv";

    /// <summary>The repository path of the documented table, used in messages.</summary>
    public const string DocumentedFileName = "src/SyncWorker.Manifest/Data/event-permissions.tsv";

    /// <summary>The repository path of the derived table, used in messages.</summary>
    public const string DerivedFileName = "src/SyncWorker.Manifest/Data/event-permissions-derived.tsv";

    private static readonly string[] DocumentedHeader = ["event_type", "permission"];
    private static readonly string[] DerivedHeader = ["event_type", "permission_guess", "data_object_type", "basis"];

    private static readonly Lazy<EventPermissionTable> Embedded = new(ReadEmbedded);

    private readonly FrozenDictionary<string, EventPermissionRule> _rules;

    private EventPermissionTable(List<EventPermissionRule> rules)
    {
        Rules = new ReadOnlyCollection<EventPermissionRule>(rules);
        _rules = rules.ToFrozenDictionary(r => r.EventType, StringComparer.Ordinal);
        DocumentedCount = rules.Count(r => r.IsDocumented);
        DerivedCount = rules.Count - DocumentedCount;
    }

    /// <summary>Every row, documented rows first, each file in file order.</summary>
    public IReadOnlyList<EventPermissionRule> Rules { get; }

    /// <summary>The number of rows from the documented table.</summary>
    public int DocumentedCount { get; }

    /// <summary>The number of rows from the derived table, verified or not.</summary>
    public int DerivedCount { get; }

    /// <summary>
    /// The table built from the copies embedded in this assembly. Built once per process and shared.
    /// </summary>
    /// <exception cref="EventPermissionTableException">An embedded row is malformed (a build defect).</exception>
    public static EventPermissionTable LoadEmbedded() => Embedded.Value;

    /// <summary>Parses the two TSV files, naming them by their repository paths in error messages.</summary>
    /// <exception cref="EventPermissionTableException">A row is malformed.</exception>
    public static EventPermissionTable Parse(TextReader documented, TextReader derived) =>
        Parse(documented, DocumentedFileName, derived, DerivedFileName);

    /// <summary>Parses the two TSV files.</summary>
    /// <param name="documented">The documented table: a header, then <c>event_type&lt;TAB&gt;permission[,permission...]</c> rows.</param>
    /// <param name="documentedName">The name of the documented file in error messages.</param>
    /// <param name="derived">The derived table: a header, then <c>event_type&lt;TAB&gt;permission_guess&lt;TAB&gt;data_object_type&lt;TAB&gt;basis</c> rows.</param>
    /// <param name="derivedName">The name of the derived file in error messages.</param>
    /// <exception cref="EventPermissionTableException">
    /// A row has the wrong number of columns, an empty event type or permission, or repeats an event type.
    /// </exception>
    public static EventPermissionTable Parse(TextReader documented, string documentedName, TextReader derived, string derivedName)
    {
        ArgumentNullException.ThrowIfNull(documented);
        ArgumentNullException.ThrowIfNull(documentedName);
        ArgumentNullException.ThrowIfNull(derived);
        ArgumentNullException.ThrowIfNull(derivedName);

        var rules = new List<EventPermissionRule>();
        var seen = new Dictionary<string, EventPermissionRule>(StringComparer.Ordinal);
        ReadFile(documented, documentedName, isDocumented: true, rules, seen);
        ReadFile(derived, derivedName, isDocumented: false, rules, seen);
        return new EventPermissionTable(rules);
    }

    /// <summary>The row for <paramref name="eventType"/>, or null when the table does not know it.</summary>
    public EventPermissionRule? Rule(string eventType)
    {
        ArgumentNullException.ThrowIfNull(eventType);
        return _rules.GetValueOrDefault(eventType);
    }

    /// <summary>Looks up the row for <paramref name="eventType"/>.</summary>
    public bool TryGetRule(string eventType, [NotNullWhen(true)] out EventPermissionRule? rule)
    {
        ArgumentNullException.ThrowIfNull(eventType);
        return _rules.TryGetValue(eventType, out rule);
    }

    private static EventPermissionTable ReadEmbedded()
    {
        using var documented = OpenEmbedded(DocumentedResourceName);
        using var derived = OpenEmbedded(DerivedResourceName);
        return Parse(documented, DocumentedFileName, derived, DerivedFileName);
    }

    private static StreamReader OpenEmbedded(string resourceName)
    {
        var stream = typeof(EventPermissionTable).Assembly.GetManifestResourceStream(resourceName)
            ?? throw new InvalidOperationException(
                $"The embedded resource '{resourceName}' is missing from {typeof(EventPermissionTable).Assembly.GetName().Name}; check the EmbeddedResource item in SyncWorker.Manifest.csproj.");
        return new StreamReader(stream);
    }

    private static void ReadFile(
        TextReader reader,
        string sourceName,
        bool isDocumented,
        List<EventPermissionRule> rules,
        Dictionary<string, EventPermissionRule> seen)
    {
        var header = isDocumented ? DocumentedHeader : DerivedHeader;
        var expectedHeader = string.Join('\t', header);
        var lineNumber = 0;
        var headerSeen = false;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line) || line.StartsWith('#'))
            {
                continue;
            }

            if (!headerSeen)
            {
                if (!string.Equals(line, expectedHeader, StringComparison.Ordinal))
                {
                    throw Malformed(sourceName, lineNumber, $"expected the header row '{Visible(expectedHeader)}' but found '{Visible(line)}'.");
                }

                headerSeen = true;
                continue;
            }

            var columns = line.Split('\t');
            if (columns.Length != header.Length)
            {
                throw Malformed(
                    sourceName,
                    lineNumber,
                    string.Create(CultureInfo.InvariantCulture, $"has {columns.Length} tab-separated column(s), expected {header.Length} ({Visible(expectedHeader)})."));
            }

            var eventType = columns[0];
            if (eventType.Length == 0 || eventType.Any(char.IsWhiteSpace))
            {
                throw Malformed(sourceName, lineNumber, $"the event type '{eventType}' is empty or contains whitespace.");
            }

            var basis = isDocumented ? DocumentedBasis : columns[3];
            if (basis.Length == 0)
            {
                throw Malformed(sourceName, lineNumber, $"the basis of '{eventType}' is empty; see the basis values in the file's header comments.");
            }

            var isVerified = isDocumented || string.Equals(basis, TrustedDerivedBasis, StringComparison.Ordinal);

            // Unverified derived rows may have no guess at all; every row the policy relies on needs a permission.
            var permissionColumn = columns[1];
            var anyOf = permissionColumn.Length == 0 && !isVerified
                ? []
                : ParsePermissions(permissionColumn, sourceName, lineNumber, eventType);

            if (seen.TryGetValue(eventType, out var earlier))
            {
                throw Malformed(
                    sourceName,
                    lineNumber,
                    string.Create(CultureInfo.InvariantCulture, $"'{eventType}' is already listed at {earlier.SourceName} line {earlier.LineNumber}; keep one row per event type."));
            }

            var rule = new EventPermissionRule(eventType, anyOf, isDocumented, basis, isVerified, sourceName, lineNumber);
            seen.Add(eventType, rule);
            rules.Add(rule);
        }

        if (!headerSeen)
        {
            throw Malformed(sourceName, lineNumber, $"the file has no header row; expected '{Visible(expectedHeader)}'.");
        }
    }

    private static string[] ParsePermissions(string column, string sourceName, int lineNumber, string eventType)
    {
        var permissions = column.Split(',');
        for (var i = 0; i < permissions.Length; i++)
        {
            var permission = permissions[i];
            if (permission.Length == 0 || permission.Any(char.IsWhiteSpace))
            {
                throw Malformed(
                    sourceName,
                    lineNumber,
                    $"the permission list '{column}' of '{eventType}' has an empty permission or one with whitespace; write comma-separated permission IDs such as 'invoice_read,quote_read'.");
            }

            if (Array.IndexOf(permissions, permission, 0, i) >= 0)
            {
                throw Malformed(sourceName, lineNumber, $"the permission list '{column}' of '{eventType}' lists '{permission}' twice.");
            }
        }

        return permissions;
    }

    private static EventPermissionTableException Malformed(string sourceName, int lineNumber, string problem) =>
        new(sourceName, lineNumber, problem);

    private static string Visible(string text) => text.Replace("\t", "<TAB>", StringComparison.Ordinal);
}
