using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.DependencyInjection;
using SyncWorker.Contracts;
using SyncWorker.Testing;
using SyncWorker.Tests.EndToEnd;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Tests.Logging;

/// <summary>
/// Real traffic through the whole worker (RabbitMQ node, WireMock.Net target and Stripe API) with every category logging at
/// Trace, in both console formats: no secret, signature, API key or customer detail appears anywhere in what is logged, and
/// the lines carry the event, account and target they are about.
/// </summary>
[NonParallelizable]
public sealed class LogsCarryNoSecretsTests
{
    private const string Account = "acct_1Qx7ExampleMrch01";
    private const string Completed = "checkout.session.completed.json";
    private const string AsyncSucceeded = "checkout.session.async_payment_succeeded.json";
    private const string CustomerCreated = "customer.created.json";
    private const string Ignored = "invoice.paid.json"; // needs invoice_read, which the manifest does not grant: answered 200, not queued

    private RabbitMqNode _node = null!;
    private readonly List<WireMockServer> _servers = [];

    [OneTimeSetUp]
    public async Task StartBrokerAsync() => _node = await RabbitMqNode.LaunchAsync();

    [OneTimeTearDown]
    public async Task StopBrokerAsync() => await _node.DisposeAsync();

    [TearDown]
    public void StopPeers()
    {
        foreach (var server in _servers)
        {
            server.Stop();
            server.Dispose();
        }

        _servers.Clear();
    }

