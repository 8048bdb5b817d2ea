using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Testing;
using WireMock;
using WireMock.Logging;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;
using static SyncWorker.Forwarding.Tests.Orders.StripeLineItemsApi;

namespace SyncWorker.Forwarding.Tests.Orders;

/// <summary>Stripe.net against WireMock standing in for Stripe's API: what is sent, pagination, and failure mapping.</summary>
[TestFixture]
public sealed class StripeLineItemSourceTests
{
    private const string TestKey = StripeLineItemsApi.TestKey;
    private const string SessionId = StripeLineItemsApi.SessionId;
    private const string Account = StripeLineItemsApi.Account;
    private const string LineItemsPath = StripeLineItemsApi.LineItemsPath;

    private WireMockServer _server = null!;
    private HttpClient _http = null!;

    [SetUp]
    public void StartServer()
    {
        _server = WireMockServer.Start();
        _http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
    }

    [TearDown]
    public void StopServer()
    {
        _http.Dispose();
        _server.Stop();
        _server.Dispose();
    }

    [Test]
    public async Task Follows_pagination_to_the_end_with_limit_100_and_starting_after_the_last_id()
    {
        StubPage(Page(1, 100, hasMore: true), startingAfter: null);
        StubPage(Page(101, 200, hasMore: true), startingAfter: "li_100");
        StubPage(Page(201, 205, hasMore: false), startingAfter: "li_200");

        var items = await Source().GetLineItemsAsync(SessionId, Account, StripeEnvironment.Test, CancellationToken.None);

        Assert.That(items.Select(item => item.Id), Is.EqualTo(Enumerable.Range(1, 205).Select(ItemId)));
        var requests = _server.LogEntries.Select(entry => entry.RequestMessage).ToArray();
        Assert.That(requests, Has.Length.EqualTo(3));
        Assert.Multiple(() =>
        {
            Assert.That(requests.Select(r => r.Path), Is.All.EqualTo(LineItemsPath));
            Assert.That(requests.Select(r => r.Method), Is.All.EqualTo("GET"));
            Assert.That(requests.Select(r => Query(r, "limit")), Is.All.EqualTo("100"));
            Assert.That(requests.Select(r => Query(r, "starting_after")), Is.EqualTo(new[] { null, "li_100", "li_200" }));
        });
    }

    [Test]
    public async Task Maps_each_line_item_from_Stripe_fields()
    {
        StubPage(StripeEvents.Text(OrderTestEvents.LineItemsResponse), startingAfter: null);
        using var fixture = JsonDocument.Parse(StripeEvents.Text(OrderTestEvents.LineItemsResponse));
        var expected = fixture.RootElement.GetProperty("data")[0];
        var price = expected.GetProperty("price");

        var items = await Source().GetLineItemsAsync(SessionId, Account, StripeEnvironment.Test, CancellationToken.None);

        Assert.That(items, Is.EqualTo(new[]
        {
            new OrderLineItem(
                expected.GetProperty("id").GetString()!,
                expected.GetProperty("description").GetString(),
                expected.GetProperty("quantity").GetInt64(),
                price.GetProperty("id").GetString(),
                price.GetProperty("product").GetString(),
                price.GetProperty("unit_amount").GetInt64(),
                expected.GetProperty("amount_subtotal").GetInt64(),
                expected.GetProperty("amount_discount").GetInt64(),
                expected.GetProperty("amount_tax").GetInt64(),
                expected.GetProperty("amount_total").GetInt64(),
                expected.GetProperty("currency").GetString()),
        }));
    }

    [Test]
    public async Task Sends_the_events_account_as_Stripe_Account_and_the_key_as_bearer()
    {
        StubPage(Page(1, 2, hasMore: false), startingAfter: null);

        await Source().GetLineItemsAsync(SessionId, Account, StripeEnvironment.Test, CancellationToken.None);

        var request = _server.LogEntries.Single().RequestMessage;
        Assert.That(Header(request, "Stripe-Account"), Is.EqualTo(new[] { Account }));
        Assert.That(Header(request, "Authorization"), Is.EqualTo(new[] { "Bearer " + TestKey }));
    }

    [Test]
    public async Task Sends_no_Stripe_Account_header_for_the_apps_own_account()
    {
        StubPage(Page(1, 2, hasMore: false), startingAfter: null);

        await Source().GetLineItemsAsync(SessionId, account: null, StripeEnvironment.Test, CancellationToken.None);

        var request = _server.LogEntries.Single().RequestMessage;
        Assert.That(Header(request, "Stripe-Account"), Is.Empty);
        Assert.That(Header(request, "Authorization"), Is.EqualTo(new[] { "Bearer " + TestKey }));
    }

