using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using StandardWebhooks.Diagnostics;
using SyncWorker.Forwarding.Delivery;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;
using static SyncWorker.Forwarding.Tests.Delivery.DeliveryFixture;

namespace SyncWorker.Forwarding.Tests.Delivery;

[TestFixture]
public sealed class HttpTargetSenderTests
{
    private WireMockServer _server = null!;

    [SetUp]
    public void StartServer() => _server = WireMockServer.Start();

    [TearDown]
    public void StopServer() => _server.Dispose();

    [Test]
    public async Task Delivers_the_body_signed_as_Standard_Webhooks_with_every_header()
    {
        Answer(HttpStatusCode.Accepted);
        var time = FakeTimeNow();
        await using var services = Services(time, Target(_server));

        DeliveryReport report = await Sender(services).SendAsync("wms", OrderDelivery(), Deadline());

        Assert.That((report.StatusCode, report.Attempts, report.Elapsed), Is.EqualTo((202, 1, TimeSpan.Zero)), "fake time did not move");
        Assert.That(report.Requests, Is.EqualTo(new[] { new SentRequest(time.GetUtcNow(), TimeSpan.Zero, 202, null) }), "the one request, at the fake time");
        var request = Requests(_server).Single();
        Assert.Multiple(() =>
        {
            Assert.That(request.RequestMessage!.Method, Is.EqualTo("POST"));
            Assert.That(request.RequestMessage.Path, Is.EqualTo("/hooks/orders"));
            Assert.That(BodyBytes(request), Is.EqualTo(Body));
            Assert.That(Header(request, "webhook-id"), Is.EqualTo(WebhookId));
            Assert.That(Header(request, "webhook-timestamp"), Is.EqualTo(time.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)));
            Assert.That(Header(request, "webhook-signature"), Does.Match("^v1,[A-Za-z0-9+/]{43}=$"));
            Assert.That(Header(request, "Idempotency-Key"), Is.EqualTo(IdempotencyKey));
            Assert.That(Header(request, "Content-Type"), Is.EqualTo("application/json"));
            Assert.That(Header(request, "User-Agent"), Does.Match(@"^SyncWorker/\d+\.\d+"));
            Assert.That(Header(request, ApiKeyHeader), Is.EqualTo(ApiKey));
        });

