using Microsoft.Extensions.Options;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Consumers;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Forwarding.Tests.Orders;
using WireMock.RequestBuilders;
using WireMock.Server;
using static SyncWorker.Forwarding.Tests.Orders.StripeLineItemsApi;

namespace SyncWorker.Forwarding.Tests.Consumers;

/// <summary>
/// One round of line-item fetching, as the delivery consumer runs it (the target's Polly retry around Stripe.net),
/// against a failing Stripe API stand-in: retries do not multiply, so each page is asked for at most
/// 1 + <c>Retry:MaxRetryAttempts</c> times.
/// </summary>
[TestFixture]
public sealed class PreparationRetryTests
{
    private const int MaxRetryAttempts = 3;

    private WireMockServer _server = null!;
    private HttpClient _http = null!;
    private StripeLineItemSource _source = null!;

    [SetUp]
    public void StartServer()
    {
        _server = WireMockServer.Start();
        _http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        _source = new StripeLineItemSource(Options.Create(new StripeApiOptions { ApiKey = TestKey, ApiBase = _server.Url! }), _http);
    }

    [TearDown]
    public void StopServer()
    {
        _source.Dispose();
        _http.Dispose();
        _server.Stop();
        _server.Dispose();
    }

    [TestCase(500, null)]
    [TestCase(503, null)]
    [TestCase(409, null)]
    [TestCase(429, true)] // Stripe-Should-Retry: true, which Stripe.net's own retries would also follow
    public void A_page_Stripe_keeps_failing_is_asked_for_1_plus_MaxRetryAttempts_times(int status, bool? shouldRetry)
    {
        _server.StubError(status, "api_error", code: null, message: "Something went wrong on Stripe's end.", shouldRetry: shouldRetry);

        var failure = Assert.ThrowsAsync<DeliveryFailedException>(async () => await FetchAsync());

        Assert.That(failure!.IsPermanent, Is.False);
        Assert.That(_server.LineItemRequests(), Has.Length.EqualTo(1 + MaxRetryAttempts), "Polly's retries only: Stripe.net retries nothing itself");
    }

    [Test]
    public void When_a_later_page_keeps_failing_no_page_is_asked_for_more_than_1_plus_MaxRetryAttempts_times()
    {
        _server.StubPage(Page(1, 100, hasMore: true), startingAfter: null);
        _server.StubPage(Page(101, 200, hasMore: true), startingAfter: "li_100");
        _server.StubError(502, "api_error", code: null, message: "Bad gateway.", startingAfter: "li_200");

        Assert.ThrowsAsync<DeliveryFailedException>(async () => await FetchAsync());

        var perPage = _server.LineItemRequests().GroupBy(request => StartingAfter(request) ?? "(first)").ToDictionary(page => page.Key, page => page.Count());
        Assert.That(perPage, Is.EquivalentTo(new Dictionary<string, int>
        {
            ["(first)"] = 1 + MaxRetryAttempts,
            ["li_100"] = 1 + MaxRetryAttempts,
            ["li_200"] = 1 + MaxRetryAttempts,
        }));
    }

    [Test]
    public async Task A_page_that_fails_once_is_asked_for_again_and_the_round_completes()
    {
        _server.Given(Request.Create().WithPath(LineItemsPath).UsingGet())
            .InScenario("flaky").WillSetStateTo("recovered")
            .RespondWith(ErrorResponse(503, "api_error", null, "Service unavailable"));
        _server.Given(Request.Create().WithPath(LineItemsPath).UsingGet())
            .InScenario("flaky").WhenStateIs("recovered")
            .RespondWith(Json(Page(1, 3, hasMore: false)));

        var items = await FetchAsync();

        Assert.That(items.Select(item => item.Id), Is.EqualTo(new[] { ItemId(1), ItemId(2), ItemId(3) }));
        Assert.That(_server.LineItemRequests(), Has.Length.EqualTo(2));
    }

    [Test]
    public void A_permanent_failure_is_asked_for_once()
    {
        _server.StubError(404, "invalid_request_error", code: "resource_missing", message: $"No such checkout.session: '{SessionId}'");

        var failure = Assert.ThrowsAsync<DeliveryFailedException>(async () => await FetchAsync());

        Assert.That(failure!.IsPermanent, Is.True);
        Assert.That(_server.LineItemRequests(), Has.Length.EqualTo(1));
    }

    /// <summary>What <see cref="TargetDeliveryConsumer"/> does for an order: the target's retry around the source.</summary>
    private ValueTask<IReadOnlyList<OrderLineItem>> FetchAsync()
    {
        var target = new TargetOptions
        {
            Name = "warehouse",
            Retry = new TargetRetryOptions { MaxRetryAttempts = MaxRetryAttempts, BaseDelaySeconds = 0.01, MaxDelaySeconds = 0.01 },
        };
        return new PreparationRetry(TimeProvider.System).ExecuteAsync(
            target,
            async ct => await _source.GetLineItemsAsync(SessionId, Account, StripeEnvironment.Test, ct),
            CancellationToken.None);
    }
}
