using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.Options;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Testing;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Forwarding.Tests.Orders;

/// <summary>Keeps the example in <c>src/SyncWorker.Forwarding/Orders/ORDER-DOCUMENT.md</c> true.</summary>
[TestFixture]
public sealed class OrderDocumentExampleTests
{
    private const string BeginMarker = "<!-- example:begin -->";
    private const string EndMarker = "<!-- example:end -->";

    [Test]
    public async Task The_example_in_ORDER_DOCUMENT_md_is_what_the_mapper_produces_for_the_fixtures()
    {
        var actual = Indented(await ProduceExampleAsync());
        var expected = ReadExample(Path.Combine(RepositoryRoot(), "src", "SyncWorker.Forwarding", "Orders", "ORDER-DOCUMENT.md"));

        if (actual != expected)
        {
            var written = Path.Combine(TestContext.CurrentContext.WorkDirectory, "ORDER-DOCUMENT.example.json");
            await File.WriteAllTextAsync(written, actual + "\n");
            Assert.Fail($"The example in ORDER-DOCUMENT.md differs from the mapper's output; if the change is intended, paste {written} into it (and bump schema_version for a breaking change).");
        }
    }

    /// <summary>
    /// The paid fixture through the production path: line items read by <see cref="StripeLineItemSource"/> from a
    /// stand-in serving the line items fixture, then <see cref="OrderDocumentMapper"/>.
    /// </summary>
    private static async Task<byte[]> ProduceExampleAsync()
    {
        var evt = OrderTestEvents.Fixture(OrderTestEvents.Paid);
        using var server = WireMockServer.Start();
        server.Given(Request.Create().WithPath($"/v1/checkout/sessions/{evt.ObjectId}/line_items").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json")
                .WithBody(StripeEvents.Text(OrderTestEvents.LineItemsResponse)));
        using var http = new HttpClient();
        using var source = new StripeLineItemSource(
            Options.Create(new StripeApiOptions { ApiKey = "rk_live_example-only-not-a-real-key", ApiBase = server.Url! }), http);

        var items = await source.GetLineItemsAsync(evt.ObjectId!, evt.Account, evt.Environment, CancellationToken.None);
        return OrderDocumentMapper.Map(evt, items).ToJsonBytes();
    }

    private static string Indented(byte[] json)
    {
        using var document = JsonDocument.Parse(json);
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            document.WriteTo(writer);
        }

        return Encoding.UTF8.GetString(buffer.ToArray()).ReplaceLineEndings("\n");
    }

    private static string ReadExample(string markdownPath)
    {
        var text = File.ReadAllText(markdownPath).ReplaceLineEndings("\n");
        var begin = text.IndexOf(BeginMarker, StringComparison.Ordinal);
        var end = text.IndexOf(EndMarker, StringComparison.Ordinal);
        Assert.That(begin, Is.GreaterThanOrEqualTo(0), $"{markdownPath} has no {BeginMarker}");
        Assert.That(end, Is.GreaterThan(begin), $"{markdownPath} has no {EndMarker} after {BeginMarker}");

        var block = text[(begin + BeginMarker.Length)..end].Trim();
        Assert.That(block, Does.StartWith("```json\n").And.EndWith("\n```"), "the example is one ```json fenced block");
        return block["```json\n".Length..^"\n```".Length];
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "SyncWorker.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("SyncWorker.sln not found above " + TestContext.CurrentContext.TestDirectory);
    }
}
