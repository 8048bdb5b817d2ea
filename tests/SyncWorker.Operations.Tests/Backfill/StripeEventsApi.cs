using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using SyncWorker.Testing;
using WireMock;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Operations.Tests.Backfill;

/// <summary>One event (or other object) of a listing page: its raw JSON as the stand-in serves it.</summary>
internal sealed record ListedObject(string Id, string Type, string Raw)
{
    /// <summary>The raw text of the element as a JSON parser slices it out of the page (no trailing newline).</summary>
    public string Payload => Raw.Trim();
}

/// <summary>WireMock standing in for <c>GET /v1/events</c>: pages chained by <c>starting_after</c>.</summary>
internal sealed class StripeEventsApi : IDisposable
{
    public const string ApiKey = "sk_test_backfill-wiremock-0123456789abcdef";
    public const string EventsPath = "/v1/events";

    public StripeEventsApi() => Server = WireMockServer.Start();

    public WireMockServer Server { get; }

    public string Url => Server.Url!;

    /// <summary>Every request to <c>/v1/events</c>, in order.</summary>
    public IRequestMessage[] Requests =>
        Server.LogEntries.Select(entry => entry.RequestMessage).Where(r => r.Path == EventsPath).ToArray();

    /// <summary>Serves <paramref name="pages"/> (each newest first) in order, linked by the last id of the page before.</summary>
    public void ServePages(params ListedObject[][] pages)
    {
        ArgumentNullException.ThrowIfNull(pages);
        for (var i = 0; i < pages.Length; i++)
        {
            var request = Request.Create().WithPath(EventsPath).UsingGet();
            if (i > 0)
            {
                request = request.WithParam("starting_after", pages[i - 1][^1].Id);
            }

            Server.Given(request).AtPriority(i == 0 ? 10 : 1).RespondWith(Json(Page(pages[i], hasMore: i < pages.Length - 1)));
        }
    }

    /// <summary>
    /// Serves <paramref name="pages"/> to requests with <c>Stripe-Account: <paramref name="account"/></c> only; these
    /// mappings win over those of <see cref="ServePages"/>, which then answer requests without that header.
    /// </summary>
    public void ServePagesFor(string account, params ListedObject[][] pages)
    {
        ArgumentNullException.ThrowIfNull(pages);
        for (var i = 0; i < pages.Length; i++)
        {
            var request = Request.Create().WithPath(EventsPath).UsingGet().WithHeader("Stripe-Account", account);
            if (i > 0)
            {
                request = request.WithParam("starting_after", pages[i - 1][^1].Id);
            }

            Server.Given(request).AtPriority(i == 0 ? 5 : 0).RespondWith(Json(Page(pages[i], hasMore: i < pages.Length - 1)));
        }
    }

    /// <summary>Answers every request with <c>Stripe-Account: <paramref name="account"/></c> with an error.</summary>
    public void ServeErrorFor(string account, int status, string message) =>
        Server.Given(Request.Create().WithPath(EventsPath).UsingGet().WithHeader("Stripe-Account", account))
            .AtPriority(0)
            .RespondWith(ErrorResponse(status, message));

    public void ServeError(int status, string message) =>
        Server.Given(Request.Create().WithPath(EventsPath).UsingGet())
            .RespondWith(ErrorResponse(status, message));

    private static IResponseBuilder ErrorResponse(int status, string message) =>
        Response.Create()
                .WithStatusCode(status)
                .WithHeader("Content-Type", "application/json")
                .WithHeader("Request-Id", "req_wiremock" + status.ToString(CultureInfo.InvariantCulture))
                .WithBody(new JsonObject
                {
                    ["error"] = new JsonObject { ["type"] = "invalid_request_error", ["message"] = message },
                }.ToJsonString());

    /// <summary>The page served for <paramref name="objects"/>: the raw texts spliced in unchanged.</summary>
    public static string Page(IEnumerable<ListedObject> objects, bool hasMore) =>
        "{\n  \"object\": \"list\",\n  \"data\": [\n" + string.Join(",\n", objects.Select(o => o.Raw.Trim())) +
        $"\n  ],\n  \"has_more\": {(hasMore ? "true" : "false")},\n  \"url\": \"{EventsPath}\"\n}}";

