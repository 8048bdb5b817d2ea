using System.Net;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Targets;
using WireMock.Logging;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;
using static SyncWorker.Forwarding.Tests.Delivery.DeliveryFixture;

namespace SyncWorker.Forwarding.Tests.Delivery;

/// <summary>
/// <c>Auth:*</c> through a target's real client chain, against WireMock standing in for the partner's API and its OAuth2
/// token endpoint: the header each type sends, and the access token's life (fetched once, shared, refreshed on expiry and
/// once on a 401, token endpoint failures permanent or transient). Requests are counted, never timed.
/// </summary>
[TestFixture]
public sealed class TargetAuthTests
{
    private const string TargetPath = "/hooks/orders";
    private const string TokenPath = "/oauth2/token";
    private const string ClientId = "syncworker-client";
    private const string ClientSecret = "client-secret-9c41d7e2a0";
    private const string BearerToken = "partner-bearer-token-5b8e1f";

    private WireMockServer _server = null!;

    [SetUp]
    public void StartServer() => _server = WireMockServer.Start();

    [TearDown]
    public void StopServer() => _server.Dispose();

    [Test]
    public async Task Bearer_sends_the_token_on_every_attempt_a_retry_included_and_the_signature_still_verifies()
    {
        _server.Given(Request.Create().WithPath(TargetPath).UsingPost()).InScenario("flaky").WillSetStateTo("failed once")
            .RespondWith(Response.Create().WithStatusCode(503));
        _server.Given(Request.Create().WithPath(TargetPath).UsingPost()).InScenario("flaky").WhenStateIs("failed once")
            .RespondWith(Response.Create().WithStatusCode(200));
        await using var services = Services(null, Target(_server, t => t.Auth = new TargetAuthOptions { Type = "Bearer", Token = BearerToken }));

        var report = await Sender(services).SendAsync("wms", OrderDelivery(), Deadline());

        Assert.That(report.Attempts, Is.EqualTo(2));
        var requests = TargetRequests();
        Assert.That(requests.Select(r => Header(r, "Authorization")), Is.EqualTo(new[] { "Bearer " + BearerToken, "Bearer " + BearerToken }),
            "the retry carries the header too");
        Assert.That(requests.Select(r => Header(r, ApiKeyHeader)), Is.All.EqualTo(ApiKey), "the extra headers are still sent");
        Assert.DoesNotThrow(() => VerifyWithStandardWebhooks(requests[1], Secret), "the signature goes on every request whatever Auth adds");
    }

