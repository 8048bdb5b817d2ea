namespace SyncWorker.Manifest.Tests;

public class EventPermissionTableTests
{
    private const string DocumentedFile = "event-permissions.tsv";
    private const string DerivedFile = "event-permissions-derived.tsv";

    private const string DocumentedHeader = "# comment\nevent_type\tpermission\n";
    private const string DerivedHeader = "# comment\nevent_type\tpermission_guess\tdata_object_type\tbasis\n";

    [Test]
    public void Every_row_of_the_documented_file_is_in_the_embedded_table()
    {
        var rows = DataRows(DocumentedFile);
        var table = EventPermissionTable.LoadEmbedded();

        Assert.That(rows, Has.Count.EqualTo(161), "the reference notes count 161 documented rows");
        Assert.That(table.DocumentedCount, Is.EqualTo(rows.Count));
        Assert.Multiple(() =>
        {
            foreach (var columns in rows)
            {
                var rule = table.Rule(columns[0]);
                Assert.That(rule, Is.Not.Null, columns[0]);
                Assert.That(rule!.IsDocumented, Is.True, columns[0]);
                Assert.That(rule.IsVerified, Is.True, columns[0]);
                Assert.That(rule.AnyOf, Is.EqualTo(columns[1].Split(',')), columns[0]);
            }
        });
    }

    [Test]
    public void Every_row_of_the_derived_file_is_in_the_embedded_table_and_only_same_object_type_rows_are_verified()
    {
        var rows = DataRows(DerivedFile);
        var table = EventPermissionTable.LoadEmbedded();

        Assert.That(rows, Has.Count.EqualTo(108), "the reference notes count 108 derived rows");
        Assert.That(table.DerivedCount, Is.EqualTo(rows.Count));
        Assert.That(table.Rules, Has.Count.EqualTo(161 + 108));
        Assert.Multiple(() =>
        {
            foreach (var columns in rows)
            {
                var rule = table.Rule(columns[0]);
                Assert.That(rule, Is.Not.Null, columns[0]);
                Assert.That(rule!.IsDocumented, Is.False, columns[0]);
                Assert.That(rule.Basis, Is.EqualTo(columns[3]), columns[0]);
                Assert.That(
                    rule.IsVerified,
                    Is.EqualTo(columns[3] == "derived:same-data.object-type-as-documented-events"),
                    columns[0]);
                Assert.That(rule.AnyOf, Is.EqualTo(columns[1].Length == 0 ? [] : columns[1].Split(',')), columns[0]);
            }
        });
        Assert.That(table.Rules.Count(r => !r.IsDocumented && r.IsVerified), Is.EqualTo(3));
    }

    [TestCase(EventPermissionTable.DocumentedResourceName, DocumentedFile)]
    [TestCase(EventPermissionTable.DerivedResourceName, DerivedFile)]
    public void Embedded_copy_is_byte_identical_to_the_data_file(string resourceName, string fileName)
    {
        using var stream = typeof(EventPermissionTable).Assembly.GetManifestResourceStream(resourceName);
        Assert.That(stream, Is.Not.Null, $"resource {resourceName} is not embedded");
        using var copy = new MemoryStream();
        stream!.CopyTo(copy);

        Assert.That(copy.ToArray(), Is.EqualTo(File.ReadAllBytes(RepoPaths.DataFile(fileName))));
    }

    [Test]
    public void LoadEmbedded_builds_the_table_once()
    {
        var first = EventPermissionTable.LoadEmbedded();
        var second = EventPermissionTable.LoadEmbedded();

        Assert.That(second, Is.SameAs(first));
    }

    [Test]
    public void Rule_returns_null_for_an_unknown_event_type()
    {
        var table = EventPermissionTable.LoadEmbedded();

        Assert.That(table.Rule("foo.bar"), Is.Null);
        Assert.That(table.Rule("Checkout.Session.Completed"), Is.Null, "event types are case-sensitive");
        Assert.That(table.TryGetRule("checkout.session.completed", out var rule), Is.True);
        Assert.That(rule!.AnyOf, Is.EqualTo(new[] { "checkout_session_read" }));
    }

    [Test]
    public void Rule_remembers_where_the_row_came_from()
    {
        var table = Parse(
            DocumentedHeader + "a.created\tx_read\n# between\n\nb.created\ty_read,z_read\n",
            DerivedHeader + "c.created\t\tC\tunknown:no-documented-permission-found\n");

        var b = table.Rule("b.created")!;
        var c = table.Rule("c.created")!;

        Assert.Multiple(() =>
        {
            Assert.That(b.SourceName, Is.EqualTo(EventPermissionTable.DocumentedFileName));
            Assert.That(b.LineNumber, Is.EqualTo(6), "comment and blank lines are counted");
            Assert.That(b.AnyOf, Is.EqualTo(new[] { "y_read", "z_read" }));
            Assert.That(b.Basis, Is.EqualTo(EventPermissionTable.DocumentedBasis));
            Assert.That(c.SourceName, Is.EqualTo(EventPermissionTable.DerivedFileName));
            Assert.That(c.LineNumber, Is.EqualTo(3));
            Assert.That(c.AnyOf, Is.Empty);
            Assert.That(c.IsVerified, Is.False);
        });
    }