        // Verified by the StandardWebhooks package, not only by our signer; and a verification that can fail.
        Assert.DoesNotThrow(() => VerifyWithStandardWebhooks(request, Secret));
        string otherSecret = "whsec_" + Convert.ToBase64String(new byte[32]);
        Assert.Throws<WebhookVerificationException>(() => VerifyWithStandardWebhooks(request, otherSecret));
    }

    [Test]
    public async Task Retries_503_twice_then_delivers_with_the_same_ids_and_a_valid_signature_each_time()
    {
        _server.Given(Request.Create().UsingPost()).InScenario("flaky").WillSetStateTo("one failure")
            .RespondWith(Response.Create().WithStatusCode(503));
        _server.Given(Request.Create().UsingPost()).InScenario("flaky").WhenStateIs("one failure").WillSetStateTo("two failures")
            .RespondWith(Response.Create().WithStatusCode(503));
        _server.Given(Request.Create().UsingPost()).InScenario("flaky").WhenStateIs("two failures")
            .RespondWith(Response.Create().WithStatusCode(200));
        await using var services = Services(null, Target(_server));

        DeliveryReport report = await Sender(services).SendAsync("wms", OrderDelivery(), Deadline());

        Assert.That(report.StatusCode, Is.EqualTo(200));
        Assert.That(report.Attempts, Is.EqualTo(3));
        var requests = Requests(_server);
        Assert.That(requests.Select(r => r.ResponseMessage!.StatusCode), Is.EqualTo(new object[] { 503, 503, 200 }));
        Assert.That(report.Requests.Select(r => (r.Status, r.ErrorClass)), Is.EqualTo(new[] { ((int?)503, (string?)null), (503, null), (200, null) }),
            "each request is reported, for the ledger's attempt history");
        Assert.That(report.Requests.Select(r => r.StartedAt), Is.Ordered);
        foreach (var request in requests)
        {
            Assert.That(Header(request, "webhook-id"), Is.EqualTo(WebhookId));
            Assert.That(Header(request, "Idempotency-Key"), Is.EqualTo(IdempotencyKey));
            Assert.That(BodyBytes(request), Is.EqualTo(Body));
            Assert.DoesNotThrow(() => VerifyWithStandardWebhooks(request, Secret));
        }
    }

    [Test]
    public async Task Retry_After_is_waited_on_the_clock_even_beyond_MaxDelaySeconds_and_the_retry_is_signed_afresh()
    {
        _server.Given(Request.Create().UsingPost()).InScenario("busy").WillSetStateTo("waited")
            .RespondWith(Response.Create().WithStatusCode(429).WithHeader("Retry-After", "30"));
        _server.Given(Request.Create().UsingPost()).InScenario("busy").WhenStateIs("waited")
            .RespondWith(Response.Create().WithStatusCode(200));
        var time = FakeTimeNow();
        await using var services = Services(time, Target(_server, t => t.Retry.MaxDelaySeconds = 1));

        Task<DeliveryReport> sending = Sender(services).SendAsync("wms", OrderDelivery(), Deadline());
        await WaitUntilAsync(() => time.HasTimer(TimeSpan.FromSeconds(30)), "the retry waits 30 s");
        Assert.That(Requests(_server), Has.Length.EqualTo(1));

        time.Advance(TimeSpan.FromSeconds(29));
        await Task.Delay(200); // nothing is due: give a wrong timer the chance to send
        Assert.That(Requests(_server), Has.Length.EqualTo(1), "no retry before Retry-After has passed");
        Assert.That(sending.IsCompleted, Is.False);

        time.Advance(TimeSpan.FromSeconds(2));
        DeliveryReport report = await sending;

        Assert.That(report.Attempts, Is.EqualTo(2));
        Assert.That(report.Elapsed, Is.EqualTo(TimeSpan.FromSeconds(31)));
        var requests = Requests(_server);
        Assert.That(requests, Has.Length.EqualTo(2));
        long first = long.Parse(Header(requests[0], "webhook-timestamp"), CultureInfo.InvariantCulture);
        long second = long.Parse(Header(requests[1], "webhook-timestamp"), CultureInfo.InvariantCulture);
        Assert.That(second - first, Is.EqualTo(31), "each attempt carries its own timestamp");
        Assert.That(Header(requests[1], "webhook-signature"), Is.Not.EqualTo(Header(requests[0], "webhook-signature")));
        Assert.DoesNotThrow(() => VerifyWithStandardWebhooks(requests[1], Secret));
    }

    [Test]
    public async Task Retry_After_longer_than_MaxRetryAfterSeconds_ends_the_retries_with_a_transient_failure()
    {
        _server.Given(Request.Create().UsingPost())
            .RespondWith(Response.Create().WithStatusCode(429).WithHeader("Retry-After", "600"));
        await using var services = Services(FakeTimeNow(), Target(_server, t => t.Retry.MaxRetryAfterSeconds = 120));

        var failure = await SendExpectingFailure(services);

        Assert.That(failure.IsPermanent, Is.False);
        Assert.That(failure.Attempts, Is.EqualTo(1));
        Assert.That(failure.StatusCode, Is.EqualTo(429));
        Assert.That(failure.Message, Does.Contain("after 1 attempt; last: 429 Too Many Requests asking to retry after 600 s"));
        Assert.That(failure.Message, Does.Contain("Retry:MaxRetryAfterSeconds"));
        Assert.That(Requests(_server), Has.Length.EqualTo(1));
    }

    [Test]
    public async Task Bad_request_is_a_permanent_failure_after_one_attempt_and_the_message_leaks_nothing()
    {
        Answer(HttpStatusCode.BadRequest, "{\"error\":\"unknown sku\"}");
        await using var services = Services(null, Target(_server));

        var failure = await SendExpectingFailure(services);

        Assert.That(failure.IsPermanent, Is.True);
        Assert.That(failure.Attempts, Is.EqualTo(1));
        Assert.That(failure.StatusCode, Is.EqualTo(400));
        Assert.That(failure.Message, Is.EqualTo(
            "Target 'wms' answered 400 Bad Request to order cs_123 (order.paid) after 1 attempt; " +
            "not retried: a 4xx means the target refuses this delivery."));
        Assert.That(Requests(_server), Has.Length.EqualTo(1));
        AssertLeaksNothing(failure.Message, Header(Requests(_server)[0], "webhook-signature"));
    }

    [Test]
    public async Task An_attempt_that_outlasts_TimeoutSeconds_is_retried_then_fails_as_a_timeout()
    {
        _server.Given(Request.Create().UsingPost())
            .RespondWith(Response.Create().WithStatusCode(200).WithDelay(TimeSpan.FromSeconds(3)));
        await using var services = Services(null, Target(_server, t =>
        {
            t.TimeoutSeconds = 1;
            t.Retry.MaxRetryAttempts = 1;
        }));

        var failure = await SendExpectingFailure(services);

        Assert.That(failure.IsPermanent, Is.False);
        Assert.That(failure.Attempts, Is.EqualTo(2));
        Assert.That(failure.StatusCode, Is.Null);
        Assert.That(failure.Message, Does.Contain("failed after 2 attempts; last: no answer within the 1 s timeout"));
        Assert.That(failure.Requests.Select(r => (r.Status, r.ErrorClass)), Is.EqualTo(new[] { ((int?)null, "timeout"), (null, "timeout") }));
        Assert.That(failure.Requests.Select(r => r.Duration), Has.All.GreaterThanOrEqualTo(TimeSpan.FromSeconds(0.9)),
            "each request lasted until its timeout");
        await WaitUntilAsync(() => Requests(_server).Length == 2, "the server logged both attempts");
    }

    [Test]
    public async Task A_redirect_is_not_followed_and_fails_permanently()
    {
        using var elsewhere = WireMockServer.Start();
        elsewhere.Given(Request.Create()).RespondWith(Response.Create().WithStatusCode(200));
        _server.Given(Request.Create().UsingPost())
            .RespondWith(Response.Create().WithStatusCode(302).WithHeader("Location", elsewhere.Url + "/collect"));
        await using var services = Services(null, Target(_server));

        var failure = await SendExpectingFailure(services);

        Assert.That(failure.IsPermanent, Is.True);
        Assert.That(failure.Attempts, Is.EqualTo(1));
        Assert.That(failure.StatusCode, Is.EqualTo(302));
        Assert.That(failure.Message, Does.StartWith(
            $"Target 'wms' answered 302 Found redirecting to host {new Uri(elsewhere.Url!).Authority} to order cs_123 (order.paid) after 1 attempt; redirects are not followed"));
        Assert.That(Requests(_server), Has.Length.EqualTo(1));
        Assert.That(elsewhere.LogEntries, Is.Empty, "the delivery never reached the other host");
    }

    [Test]
    public async Task Server_errors_are_retried_until_the_retries_are_spent()
    {
        Answer(HttpStatusCode.InternalServerError);
        await using var services = Services(null, Target(_server, t => t.Retry.MaxRetryAttempts = 2));

        var failure = await SendExpectingFailure(services);

        Assert.That(failure.IsPermanent, Is.False);
        Assert.That(failure.Attempts, Is.EqualTo(3));
        Assert.That(failure.Requests.Select(r => r.Status), Is.EqualTo(new int?[] { 500, 500, 500 }));
        Assert.That(failure.StatusCode, Is.EqualTo(500));
        Assert.That(failure.Message, Is.EqualTo(
            "Delivering order cs_123 (order.paid) to target 'wms' failed after 3 attempts; last: 500 Internal Server Error."));
        Assert.That(Requests(_server), Has.Length.EqualTo(3));
        AssertLeaksNothing(failure.Message, Header(Requests(_server)[0], "webhook-signature"));
    }

    [Test]
    public async Task With_no_retries_configured_a_503_fails_after_one_attempt()
    {
        Answer(HttpStatusCode.ServiceUnavailable);
        await using var services = Services(null, Target(_server, t => t.Retry.MaxRetryAttempts = 0));

        var failure = await SendExpectingFailure(services);

        Assert.That(failure.IsPermanent, Is.False);
        Assert.That(failure.Attempts, Is.EqualTo(1));
        Assert.That(failure.Message, Does.EndWith("failed after 1 attempt; last: 503 Service Unavailable."));
        Assert.That(Requests(_server), Has.Length.EqualTo(1));
    }

    [Test]
    public async Task A_network_error_is_retried_and_reported_as_transient()
    {
        string closedUrl = $"http://127.0.0.1:{ClosedPort()}/hooks";
        await using var services = Services(null, Target(closedUrl, t => t.Retry.MaxRetryAttempts = 1));

        var failure = await SendExpectingFailure(services);

        Assert.That(failure.IsPermanent, Is.False);
        Assert.That(failure.Attempts, Is.EqualTo(2));
        Assert.That(failure.StatusCode, Is.Null);
        Assert.That(failure.Message, Does.Contain("failed after 2 attempts; last: network error (ConnectionError)"));
        Assert.That(failure.InnerException, Is.InstanceOf<HttpRequestException>());
        Assert.That(failure.Requests.Select(r => (r.Status, r.ErrorClass)), Is.EqualTo(new[] { ((int?)null, "connection_error"), (null, "connection_error") }));
    }

    [Test]
    public async Task An_open_circuit_fails_fast_without_a_request_and_only_for_its_own_target()
    {
        using var other = WireMockServer.Start();
        other.Given(Request.Create()).RespondWith(Response.Create().WithStatusCode(200));
        Answer(HttpStatusCode.InternalServerError);
        var time = FakeTimeNow();
        Action<Forwarding.Targets.TargetOptions> tripsFast = t =>
        {
            t.Retry.MaxRetryAttempts = 0;
            t.CircuitBreaker.MinimumThroughput = 2;
            t.CircuitBreaker.FailureRatio = 0.5;
            t.CircuitBreaker.SamplingDurationSeconds = 10;
            t.CircuitBreaker.BreakDurationSeconds = 30;
        };
        await using var services = Services(time, Target(_server, tripsFast), Target(other, tripsFast, name: "erp"));

        Assert.That((await SendExpectingFailure(services)).Attempts, Is.EqualTo(1));
        Assert.That((await SendExpectingFailure(services)).Attempts, Is.EqualTo(1));
        var fast = await SendExpectingFailure(services);

        Assert.That(fast.IsPermanent, Is.False);
        Assert.That(fast.Attempts, Is.Zero);
        Assert.That(fast.Message, Does.StartWith(
            "Delivering order cs_123 (order.paid) to target 'wms' was not attempted: the target's circuit is open"));
        Assert.That(Requests(_server), Has.Length.EqualTo(2), "the open circuit sent nothing");
        Assert.That((await Sender(services).SendAsync("erp", OrderDelivery(), Deadline())).StatusCode, Is.EqualTo(200), "another target's circuit is closed");

        // After the break the circuit lets a trial through, and a success closes it.
        _server.Reset();
        Answer(HttpStatusCode.OK);
        time.Advance(TimeSpan.FromSeconds(31));
        Assert.That((await Sender(services).SendAsync("wms", OrderDelivery(), Deadline())).StatusCode, Is.EqualTo(200));
        Assert.That(Requests(_server), Has.Length.EqualTo(1));
    }

    [Test]
    public async Task A_circuit_that_opens_during_the_retries_ends_them()
    {
        Answer(HttpStatusCode.BadGateway);
        await using var services = Services(null, Target(_server, t =>
        {
            t.Retry.MaxRetryAttempts = 5;
            t.CircuitBreaker.MinimumThroughput = 2;
            t.CircuitBreaker.FailureRatio = 1;
        }));

        var failure = await SendExpectingFailure(services);

        Assert.That(failure.IsPermanent, Is.False);
        Assert.That(failure.Attempts, Is.EqualTo(2));
        Assert.That(failure.StatusCode, Is.EqualTo(502));
        Assert.That(failure.Message, Does.Contain("failed after 2 attempts; last: 502 Bad Gateway; then the target's circuit is open"));
        Assert.That(Requests(_server), Has.Length.EqualTo(2));
    }

    [Test]
    public async Task Cancelling_while_waiting_for_a_retry_throws_OperationCanceledException()
    {
        _server.Given(Request.Create().UsingPost())
            .RespondWith(Response.Create().WithStatusCode(503).WithHeader("Retry-After", "60"));
        var time = FakeTimeNow();
        await using var services = Services(time, Target(_server));
        using var cancel = new CancellationTokenSource();

        Task<DeliveryReport> sending = Sender(services).SendAsync("wms", OrderDelivery(), cancel.Token);
        await WaitUntilAsync(() => time.HasTimer(TimeSpan.FromSeconds(60)), "the retry waits");
        await cancel.CancelAsync();

        Assert.That(async () => await sending, Throws.InstanceOf<OperationCanceledException>());
        Assert.That(Requests(_server), Has.Length.EqualTo(1));
    }

    [Test]
    public async Task An_unknown_target_name_is_an_argument_error()
    {
        await using var services = Services(null, Target(_server));

        Assert.That(
            async () => await Sender(services).SendAsync("nope", OrderDelivery(), Deadline()),
            Throws.ArgumentException.With.Message.Contains("'nope'"));
        Assert.That(Requests(_server), Is.Empty);
    }

    private static ITargetSender Sender(IServiceProvider services) => services.GetRequiredService<ITargetSender>();

    private static async Task<DeliveryFailedException> SendExpectingFailure(IServiceProvider services)
    {
        try
        {
            var report = await Sender(services).SendAsync("wms", OrderDelivery(), Deadline());
            Assert.Fail($"Expected a DeliveryFailedException, got {report}.");
            throw new UnreachableException();
        }
        catch (DeliveryFailedException failure)
        {
            return failure;
        }
    }

    private static void AssertLeaksNothing(string message, string signature)
    {
        Assert.That(message, Does.Not.Contain(Secret["whsec_".Length..]));
        Assert.That(message, Does.Not.Contain(ApiKey));
        Assert.That(message, Does.Not.Contain(signature["v1,".Length..]));
        Assert.That(message, Does.Not.Contain("Zo").And.Not.Contain("amount_total"), "no part of the body");
    }

    private void Answer(HttpStatusCode status, string? body = null)
    {
        var response = Response.Create().WithStatusCode(status);
        _server.Given(Request.Create().UsingPost()).RespondWith(body is null ? response : response.WithBody(body));
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