    public static IResponseBuilder Json(string body) =>
        Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(body);

    /// <summary>A fixture event with a fresh id.</summary>
    public static ListedObject Event(string fixture)
    {
        var id = StripeEvents.NewEventId();
        var raw = StripeEvents.WithId(fixture, id);
        using var document = JsonDocument.Parse(raw);
        return new ListedObject(id, document.RootElement.GetProperty("type").GetString()!, raw);
    }

    /// <summary>
    /// A fixture event with a fresh id whose <c>account</c> is <paramref name="account"/>; null leaves the field out, as
    /// an event of the app's own account (or one listed with <c>Stripe-Account</c> without it) has it.
    /// </summary>
    public static ListedObject Event(string fixture, string? account)
    {
        var node = JsonNode.Parse(StripeEvents.WithId(fixture, StripeEvents.NewEventId()))!.AsObject();
        if (account is null)
        {
            node.Remove("account");
        }
        else
        {
            node["account"] = account;
        }

        return new ListedObject(node["id"]!.GetValue<string>(), node["type"]!.GetValue<string>(), node.ToJsonString());
    }

    /// <summary>Something in the list that is not a snapshot event: a line item, as Stripe's API returns one.</summary>
    public static ListedObject NotAnEvent()
    {
        using var document = JsonDocument.Parse(StripeEvents.Text("checkout.session.line_items.response.json"));
        var item = document.RootElement.GetProperty("data")[0];
        return new ListedObject(item.GetProperty("id").GetString()!, "item", item.GetRawText());
    }

    /// <summary>A query parameter by its decoded name (WireMock keeps names as sent: <c>created%5Bgte%5D</c>).</summary>
    public static string? Query(IRequestMessage request, string name) =>
        request.Query?.Where(p => Uri.UnescapeDataString(p.Key) == name).Select(p => p.Value.Single()).SingleOrDefault();

    public static string[] Header(IRequestMessage request, string name) =>
        request.Headers?.Where(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).SelectMany(h => h.Value).ToArray() ?? [];

    /// <summary>The verb's configuration: the broker, this stand-in, the key, and the repository's manifest.</summary>
    /// <summary>This stand-in's own SQLite store (<c>Store:DataDirectory</c>), deleted with it: a fresh backfill ledger per test.</summary>
    public string StoreDirectory { get; } = Path.Combine(Path.GetTempPath(), "syncworker-backfill-tests", Guid.NewGuid().ToString("N")[..8]);

    public IConfiguration Configuration(Uri? rabbitMq, string? apiKey = ApiKey) => BackfillConfiguration(rabbitMq, Url, apiKey, storeDirectory: StoreDirectory);

    public static IConfiguration BackfillConfiguration(
        Uri? rabbitMq, string? apiBase, string? apiKey, string? manifestPath = null, string? storeDirectory = null)
    {
        var values = new Dictionary<string, string?>
        {
            ["Stripe:ApiKey"] = apiKey,
            ["Stripe:ApiBase"] = apiBase,
            ["Manifest:Path"] = manifestPath ?? RepositoryManifest,
            ["Store:DataDirectory"] = storeDirectory ?? Path.Combine(Path.GetTempPath(), "syncworker-backfill-tests", "unused"),
        };
        if (rabbitMq is not null)
        {
            values["RabbitMq:Uri"] = rabbitMq.ToString();
        }

        return new ConfigurationBuilder().AddInMemoryCollection(values).Build();
    }

    /// <summary>The repository's <c>manifest/stripe-app.json</c>, the one the worker runs with.</summary>
    public static string RepositoryManifest
    {
        get
        {
            for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "SyncWorker.sln")))
                {
                    return Path.Combine(directory.FullName, "manifest", "stripe-app.json");
                }
            }

            throw new InvalidOperationException("SyncWorker.sln not found above " + AppContext.BaseDirectory);
        }
    }

    public void Dispose()
    {
        Server.Stop();
        Server.Dispose();
        if (Directory.Exists(StoreDirectory))
        {
            Directory.Delete(StoreDirectory, recursive: true);
        }
    }
}
