using System.Globalization;
using System.Text.Json.Nodes;
using SyncWorker.Testing;
using WireMock;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Forwarding.Tests.Orders;

/// <summary>
/// WireMock standing in for Stripe's <c>GET /v1/checkout/sessions/{id}/line_items</c>: list pages chained by
/// <c>starting_after</c>, Stripe-shaped errors, and the requests it received.
/// </summary>
internal static class StripeLineItemsApi
{
    public const string TestKey = "sk_test_wiremock-only-not-a-real-key";
    public const string SessionId = "cs_test_a1LineItemsSession";
    public const string Account = "acct_1Qx7ExampleMrch01";
    public const string LineItemsPath = "/v1/checkout/sessions/" + SessionId + "/line_items";

    /// <summary>Every request for the session's line items, in order.</summary>
    public static IRequestMessage[] LineItemRequests(this WireMockServer server) =>
        server.LogEntries.Select(entry => entry.RequestMessage).Where(r => r.Path == LineItemsPath).ToArray();

    /// <summary>The <c>starting_after</c> of a request (null for the first page).</summary>
    public static string? StartingAfter(IRequestMessage request) => Query(request, "starting_after");

    public static string? Query(IRequestMessage request, string name) =>
        request.Query is { } query && query.TryGetValue(name, out var values) ? values.Single() : null;

    /// <summary>Serves <paramref name="body"/> for the page after <paramref name="startingAfter"/> (null: the first page).</summary>
    public static void StubPage(this WireMockServer server, string body, string? startingAfter) =>
        server.Given(PageRequest(startingAfter)).AtPriority(startingAfter is null ? 10 : 1).RespondWith(Json(body));

    /// <summary>Answers every request for the page after <paramref name="startingAfter"/> (null: any page) with a Stripe error.</summary>
    public static void StubError(this WireMockServer server, int status, string type, string? code, string message, string? startingAfter = null, bool? shouldRetry = null) =>
        server.Given(startingAfter is null ? Request.Create().WithPath(LineItemsPath).UsingGet() : PageRequest(startingAfter))
            .AtPriority(startingAfter is null ? 10 : 1)
            .RespondWith(ErrorResponse(status, type, code, message, shouldRetry));

    public static IResponseBuilder ErrorResponse(int status, string type, string? code, string message, bool? shouldRetry = null)
    {
        var response = Response.Create()
            .WithStatusCode(status)
            .WithHeader("Content-Type", "application/json")
            .WithHeader("Request-Id", "req_wiremock" + status.ToString(CultureInfo.InvariantCulture))
            .WithBody(new JsonObject { ["error"] = new JsonObject { ["type"] = type, ["code"] = code, ["message"] = message } }.ToJsonString());
        return shouldRetry is { } retry ? response.WithHeader("Stripe-Should-Retry", retry ? "true" : "false") : response;
    }

    public static IResponseBuilder Json(string body) =>
        Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(body);

    public static string ItemId(int n) => "li_" + n.ToString("000", CultureInfo.InvariantCulture);

    /// <summary>A list page of items <c>li_{first}</c> to <c>li_{last}</c>, each shaped like the fixture's item.</summary>
    public static string Page(int first, int last, bool hasMore)
    {
        var template = JsonNode.Parse(StripeEvents.Text(OrderTestEvents.LineItemsResponse))!["data"]![0]!;
        var data = new JsonArray();
        for (var n = first; n <= last; n++)
        {
            var item = template.DeepClone();
            item["id"] = ItemId(n);
            item["description"] = "Item " + n.ToString(CultureInfo.InvariantCulture);
            data.Add(item);
        }

        return new JsonObject
        {
            ["object"] = "list",
            ["data"] = data,
            ["has_more"] = hasMore,
            ["url"] = LineItemsPath,
        }.ToJsonString();
    }

    private static IRequestBuilder PageRequest(string? startingAfter)
    {
        var request = Request.Create().WithPath(LineItemsPath).UsingGet();
        return startingAfter is null ? request : request.WithParam("starting_after", startingAfter);
    }
}