    [TestCase("a.created\n", 3, "has 1 tab-separated column(s), expected 2", TestName = "Documented_row_with_one_column")]
    [TestCase("a.created\tx_read\textra\n", 3, "has 3 tab-separated column(s), expected 2", TestName = "Documented_row_with_three_columns")]
    [TestCase("\tx_read\n", 3, "event type '' is empty", TestName = "Documented_row_with_empty_event_type")]
    [TestCase("ok.created\tx_read\na.created\t\n", 4, "has an empty permission", TestName = "Documented_row_with_empty_permission")]
    [TestCase("a.created\tx_read,,y_read\n", 3, "has an empty permission", TestName = "Documented_row_with_empty_alternative")]
    [TestCase("a.created\tx_read, y_read\n", 3, "with whitespace", TestName = "Documented_row_with_space_after_comma")]
    [TestCase("a.created\tx_read,x_read\n", 3, "lists 'x_read' twice", TestName = "Documented_row_repeating_a_permission")]
    [TestCase("a.created\tx_read\na.created\ty_read\n", 4, "'a.created' is already listed at src/SyncWorker.Manifest/Data/event-permissions.tsv line 3", TestName = "Documented_row_repeating_an_event_type")]
    public void Malformed_documented_row_throws_naming_the_file_and_line(string rows, int line, string problem)
    {
        var ex = Assert.Throws<EventPermissionTableException>(() => Parse(DocumentedHeader + rows, DerivedHeader));

        Assert.That(ex.SourceName, Is.EqualTo(EventPermissionTable.DocumentedFileName));
        Assert.That(ex.LineNumber, Is.EqualTo(line));
        Assert.That(ex.Message, Does.StartWith($"src/SyncWorker.Manifest/Data/event-permissions.tsv line {line}: "));
        Assert.That(ex.Message, Does.Contain(problem));
    }

    [TestCase("a.created\tx_read\tA\n", 3, "has 3 tab-separated column(s), expected 4", TestName = "Derived_row_with_three_columns")]
    [TestCase("a.created\t\tA\tderived:same-data.object-type-as-documented-events\n", 3, "has an empty permission", TestName = "Trusted_derived_row_with_empty_permission")]
    [TestCase("a.created\tx_read\tA\t\n", 3, "the basis of 'a.created' is empty", TestName = "Derived_row_with_empty_basis")]
    [TestCase("documented.created\tx_read\tA\tunknown:no-documented-permission-found\n", 3, "already listed at src/SyncWorker.Manifest/Data/event-permissions.tsv line 3", TestName = "Derived_row_repeating_a_documented_event_type")]
    public void Malformed_derived_row_throws_naming_the_file_and_line(string rows, int line, string problem)
    {
        var ex = Assert.Throws<EventPermissionTableException>(
            () => Parse(DocumentedHeader + "documented.created\tx_read\n", DerivedHeader + rows));

        Assert.That(ex.SourceName, Is.EqualTo(EventPermissionTable.DerivedFileName));
        Assert.That(ex.LineNumber, Is.EqualTo(line));
        Assert.That(ex.Message, Does.StartWith($"src/SyncWorker.Manifest/Data/event-permissions-derived.tsv line {line}: "));
        Assert.That(ex.Message, Does.Contain(problem));
    }

    [Test]
    public void A_file_whose_first_row_is_not_the_header_throws()
    {
        var ex = Assert.Throws<EventPermissionTableException>(
            () => Parse("# comment\na.created\tx_read\n", DerivedHeader));

        Assert.That(ex.LineNumber, Is.EqualTo(2));
        Assert.That(ex.Message, Does.Contain("expected the header row 'event_type<TAB>permission'"));
    }

    [Test]
    public void An_empty_file_throws()
    {
        var ex = Assert.Throws<EventPermissionTableException>(() => Parse(DocumentedHeader, "# only a comment\n"));

        Assert.That(ex.SourceName, Is.EqualTo(EventPermissionTable.DerivedFileName));
        Assert.That(ex.Message, Does.Contain("no header row"));
    }

    [Test]
    public void Parse_accepts_windows_line_endings()
    {
        var table = Parse(DocumentedHeader.Replace("\n", "\r\n", StringComparison.Ordinal) + "a.created\tx_read\r\n", DerivedHeader);

        Assert.That(table.Rule("a.created")!.AnyOf, Is.EqualTo(new[] { "x_read" }));
    }

    private static EventPermissionTable Parse(string documented, string derived)
    {
        using var documentedReader = new StringReader(documented);
        using var derivedReader = new StringReader(derived);
        return EventPermissionTable.Parse(documentedReader, derivedReader);
    }

    /// <summary>The data rows of a file in src/SyncWorker.Manifest/Data, read without the code under test.</summary>
    private static List<string[]> DataRows(string fileName) =>
        File.ReadAllLines(RepoPaths.DataFile(fileName))
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .Skip(1)
            .Select(line => line.Split('\t'))
            .ToList();
}