    [Test]
    public async Task Basic_sends_the_user_and_password_as_RFC_7617_says()
    {
        AnswerTarget(HttpStatusCode.OK);
        await using var services = Services(null, Target(_server, t => t.Auth = new TargetAuthOptions { Type = "basic", Username = "syncworker", Password = "pässword-4f1" }));

        await Sender(services).SendAsync("wms", OrderDelivery(), Deadline());

        var expected = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("syncworker:pässword-4f1"));
        Assert.That(Header(TargetRequests().Single(), "Authorization"), Is.EqualTo(expected));
    }

    [Test]
    public async Task OAuth2_fetches_one_token_with_the_client_credentials_grant_and_reuses_it_for_later_deliveries()
    {
        AnswerTarget(HttpStatusCode.OK);
        AnswerToken("""{"access_token":"at-1111","token_type":"Bearer","expires_in":3600}""");
        await using var services = Services(FakeTimeNow(), OAuth2Target(scope: "orders:write fulfillment"));
        var sender = Sender(services);

        for (var i = 0; i < 3; i++)
        {
            await sender.SendAsync("wms", OrderDelivery(), Deadline());
        }

        var token = TokenRequests().Single();
        Assert.Multiple(() =>
        {
            Assert.That(token.RequestMessage!.Method, Is.EqualTo("POST"));
            Assert.That(Header(token, "Content-Type"), Does.StartWith("application/x-www-form-urlencoded"));
            var form = QueryHelpers.ParseQuery(token.RequestMessage.Body);
            Assert.That(form["grant_type"].ToString(), Is.EqualTo("client_credentials"));
            Assert.That(form["scope"].ToString(), Is.EqualTo("orders:write fulfillment"));
            Assert.That(form.ContainsKey("client_secret"), Is.False, "the secret goes in the Basic header, not the body");
            Assert.That(Header(token, "Authorization"), Is.EqualTo("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{ClientId}:{ClientSecret}"))));
            Assert.That(TargetRequests().Select(r => Header(r, "Authorization")), Is.EqualTo(Enumerable.Repeat("Bearer at-1111", 3)));
        });
    }

    [Test]
    public async Task OAuth2_with_client_authentication_Body_sends_the_client_in_the_form()
    {
        AnswerTarget(HttpStatusCode.OK);
        AnswerToken("""{"access_token":"at-body","token_type":"bearer","expires_in":"3600"}""");
        await using var services = Services(null, OAuth2Target(configure: auth => auth.ClientAuthentication = "Body"));

        await Sender(services).SendAsync("wms", OrderDelivery(), Deadline());

        var token = TokenRequests().Single();
        var form = QueryHelpers.ParseQuery(token.RequestMessage!.Body);
        Assert.That((form["client_id"].ToString(), form["client_secret"].ToString()), Is.EqualTo((ClientId, ClientSecret)));
        Assert.That(token.RequestMessage.Headers!.ContainsKey("Authorization"), Is.False);
        Assert.That(Header(TargetRequests().Single(), "Authorization"), Is.EqualTo("Bearer at-body"));
    }

    [Test]
    public async Task OAuth2_token_is_fetched_again_shortly_before_expires_in_ends_on_the_clock()
    {
        AnswerTarget(HttpStatusCode.OK);
        AnswerTokens(("""{"access_token":"at-first","token_type":"Bearer","expires_in":3600}"""), ("""{"access_token":"at-second","token_type":"Bearer","expires_in":3600}"""));
        var time = FakeTimeNow();
        await using var services = Services(time, OAuth2Target());
        var sender = Sender(services);

        await sender.SendAsync("wms", OrderDelivery(), Deadline());
        time.Advance(TimeSpan.FromSeconds(3500));
        await sender.SendAsync("wms", OrderDelivery(), Deadline());
        Assert.That(TokenRequests(), Has.Length.EqualTo(1), "still fresh after 3500 s of 3600");

        time.Advance(TimeSpan.FromSeconds(50)); // 3550 s: within the last 60 s, refreshed early
        await sender.SendAsync("wms", OrderDelivery(), Deadline());

        Assert.That(TokenRequests(), Has.Length.EqualTo(2));
        Assert.That(TargetRequests().Select(r => Header(r, "Authorization")), Is.EqualTo(new[] { "Bearer at-first", "Bearer at-first", "Bearer at-second" }));
    }

    [Test]
    public async Task OAuth2_a_401_fetches_a_new_token_once_and_the_request_is_sent_again_with_it()
    {
        _server.Given(Request.Create().WithPath(TargetPath).UsingPost()).InScenario("revoked").WillSetStateTo("refused")
            .RespondWith(Response.Create().WithStatusCode(401));
        _server.Given(Request.Create().WithPath(TargetPath).UsingPost()).InScenario("revoked").WhenStateIs("refused")
            .RespondWith(Response.Create().WithStatusCode(202));
        AnswerTokens(("""{"access_token":"at-revoked","expires_in":3600}"""), ("""{"access_token":"at-new","expires_in":3600}"""));
        await using var services = Services(FakeTimeNow(), OAuth2Target());

        var report = await Sender(services).SendAsync("wms", OrderDelivery(), Deadline());

        Assert.That((report.StatusCode, report.Attempts), Is.EqualTo((202, 2)), "the resend is an attempt of its own");
        Assert.That(report.Requests.Select(r => r.Status), Is.EqualTo(new int?[] { 401, 202 }));
        Assert.That(TokenRequests(), Has.Length.EqualTo(2));
        var requests = TargetRequests();
        Assert.That(requests.Select(r => Header(r, "Authorization")), Is.EqualTo(new[] { "Bearer at-revoked", "Bearer at-new" }));
        Assert.That(Header(requests[1], "webhook-id"), Is.EqualTo(WebhookId));
        Assert.DoesNotThrow(() => VerifyWithStandardWebhooks(requests[1], Secret), "the resend is signed afresh");
    }

    [Test]
    public async Task OAuth2_a_second_401_is_a_permanent_failure_naming_the_target()
    {
        AnswerTarget(HttpStatusCode.Unauthorized);
        AnswerTokens(("""{"access_token":"at-one","expires_in":3600}"""), ("""{"access_token":"at-two","expires_in":3600}"""));
        await using var services = Services(FakeTimeNow(), OAuth2Target());

        var failure = Assert.ThrowsAsync<DeliveryFailedException>(() => Sender(services).SendAsync("wms", OrderDelivery(), Deadline()))!;

        Assert.That(failure.IsPermanent, Is.True);
        Assert.That(failure.StatusCode, Is.EqualTo(401));
        Assert.That(failure.Message, Does.Contain("Target 'wms' answered 401 Unauthorized"));
        Assert.That(TokenRequests(), Has.Length.EqualTo(2), "one new token, not one per retry");
        Assert.That(TargetRequests(), Has.Length.EqualTo(2), "sent once more, then no more: a 4xx is not retried");
    }

    [Test]
    public async Task OAuth2_token_endpoint_400_invalid_client_is_permanent_names_the_target_and_never_the_secret()
    {
        AnswerTarget(HttpStatusCode.OK);
        _server.Given(Request.Create().WithPath(TokenPath).UsingPost()).RespondWith(Response.Create().WithStatusCode(400)
            .WithHeader("Content-Type", "application/json")
            .WithBody($$"""{"error":"invalid_client","error_description":"client {{ClientId}} with secret {{ClientSecret}} is unknown"}"""));
        await using var services = Services(FakeTimeNow(), OAuth2Target());

        var failure = Assert.ThrowsAsync<DeliveryFailedException>(() => Sender(services).SendAsync("wms", OrderDelivery(), Deadline()))!;

        Assert.That(failure.IsPermanent, Is.True);
        Assert.That(failure.Message, Does.Contain("target 'wms'").And.Contain("token endpoint").And.Contain("400 Bad Request (error invalid_client)"));
        Assert.That(failure.Message, Does.Contain("Auth:ClientSecret"), "says what to check");
        Assert.That(failure.ToString(), Does.Not.Contain(ClientSecret), "neither the secret nor the endpoint's description of it");
        Assert.That(TokenRequests(), Has.Length.EqualTo(1), "not retried");
        Assert.That(TargetRequests(), Is.Empty, "nothing is sent without credentials");
    }

    [Test]
    public async Task OAuth2_token_endpoint_503_is_transient_and_retried_with_the_delivery()
    {
        AnswerTarget(HttpStatusCode.OK);
        _server.Given(Request.Create().WithPath(TokenPath).UsingPost()).RespondWith(Response.Create().WithStatusCode(503));
        await using var services = Services(null, OAuth2Target());

        var failure = Assert.ThrowsAsync<DeliveryFailedException>(() => Sender(services).SendAsync("wms", OrderDelivery(), Deadline()))!;

        Assert.That(failure.IsPermanent, Is.False, "the durable redelivery tries again later");
        Assert.That(failure.Message, Does.Contain("target 'wms'").And.Contain("503 Service Unavailable"));
        Assert.That(TokenRequests(), Has.Length.EqualTo(3), "the first attempt and Retry:MaxRetryAttempts (2) retries");
        Assert.That(TargetRequests(), Is.Empty);
    }

    [Test]
    public async Task OAuth2_concurrent_deliveries_share_one_token_fetch()
    {
        AnswerTarget(HttpStatusCode.OK);
        _server.Given(Request.Create().WithPath(TokenPath).UsingPost()).RespondWith(Response.Create().WithStatusCode(200)
            .WithHeader("Content-Type", "application/json").WithBody("""{"access_token":"at-shared","expires_in":3600}""")
            .WithDelay(TimeSpan.FromMilliseconds(300)));
        await using var services = Services(null, OAuth2Target());
        var sender = Sender(services);

        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => sender.SendAsync("wms", OrderDelivery(), Deadline())));

        Assert.That(TokenRequests(), Has.Length.EqualTo(1), "one fetch for eight deliveries");
        Assert.That(TargetRequests().Select(r => Header(r, "Authorization")), Is.EqualTo(Enumerable.Repeat("Bearer at-shared", 8)));
    }

    private TargetOptions OAuth2Target(string? scope = null, Action<TargetAuthOptions>? configure = null) =>
        Target(_server, t =>
        {
            t.Auth = new TargetAuthOptions
            {
                Type = TargetAuthOptions.OAuth2ClientCredentials,
                TokenUrl = _server.Url + TokenPath,
                ClientId = ClientId,
                ClientSecret = ClientSecret,
                Scope = scope,
            };
            configure?.Invoke(t.Auth);
        });

    private static ITargetSender Sender(ServiceProvider services) => services.GetRequiredService<ITargetSender>();

    private void AnswerTarget(HttpStatusCode status) =>
        _server.Given(Request.Create().WithPath(TargetPath).UsingPost()).RespondWith(Response.Create().WithStatusCode((int)status));

    private void AnswerToken(string json) =>
        _server.Given(Request.Create().WithPath(TokenPath).UsingPost())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(json));

    /// <summary>The token endpoint answers each of <paramref name="answers"/> in turn, then the last one again.</summary>
    private void AnswerTokens(params string[] answers)
    {
        for (var i = 0; i < answers.Length; i++)
        {
            var given = _server.Given(Request.Create().WithPath(TokenPath).UsingPost()).InScenario("tokens");
            var state = i == 0 ? given : given.WhenStateIs($"token {i}");
            (i < answers.Length - 1 ? state.WillSetStateTo($"token {i + 1}") : state)
                .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(answers[i]));
        }
    }

    private ILogEntry[] TargetRequests() => Requests(_server).Where(r => r.RequestMessage!.Path == TargetPath).ToArray();

    private ILogEntry[] TokenRequests() => Requests(_server).Where(r => r.RequestMessage!.Path == TokenPath).ToArray();
}