    [Test]
    public void Unauthorized_is_permanent_and_never_shows_the_key()
    {
        // Stripe's own 401 text echoes (a masked form of) the key; this stand-in echoes all of it.
        StubError(401, "invalid_request_error", code: "api_key_expired", message: $"Expired API Key provided: {TestKey}");

        var failure = Fails(Source());

        Assert.Multiple(() =>
        {
            Assert.That(failure.IsPermanent, Is.True);
            Assert.That(failure.StatusCode, Is.EqualTo(401));
            Assert.That(failure.Attempts, Is.EqualTo(1));
            Assert.That(failure.Message, Does.Contain(SessionId).And.Contain(Account).And.Contain("Stripe:ApiKey").And.Contain("revoked"));
            Assert.That(failure.Message, Does.Contain("api_key_expired").And.Contain("req_wiremock"));
            Assert.That(failure.ToString(), Does.Not.Contain(TestKey).And.Not.Contain(TestKey[8..]));
            Assert.That(_server.LogEntries.Count, Is.EqualTo(1), "a permanent failure is not retried");
        });
    }

    [Test]
    public void Forbidden_is_permanent_and_names_the_permission()
    {
        StubError(403, "invalid_request_error", code: null, message: "The provided key does not have the required permissions for this endpoint.");

        var failure = Fails(Source());

        Assert.That(failure.IsPermanent, Is.True);
        Assert.That(failure.StatusCode, Is.EqualTo(403));
        Assert.That(failure.Message, Does.Contain("checkout_session_read").And.Contain("Stripe:ApiKey"));
    }

    [Test]
    public void Not_found_is_permanent()
    {
        StubError(404, "invalid_request_error", code: "resource_missing", message: $"No such checkout.session: '{SessionId}'");

        var failure = Fails(Source());

        Assert.That(failure.IsPermanent, Is.True);
        Assert.That(failure.StatusCode, Is.EqualTo(404));
        Assert.That(failure.Message, Does.Contain(SessionId).And.Contain("resource_missing"));
        Assert.That(_server.LogEntries.Count, Is.EqualTo(1));
    }

    [TestCase(500, null)]
    [TestCase(503, true)] // Stripe-Should-Retry: true, which Stripe.net's own retries would follow
    [TestCase(409, null)]
    public void A_server_error_is_transient_after_one_call_because_Stripe_net_retries_nothing(int status, bool? shouldRetry)
    {
        _server.StubError(status, "api_error", code: null, message: "Something went wrong on Stripe's end.", shouldRetry: shouldRetry);

        var failure = Fails(Source());

        Assert.That(failure.IsPermanent, Is.False);
        Assert.That(failure.StatusCode, Is.EqualTo(status));
        Assert.That(failure.Attempts, Is.EqualTo(1));
        Assert.That(_server.LogEntries.Count, Is.EqualTo(1), "the delivery's Polly retry is the only one (PreparationRetryTests)");
    }

    [Test]
    public void Rate_limiting_is_transient()
    {
        StubError(429, "invalid_request_error", code: "rate_limit", message: "Too many requests.");

        var failure = Fails(Source());

        Assert.That(failure.IsPermanent, Is.False);
        Assert.That(failure.StatusCode, Is.EqualTo(429));
    }

    [Test]
    public void An_unreachable_API_is_transient()
    {
        var url = _server.Url!;
        _server.Stop();
        var source = new StripeLineItemSource(Options.Create(new StripeApiOptions { ApiKey = TestKey, ApiBase = url }), _http);

        var failure = Fails(source);

        Assert.That(failure.IsPermanent, Is.False);
        Assert.That(failure.StatusCode, Is.Null);
        Assert.That(failure.InnerException, Is.InstanceOf<HttpRequestException>());
        Assert.That(failure.ToString(), Does.Not.Contain(TestKey));
    }

    [Test]
    public void A_timeout_is_transient()
    {
        _server.Given(Request.Create().WithPath(LineItemsPath).UsingGet())
            .RespondWith(Json(Page(1, 1, hasMore: false)).WithDelay(TimeSpan.FromSeconds(1)));
        using var impatient = new HttpClient { Timeout = TimeSpan.FromMilliseconds(200) };

        var failure = Fails(Source(impatient));

        Assert.That(failure.IsPermanent, Is.False);
        Assert.That(failure.Message, Does.Contain("did not answer in time"));
    }

    [Test]
    public void Cancellation_is_not_a_delivery_failure()
    {
        _server.Given(Request.Create().WithPath(LineItemsPath).UsingGet())
            .RespondWith(Json(Page(1, 1, hasMore: false)).WithDelay(TimeSpan.FromSeconds(1)));
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        Assert.That(
            async () => await Source().GetLineItemsAsync(SessionId, Account, StripeEnvironment.Test, cancel.Token),
            Throws.InstanceOf<OperationCanceledException>());
    }

    [TestCase(TestKey, true)]
    [TestCase("rk_live_wiremock-only-not-a-real-key", false)]
    public void A_key_of_the_other_mode_fails_permanently_without_calling_Stripe(string key, bool livemode)
    {
        StubPage(Page(1, 1, hasMore: false), startingAfter: null);

        var failure = Fails(Source(key: key), livemode);

        Assert.That(failure.IsPermanent, Is.True);
        Assert.That(failure.Message, Does.Contain("Stripe:ApiKey").And.Contain(livemode ? "live" : "test"));
        Assert.That(failure.Message, Does.Not.Contain(key));
        Assert.That(_server.LogEntries, Is.Empty);
    }