    [TestCase("simple")]
    [TestCase("json")]
    public async Task Traffic_logs_no_secret_signature_key_or_customer_detail_and_carries_event_account_and_target(string formatter)
    {
        // Distinctive values, so any appearance in the logs is a leak and not a coincidence.
        var signingSecret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var stripeApiKey = "sk_live_" + Hex(16);
        var partnerKey = "partner-key-" + Hex(16);
        var wrongSecret = "whsec_wrong_" + Hex(12);
        var rabbitUser = "logs-" + Hex(4);
        var rabbitPassword = "rmq-pw-" + Hex(12);
        var testModeKey = "sk_test_" + Hex(16);
        var sandboxKey = "sk_test_" + Hex(16);
        var sandboxSecret = "whsec_sandbox_" + Hex(12);
        var adminToken = "admin-token-" + Hex(16);
        var readToken = "read-token-" + Hex(16);
        var encryptionKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var managedSecret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var managedPartnerKey = "managed-partner-key-" + Hex(16);
        string? rotatedSecret = null;
        var clientSecret = "oauth-client-secret-" + Hex(16);
        var accessToken = "issued-access-token-" + Hex(16);
        var bearerToken = "partner-bearer-token-" + Hex(16);
        var basicPassword = "basic-password-" + Hex(16);
        var managedBearer = "managed-bearer-token-" + Hex(16);
        var notificationSecret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

        var vhost = await _node.CreateVirtualHostAsync();
        await _node.CtlAsync(["add_user", rabbitUser, rabbitPassword]);
        await _node.CtlAsync(["set_permissions", "-p", vhost, rabbitUser, ".*", ".*", ".*"]);

        var stripe = Server();
        stripe.Given(Request.Create().WithPath("/v1/checkout/sessions/*/line_items").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json")
                .WithBody(StripeEvents.Text("checkout.session.line_items.response.json")));
        var wms = Server();
        wms.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
        // 503 three times, then 200: two attempts in process, a durable redelivery through RabbitMQ, a retry, success.
        var events = Server();
        events.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).InScenario("flaky").WillSetStateTo("503-2")
            .RespondWith(Response.Create().WithStatusCode(503));
        events.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).InScenario("flaky").WhenStateIs("503-2").WillSetStateTo("503-3")
            .RespondWith(Response.Create().WithStatusCode(503));
        events.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).InScenario("flaky").WhenStateIs("503-3").WillSetStateTo("recovered")
            .RespondWith(Response.Create().WithStatusCode(503));
        events.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).InScenario("flaky").WhenStateIs("recovered")
            .RespondWith(Response.Create().WithStatusCode(200));
        var sandboxWms = Server();
        sandboxWms.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
        var managed = Server();
        managed.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
        var oauth = Server();
        oauth.Given(Request.Create().WithPath("/oauth2/token").UsingPost()).RespondWith(Response.Create().WithStatusCode(200)
            .WithHeader("Content-Type", "application/json").WithBody($$"""{"access_token":"{{accessToken}}","token_type":"Bearer","expires_in":3600}"""));
        var strict = Server();
        strict.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).RespondWith(Response.Create().WithStatusCode(400));

        var settings = new Dictionary<string, string?>
        {
            ["Logging:Console:FormatterName"] = formatter,
            ["RabbitMq:Uri"] = $"amqp://{rabbitUser}:{rabbitPassword}@127.0.0.1:{_node.AmqpPort}/{Uri.EscapeDataString(vhost)}",
            ["Stripe:ApiKey"] = stripeApiKey,
            ["Stripe:ApiKeys:Test"] = testModeKey,
            ["Stripe:ApiKeys:Sandbox"] = sandboxKey,
            ["Stripe:WebhookSecrets:1:Secret"] = sandboxSecret,
            ["Stripe:WebhookSecrets:1:Mode"] = "sandbox",
            ["Admin:Token"] = adminToken,
            ["Admin:Tokens:0:Name"] = "dashboards",
            ["Admin:Tokens:0:Token"] = readToken,
            ["Admin:Tokens:0:Scope"] = "read",
            ["Store:EncryptionKey"] = encryptionKey,
            ["Notifications:Url"] = managed.Url + "/fulfillment/ops",
            ["Notifications:SigningSecret"] = notificationSecret,
            ["Stripe:ApiBase"] = stripe.Url,
            ["Manifest:Path"] = TestManifest.WithConnectSrc(wms.Url + "/fulfillment/", events.Url + "/fulfillment/", strict.Url + "/fulfillment/", sandboxWms.Url + "/fulfillment/", managed.Url + "/fulfillment/", oauth.Url + "/oauth2/"),
        };
        foreach (var (key, value) in CapturedLogs.EverythingAtTrace)
        {
            settings[key] = value;
        }

        AddTarget(settings, 0, "wms", wms, "order", ["checkout.session.*"], signingSecret, partnerKey);
        AddTarget(settings, 1, "events", events, "event", ["customer.*"], signingSecret, partnerKey);
        AddTarget(settings, 2, "strict", strict, "event", ["checkout.session.completed"], signingSecret, partnerKey);
        AddTarget(settings, 3, "sandbox-wms", sandboxWms, "order", ["checkout.session.*"], signingSecret, partnerKey, mode: "test");
        // Auth of each type: an OAuth2 client (its secret and the token it is issued), a bearer token, a Basic password.
        settings["Fulfillment:Targets:0:Auth:Type"] = "OAuth2ClientCredentials";
        settings["Fulfillment:Targets:0:Auth:TokenUrl"] = oauth.Url + "/oauth2/token";
        settings["Fulfillment:Targets:0:Auth:ClientId"] = "syncworker-logs";
        settings["Fulfillment:Targets:0:Auth:ClientSecret"] = clientSecret;
        settings["Fulfillment:Targets:1:Auth:Type"] = "Bearer";
        settings["Fulfillment:Targets:1:Auth:Token"] = bearerToken;
        settings["Fulfillment:Targets:2:Auth:Type"] = "Basic";
        settings["Fulfillment:Targets:2:Auth:Username"] = "syncworker-logs";
        settings["Fulfillment:Targets:2:Auth:Password"] = basicPassword;

        var logs = new CapturedLogs();
        var sentSignatures = new List<string>();
        var completedId = StripeEvents.NewEventId();
        var asyncId = StripeEvents.NewEventId();
        var customerId = StripeEvents.NewEventId();
        var ignoredId = StripeEvents.NewEventId();
        var badSignatureId = StripeEvents.NewEventId();
        var sandboxId = StripeEvents.NewEventId();

        await using (var worker = await WorkerHost.StartAsync(settings, logs.AddTo))
        {
            Assert.That(await PostAsync(worker, Completed, completedId, WorkerHost.Secret, sentSignatures), Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await PostAsync(worker, AsyncSucceeded, asyncId, WorkerHost.Secret, sentSignatures), Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await PostAsync(worker, CustomerCreated, customerId, WorkerHost.Secret, sentSignatures), Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await PostAsync(worker, Completed, badSignatureId, wrongSecret, sentSignatures), Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(await PostAsync(worker, Ignored, ignoredId, WorkerHost.Secret, sentSignatures), Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await PostAsync(worker, Completed, sandboxId, sandboxSecret, sentSignatures, livemode: false), Is.EqualTo(HttpStatusCode.OK));

            Assert.That(await Eventually.TrueAsync(() => Answered(wms, 200) == 2 && Answered(events, 200) == 1 && Answered(strict, 400) == 1 && Answered(sandboxWms, 200) == 1, TimeSpan.FromSeconds(60)),
                Is.True, "both orders reached wms, the customer event reached events after its retries, strict refused its event, the sandbox order reached sandbox-wms");
            Assert.That(stripe.LogEntries.Select(e => e.RequestMessage.Headers!["Authorization"].Single()), Has.Some.EqualTo($"Bearer {sandboxKey}"),
                "the sandbox order was read with the sandbox key");
            Assert.That(await Eventually.TrueAsync(async () => await _node.MessageCountAsync(vhost, Topology.TargetErrorQueue("strict")) == 1, TimeSpan.FromSeconds(30)),
                Is.True, "the 400 was dead-lettered");
            Assert.That(await Eventually.TrueAsync(() => Logged(logs, "HttpTargetSender", "Delivered") == 4, TimeSpan.FromSeconds(30)), Is.True);

            // The admin endpoints, with a read token, the write token and a wrong one: none of them is logged either.
            foreach (var (token, expected) in new[] { (readToken, HttpStatusCode.OK), (adminToken, HttpStatusCode.OK), (readToken + "x", HttpStatusCode.Unauthorized) })
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/status");
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
                using var answer = await worker.Admin.SendAsync(request);
                Assert.That(answer.StatusCode, Is.EqualTo(expected));
                Assert.That(await answer.Content.ReadAsStringAsync(), Does.Not.Contain(token), "no token in an answer");
            }

            // A target managed through the API: its secrets go in, are used, and are never answered again nor logged.
            var body = new System.Text.Json.Nodes.JsonObject
            {
                ["name"] = "managed",
                ["url"] = managed.Url + "/fulfillment/managed",
                ["events"] = new System.Text.Json.Nodes.JsonArray("checkout.session.completed"),
                ["mode"] = "live",
                ["format"] = "event",
                ["allAccounts"] = true,
                ["signingSecret"] = managedSecret,
                ["headers"] = new System.Text.Json.Nodes.JsonObject { ["X-Partner-Key"] = managedPartnerKey },
                ["auth"] = new System.Text.Json.Nodes.JsonObject { ["type"] = "Bearer", ["token"] = managedBearer },
            };
            foreach (var (method, path, content) in new[]
            {
                (HttpMethod.Post, "/admin/targets", body.ToJsonString()),
                (HttpMethod.Get, "/admin/targets/managed", null),
                (HttpMethod.Get, "/admin/targets", null),
                (HttpMethod.Post, "/admin/targets/managed/rotate-secret", null),
                (HttpMethod.Post, "/admin/targets/managed/preview", null),
            })
            {
                using var request = new HttpRequestMessage(method, path);
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", adminToken);
                if (content is not null)
                {
                    request.Content = new StringContent(content, System.Text.Encoding.UTF8, "application/json");
                }

                using var answer = await worker.Admin.SendAsync(request);
                var text = await answer.Content.ReadAsStringAsync();
                Assert.That((int)answer.StatusCode, Is.InRange(200, 201), text);
                Assert.That(text, Does.Not.Contain(managedSecret).And.Not.Contain(managedSecret["whsec_".Length..]).And.Not.Contain(managedPartnerKey).And.Not.Contain(encryptionKey).And.Not.Contain(managedBearer),
                    $"{method} {path} answers no secret given");
                if (path.EndsWith("rotate-secret", StringComparison.Ordinal))
                {
                    rotatedSecret = System.Text.Json.Nodes.JsonNode.Parse(text)!["signingSecret"]!.GetValue<string>();
                }
            }

            Assert.That(await Eventually.TrueAsync(() => worker.Services.GetRequiredService<SyncWorker.Forwarding.Hosting.TargetEndpointSupervisor>().IsConsuming("managed"), TimeSpan.FromSeconds(30)), Is.True);
            Assert.That(await PostAsync(worker, Completed, StripeEvents.NewEventId(), WorkerHost.Secret, sentSignatures), Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await Eventually.TrueAsync(() => Answered(managed, 200) == 1, TimeSpan.FromSeconds(30)), Is.True, "the managed target got its event");
            Assert.That(managed.LogEntries.Single().RequestMessage.Headers!["X-Partner-Key"].Single(), Is.EqualTo(managedPartnerKey));
            Assert.That(managed.LogEntries.Single().RequestMessage.Headers!["Authorization"].Single(), Is.EqualTo("Bearer " + managedBearer));
        }

        Assert.That(Answered(events, 503), Is.EqualTo(3), "the events target answered 503 three times first");

        var secrets = new List<(string What, string Value)>
        {
            ("webhook signing secret", WorkerHost.Secret),
            ("Notifications:SigningSecret", notificationSecret),
            ("Notifications:SigningSecret's key", notificationSecret["whsec_".Length..]),
            ("webhook signing secret without prefix", WorkerHost.Secret["whsec_".Length..]),
            ("wrong webhook secret of the bad signature", wrongSecret),
            ("target SigningSecret", signingSecret),
            ("target SigningSecret base64 part", signingSecret["whsec_".Length..]),
            ("Stripe API key", stripeApiKey),
            ("Stripe API key without prefix", stripeApiKey["sk_live_".Length..]),
            ("partner API key header value", partnerKey),
            ("RabbitMQ password", rabbitPassword),
            ("Stripe test-mode API key", testModeKey),
            ("Stripe test-mode API key without prefix", testModeKey["sk_test_".Length..]),
            ("Stripe sandbox API key", sandboxKey),
            ("Stripe sandbox API key without prefix", sandboxKey["sk_test_".Length..]),
            ("sandbox webhook signing secret", sandboxSecret),
            ("sandbox webhook signing secret without prefix", sandboxSecret["whsec_".Length..]),
            ("admin write token", adminToken),
            ("admin read token", readToken),
            ("store encryption key", encryptionKey),
            ("managed target's signing secret", managedSecret),
            ("managed target's signing secret base64 part", managedSecret["whsec_".Length..]),
            ("managed target's rotated signing secret", rotatedSecret!),
            ("managed target's rotated signing secret base64 part", rotatedSecret!["whsec_".Length..]),
            ("managed target's header value", managedPartnerKey),
            ("OAuth2 client secret", clientSecret),
            ("OAuth2 access token issued", accessToken),
            ("OAuth2 client credentials as sent (Basic)", Convert.ToBase64String(Encoding.UTF8.GetBytes("syncworker-logs:" + clientSecret))),
            ("bearer token", bearerToken),
            ("Basic password", basicPassword),
            ("Basic credentials as sent", Convert.ToBase64String(Encoding.UTF8.GetBytes("syncworker-logs:" + basicPassword))),
            ("managed target's bearer token", managedBearer),
        };
        Assert.Multiple(() =>
        {
            Assert.That(wms.LogEntries.Select(e => e.RequestMessage.Headers!["Authorization"].Single()), Is.All.EqualTo("Bearer " + accessToken), "wms got the issued token");
            Assert.That(oauth.LogEntries.Select(e => e.RequestMessage.Headers!["Authorization"].Single()), Is.All.EqualTo("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("syncworker-logs:" + clientSecret))), "the client authenticated");
            Assert.That(events.LogEntries.Select(e => e.RequestMessage.Headers!["Authorization"].Single()), Is.All.EqualTo("Bearer " + bearerToken));
            Assert.That(strict.LogEntries.Select(e => e.RequestMessage.Headers!["Authorization"].Single()), Is.All.EqualTo("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("syncworker-logs:" + basicPassword))));
            Assert.That(oauth.LogEntries, Is.Not.Empty);
        });
        foreach (var header in sentSignatures)
        {
            secrets.Add(("Stripe-Signature header sent", header));
            secrets.AddRange(header.Split(',').Where(part => part.StartsWith("v1=", StringComparison.Ordinal))
                .Select(part => ("Stripe-Signature v1 sent", part["v1=".Length..])));
        }

        foreach (var server in new[] { wms, events, strict, sandboxWms, managed })
        {
            foreach (var entry in server.LogEntries)
            {
                var headers = entry.RequestMessage.Headers!;
                Assert.That(headers["X-Partner-Key"].Single(), Is.EqualTo(server == managed ? managedPartnerKey : partnerKey), "the partner key was sent");
                foreach (var signature in headers["webhook-signature"])
                {
                    secrets.Add(("webhook-signature received by a target", signature));
                    secrets.AddRange(signature.Split(' ').Select(part => ("webhook-signature v1 received", part[(part.IndexOf(',', StringComparison.Ordinal) + 1)..])));
                }
            }
        }

        foreach (var fixture in new[] { Completed, AsyncSucceeded, CustomerCreated, Ignored })
        {
            secrets.AddRange(CustomerDetails(fixture).Select(value => ($"customer detail from {fixture}", value)));
        }

        Assert.That(secrets.Select(s => s.Value), Has.Some.EqualTo("jenny.rosen@example.com").And.Some.EqualTo("1234 Main Street").And.Some.EqualTo("97205"),
            "the fixtures' customer details were read");
        Assert.That(sentSignatures, Has.Count.EqualTo(7));
        Assert.That(secrets.Count(s => s.What == "webhook-signature received by a target"), Is.EqualTo(wms.LogEntries.Count + events.LogEntries.Count + strict.LogEntries.Count + sandboxWms.LogEntries.Count + managed.LogEntries.Count));

        var entries = logs.Entries;
        var leaks = (from secret in secrets.Distinct()
                     from variant in Variants(secret.Value)
                     from entry in entries
                     where entry.Text.Contains(variant, StringComparison.OrdinalIgnoreCase)
                     select $"{secret.What} in [{entry.Level}] {entry.Category}: {Masked(entry.Text, variant)}").Distinct().ToList();
        Assert.That(leaks, Is.Empty, "nothing secret or personal is logged, at any level");

        Assert.Multiple(() =>
        {
            Assert.That(entries, Has.Count.GreaterThan(100), "Trace logging of every category was captured");
            Assert.That(logs.FormatterName, Is.EqualTo(formatter));
            var all = string.Join('\n', entries.Select(e => e.Text));
            foreach (var id in new[] { completedId, asyncId, customerId, ignoredId })
            {
                Assert.That(all, Does.Contain(id), "the logs name each accepted or refused event");
            }

            foreach (var target in new[] { "wms", "events", "strict" })
            {
                Assert.That(entries.Where(e => e.ScopeValue("Target") == target), Is.Not.Empty, $"lines about target {target} carry it in scope");
            }

            // Scopes: the receiver, the dispatcher and the delivery carry event, account and target.
            Assert.That(Find(entries, "StripeWebhookReceiver", e => e.ScopeValue("EventId") == completedId && e.ScopeValue("Account") == Account),
                Is.Not.Empty, "receiver lines carry EventId and Account");
            Assert.That(Find(entries, "StripeWebhookReceiver", e => e.ScopeValue("EventId") == ignoredId), Is.Not.Empty, "an ignored event's line carries its EventId");
            Assert.That(Find(entries, "IntakeDispatchConsumer", e => e.ScopeValue("EventId") == completedId && e.ScopeValue("Account") == Account),
                Is.Not.Empty, "dispatcher lines carry EventId and Account");
            Assert.That(Find(entries, "HttpTargetSender", e => e.ScopeValue("EventId") == completedId && e.ScopeValue("Target") == "wms"
                    && e.ScopeValue("Account") == Account && e.Message.Contains("attempt", StringComparison.Ordinal)),
                Is.Not.Empty, "delivery lines carry EventId, Account and Target, and the attempts");
            Assert.That(Find(entries, "HttpTargetSender", e => e.ScopeValue("EventId") == customerId && e.ScopeValue("Target") == "events"
                    && e.Level == LogLevel.Warning && e.Message.Contains("attempts: 2", StringComparison.Ordinal)),
                Is.Not.Empty, "a failed round says how many attempts it made");
            Assert.That(Find(entries, "RedeliveryScheduler", e => e.ScopeValue("EventId") == customerId), Is.Not.Empty, "the durable redelivery was logged in scope");
            Assert.That(Find(entries, "HttpTargetSender", e => e.ScopeValue("EventId") == customerId && e.ScopeValue("Redelivery") == "1"
                    && e.Message.StartsWith("Delivered", StringComparison.Ordinal)), Is.Not.Empty, "the delivery after a durable redelivery says so");
            Assert.That(Find(entries, "HttpTargetSender", e => e.ScopeValue("EventId") == completedId && e.ScopeValue("Redelivery") == "0"), Is.Not.Empty);
        });

        // What the console writes: the selected formatter, with the scopes.
        var received = Find(entries, "StripeWebhookReceiver", e => e.ScopeValue("EventId") == completedId && e.Level == LogLevel.Information).First();
        if (formatter == "json")
        {
            using var line = JsonDocument.Parse(received.Formatted);
            var root = line.RootElement;
            var timestamp = root.GetProperty("Timestamp").GetString()!;
            Assert.That(timestamp, Does.Match(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"), "UTC ISO 8601 timestamp");
            Assert.That(root.GetProperty("Scopes").EnumerateArray().Any(scope => scope.ValueKind == JsonValueKind.Object
                && scope.TryGetProperty("EventId", out var id) && id.GetString() == completedId
                && scope.GetProperty("Account").GetString() == Account), Is.True, "the JSON line has the scope's EventId and Account");
            Assert.That(entries.Select(e => e.Formatted).Where(f => !IsJsonObject(f)).Take(3), Is.Empty, "every line is one JSON object");
            var delivered = Find(entries, "HttpTargetSender", e => e.ScopeValue("EventId") == completedId && e.Level == LogLevel.Information).First();
            using var deliveredLine = JsonDocument.Parse(delivered.Formatted);
            Assert.That(deliveredLine.RootElement.GetProperty("Scopes").EnumerateArray().Any(scope => scope.ValueKind == JsonValueKind.Object
                && scope.TryGetProperty("Target", out var target) && target.GetString() == "wms"
                && scope.TryGetProperty("EventId", out var id) && id.GetString() == completedId), Is.True, "a delivery line has its Target and EventId");
        }
        else
        {
            Assert.That(received.Formatted, Does.Contain($"=> Stripe event {completedId} of account {Account}"), "the simple line shows the scope");
            Assert.That(received.Formatted, Does.Not.StartWith("{"));
            var delivered = Find(entries, "HttpTargetSender", e => e.ScopeValue("EventId") == completedId && e.Level == LogLevel.Information).First();
            Assert.That(delivered.Formatted, Does.Contain($"of Stripe event {completedId} (account {Account}) to target wms, redelivery 0"));
        }
    }

    private static bool IsJsonObject(string line)
    {
        try
        {
            using var json = JsonDocument.Parse(line);
            return json.RootElement.ValueKind == JsonValueKind.Object;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private WireMockServer Server()
    {
        var server = WireMockServer.Start();
        _servers.Add(server);
        return server;
    }

    private static void AddTarget(Dictionary<string, string?> settings, int index, string name, WireMockServer server, string format, string[] events,
        string signingSecret, string partnerKey, string mode = "live")
    {
        var key = $"Fulfillment:Targets:{index}";
        settings[$"{key}:Name"] = name;
        settings[$"{key}:Url"] = $"{server.Url}/fulfillment/{name}";
        for (var i = 0; i < events.Length; i++)
        {
            settings[$"{key}:Events:{i}"] = events[i];
        }

        settings[$"{key}:Mode"] = mode;
        settings[$"{key}:Format"] = format;
        settings[$"{key}:SigningSecret"] = signingSecret;
        settings[$"{key}:Headers:X-Partner-Key"] = partnerKey;
        settings[$"{key}:Retry:MaxRetryAttempts"] = "1";
        settings[$"{key}:Retry:BaseDelaySeconds"] = "0.05";
        settings[$"{key}:CircuitBreaker:MinimumThroughput"] = "100";
        settings[$"{key}:Redelivery:DelaysSeconds:0"] = "1";
    }

    /// <summary>Posts a fixture with a new id, signed with <paramref name="secret"/>; records the Stripe-Signature header.</summary>
    private static async Task<HttpStatusCode> PostAsync(WorkerHost worker, string fixture, string eventId, string secret, List<string> signatures, bool? livemode = null)
    {
        var bytes = Encoding.UTF8.GetBytes(livemode is { } mode ? StripeEvents.WithId(fixture, eventId, livemode: mode) : StripeEvents.WithId(fixture, eventId));
        var header = StripeEvents.SignatureHeader(bytes, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), secret);
        signatures.Add(header);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/stripe") { Content = new ByteArrayContent(bytes) };
        request.Content.Headers.ContentType = new("application/json");
        request.Headers.TryAddWithoutValidation("Stripe-Signature", header);
        using var response = await worker.Client.SendAsync(request);
        return response.StatusCode;
    }

    private static int Answered(WireMockServer server, int status) =>
        server.LogEntries.Count(entry => entry.ResponseMessage.StatusCode is int code && code == status);

    private static int Logged(CapturedLogs logs, string category, string messageStart) =>
        logs.Entries.Count(e => e.Category.EndsWith(category, StringComparison.Ordinal) && e.Message.StartsWith(messageStart, StringComparison.Ordinal));

    private static List<CapturedEntry> Find(IEnumerable<CapturedEntry> entries, string category, Func<CapturedEntry, bool> predicate) =>
        [.. entries.Where(e => e.Category.EndsWith("." + category, StringComparison.Ordinal) && predicate(e))];

    /// <summary>
    /// Customer details in a fixture: emails, phones, address lines, postal codes and cities wherever they are, and the
    /// names that sit next to contact details (a customer's or a shipping recipient's, not a product's).
    /// </summary>
    private static List<string> CustomerDetails(string fixture)
    {
        using var json = JsonDocument.Parse(StripeEvents.Text(fixture));
        var found = new List<string>();
        Walk(json.RootElement, found);
        return [.. found.Distinct()];

        static void Walk(JsonElement element, List<string> found)
        {
            if (element.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in element.EnumerateArray())
                {
                    Walk(item, found);
                }
            }

            if (element.ValueKind != JsonValueKind.Object)
            {
                return;
            }

            var personal = element.TryGetProperty("address", out _) || element.TryGetProperty("email", out _) || element.TryGetProperty("phone", out _);
            foreach (var property in element.EnumerateObject())
            {
                var isDetail = property.Name is "email" or "customer_email" or "phone" or "customer_phone" or "line1" or "line2" or "postal_code"
                    or "city" or "customer_name" || (property.Name == "name" && personal);
                if (isDetail && property.Value.ValueKind == JsonValueKind.String && property.Value.GetString() is { Length: > 0 } value)
                {
                    found.Add(value);
                }

                Walk(property.Value, found);
            }
        }
    }

    /// <summary>The value as written, and URL- and JSON-escaped.</summary>
    private static IEnumerable<string> Variants(string value) =>
        new[] { value, Uri.EscapeDataString(value), JsonEncodedText.Encode(value).ToString() }.Distinct();

    private static string Masked(string text, string secret)
    {
        var at = text.IndexOf(secret, StringComparison.OrdinalIgnoreCase);
        var start = Math.Max(0, at - 160);
        var end = Math.Min(text.Length, at + secret.Length + 160);
        return string.Concat(text.AsSpan(start, at - start), "<<LEAK>>", text.AsSpan(at + secret.Length, end - at - secret.Length)).ReplaceLineEndings(" | ");
    }

    private static string Hex(int bytes) => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(bytes));
}