    [Test]
    public async Task Each_mode_is_read_with_its_own_key()
    {
        const string liveKey = "rk_live_wiremock-only-not-a-real-key";
        StubPage(Page(1, 1, hasMore: false), startingAfter: null);
        using var source = new StripeLineItemSource(
            Options.Create(new StripeApiOptions { ApiKeys = new() { Live = liveKey, Test = TestKey }, ApiBase = _server.Url! }), _http);

        await source.GetLineItemsAsync(SessionId, Account, StripeEnvironment.Live, CancellationToken.None);
        await source.GetLineItemsAsync(SessionId, Account, StripeEnvironment.Test, CancellationToken.None);

        Assert.That(_server.LogEntries.Select(e => e.RequestMessage.Headers!["Authorization"].Single()),
            Is.EqualTo(new[] { $"Bearer {liveKey}", $"Bearer {TestKey}" }));
    }

    [Test]
    public async Task A_sandbox_event_is_read_with_the_sandbox_key_and_test_and_live_events_with_their_own()
    {
        const string liveKey = "rk_live_wiremock-only-not-a-real-key";
        const string sandboxKey = "sk_test_sandbox-wiremock-only-not-a-real-key";
        StubPage(Page(1, 1, hasMore: false), startingAfter: null);
        _server.Given(Request.Create().WithPath("/v1/checkout/sessions").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json")
                .WithBody("{\"object\":\"list\",\"data\":[],\"has_more\":false,\"url\":\"/v1/checkout/sessions\"}"));
        using var source = new StripeLineItemSource(
            Options.Create(new StripeApiOptions { ApiKeys = new() { Live = liveKey, Test = TestKey, Sandbox = sandboxKey }, ApiBase = _server.Url! }), _http);

        await source.GetLineItemsAsync(SessionId, Account, StripeEnvironment.Sandbox, CancellationToken.None);
        await source.GetLineItemsAsync(SessionId, Account, StripeEnvironment.Test, CancellationToken.None);
        await source.GetLineItemsAsync(SessionId, Account, StripeEnvironment.Live, CancellationToken.None);
        Assert.That(await source.FindCheckoutSessionAsync("pi_sandbox_1", Account, StripeEnvironment.Sandbox, CancellationToken.None), Is.Null);

        Assert.That(_server.LogEntries.Select(e => e.RequestMessage.Headers!["Authorization"].Single()),
            Is.EqualTo(new[] { $"Bearer {sandboxKey}", $"Bearer {TestKey}", $"Bearer {liveKey}", $"Bearer {sandboxKey}" }));
    }

    [Test]
    public void A_sandbox_event_without_the_sandbox_key_fails_permanently_naming_it_without_calling_Stripe()
    {
        StubPage(Page(1, 1, hasMore: false), startingAfter: null);
        using var source = new StripeLineItemSource(
            Options.Create(new StripeApiOptions { ApiKey = TestKey, ApiKeys = new() { Test = TestKey }, ApiBase = _server.Url! }), _http);

        var failure = Assert.ThrowsAsync<DeliveryFailedException>(
            async () => await source.GetLineItemsAsync(SessionId, Account, StripeEnvironment.Sandbox, CancellationToken.None))!;

        Assert.That(failure.IsPermanent, Is.True);
        Assert.That(failure.Message, Does.Contain("no key reads sandbox Checkout Sessions").And.Contain("Set Stripe:ApiKeys:Sandbox"));
        Assert.That(failure.Message, Does.Not.Contain(TestKey));
        Assert.That(_server.LogEntries, Is.Empty, "the test key was not used for the sandbox");
    }

    [Test]
    public void A_missing_key_fails_permanently_without_calling_Stripe()
    {
        StubPage(Page(1, 1, hasMore: false), startingAfter: null);

        var failure = Fails(Source(key: ""));

        Assert.That(failure.IsPermanent, Is.True);
        Assert.That(failure.Message, Does.Contain("Stripe:ApiKey (or Stripe:ApiKeys:Live and Stripe:ApiKeys:Test, a key per mode) is required"));
        Assert.That(_server.LogEntries, Is.Empty);
    }

    private StripeLineItemSource Source(HttpClient? http = null, string key = TestKey) =>
        new(Options.Create(new StripeApiOptions { ApiKey = key, ApiBase = _server.Url! }), http ?? _http);

    private static DeliveryFailedException Fails(StripeLineItemSource source, bool livemode = false)
    {
        var failure = Assert.ThrowsAsync<DeliveryFailedException>(
            async () => await source.GetLineItemsAsync(SessionId, Account, livemode ? StripeEnvironment.Live : StripeEnvironment.Test, CancellationToken.None));
        return failure!;
    }

    private void StubPage(string body, string? startingAfter) => _server.StubPage(body, startingAfter);

    private void StubError(int status, string type, string? code, string message) => _server.StubError(status, type, code, message);

    private static string[] Header(IRequestMessage request, string name) =>
        request.Headers?.Where(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).SelectMany(h => h.Value).ToArray() ?? [];
}
