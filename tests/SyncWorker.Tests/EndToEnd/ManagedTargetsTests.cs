using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using StandardWebhooks;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Hosting;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Store.Audit;
using SyncWorker.Store.Ledger;
using SyncWorker.Testing;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Tests.EndToEnd;

/// <summary>
/// Targets managed at run time, through the real admin HTTP API of workers sharing one PostgreSQL store and one RabbitMQ
/// node: created, changed, rotated and removed with no restart, on every forwarder.
/// </summary>
[NonParallelizable]
public sealed class ManagedTargetsTests
{
    private const string Completed = "checkout.session.completed.json";
    private const string Merchant = "acct_1Qx7ExampleMrch01";
    private const string OtherMerchant = "acct_1Qx7OtherMerchant9";
    private const string WriteToken = "ops-write-token-0123456789abcdef";
    private const string ReadToken = "ops-read-token-0123456789abcdefgh";
    private static readonly string EncryptionKey = Convert.ToBase64String(Enumerable.Range(40, 32).Select(i => (byte)i).ToArray());
    private RabbitMqNode _node = null!;
    private PostgresServer _postgres = null!;
    private WireMockServer _stripe = null!;
    private WireMockServer _partner = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _node = await RabbitMqNode.LaunchAsync();
        _postgres = await PostgresServer.LaunchAsync();
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _node.DisposeAsync();
        await _postgres.DisposeAsync();
    }

    [SetUp]
    public void StartPeers()
    {
        _stripe = WireMockServer.Start();
        _stripe.Given(Request.Create().WithPath("/v1/checkout/sessions/*/line_items").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json")
                .WithBody(StripeEvents.Text("checkout.session.line_items.response.json")));
        _partner = WireMockServer.Start();
        _partner.Given(Request.Create().UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
    }

    [TearDown]
    public void StopPeers()
    {
        _stripe.Stop();
        _stripe.Dispose();
        _partner.Stop();
        _partner.Dispose();
    }

    [Test]
    public async Task A_target_created_through_the_api_gets_its_merchants_next_order_and_no_other_merchants_on_every_forwarder()
    {
        var (vhost, database) = (await _node.CreateVirtualHostAsync(), await _postgres.CreateDatabaseAsync("managed"));
        await using var first = await StartWorkerAsync(vhost, database);
        await using var second = await StartWorkerAsync(vhost, database);

        using var created = await SendAsync(first, HttpMethod.Post, "/admin/targets", WriteToken, new
        {
            name = "warehouse",
            url = _partner.Url + "/fulfillment/warehouse",
            events = new[] { "checkout.session.completed", "checkout.session.async_payment_succeeded" },
            mode = "live",
            accounts = new[] { Merchant },
            headers = new Dictionary<string, string> { ["X-Partner-Key"] = "partner-api-key-warehouse-0001" },
        });
        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created), await created.Content.ReadAsStringAsync());
        Assert.That(created.Headers.Location?.ToString(), Is.EqualTo("/admin/targets/warehouse"));
        var view = JsonNode.Parse(await created.Content.ReadAsStringAsync())!;
        var secret = view["signingSecret"]!.GetValue<string>();
        Assert.That(secret, Does.StartWith("whsec_"), "generated and returned once");

        // The other forwarder reads the store's targets every second; its registry has the new target within 5 s.
        var registry = second.Services.GetRequiredService<TargetRegistry>();
        Assert.That(await Eventually.TrueAsync(() => registry.Find("warehouse") is not null, TimeSpan.FromSeconds(5)), Is.True,
            "the second forwarder knows the target within 5 s");
        var supervisors = new[] { first, second }.Select(w => w.Services.GetRequiredService<TargetEndpointSupervisor>()).ToArray();
        Assert.That(await Eventually.TrueAsync(() => supervisors.All(s => s.IsConsuming("warehouse")), TimeSpan.FromSeconds(30)), Is.True,
            "both forwarders consume the new target's queue");
        Assert.That(await ConsumersAsync(vhost, Topology.TargetQueue("warehouse")), Is.EqualTo(2));

        var theirs = StripeEvents.NewEventId();
        var ours = StripeEvents.NewEventId();
        using (var other = await second.PostSignedAsync(StripeEvents.WithId(Completed, theirs).Replace(Merchant, OtherMerchant, StringComparison.Ordinal)))
        using (var mine = await second.PostSignedAsync(StripeEvents.WithId(Completed, ours)))
        {
            Assert.That(other.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(mine.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(() => _partner.LogEntries.Any(), TimeSpan.FromSeconds(30)), Is.True, "the merchant's order reached the warehouse");
        await Task.Delay(TimeSpan.FromSeconds(2));
        var request = _partner.LogEntries.Single().RequestMessage;
        using var order = JsonDocument.Parse(request.Body!);
        Assert.Multiple(() =>
        {
            Assert.That(order.RootElement.GetProperty("account").GetString(), Is.EqualTo(Merchant), "only its own merchant's order");
            Assert.That(order.RootElement.GetProperty("source_event").GetProperty("id").GetString(), Is.EqualTo(ours));
            Assert.That(request.Headers!["X-Partner-Key"].Single(), Is.EqualTo("partner-api-key-warehouse-0001"));
        });
        Assert.DoesNotThrow(() => new StandardWebhook(secret).Verify(request.Body!, HeadersOf(request)), "signed with the generated secret");
    }

    [Test]
    public async Task Secrets_are_sealed_in_the_store_never_shown_again_and_a_rotation_signs_with_both_secrets()
    {
        var (vhost, database) = (await _node.CreateVirtualHostAsync(), await _postgres.CreateDatabaseAsync("secrets"));
        await using var worker = await StartWorkerAsync(vhost, database);
        const string first = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
        const string partnerKey = "partner-api-key-feed-000000000042";
        var feed = EventTarget("feed", first, partnerKey);
        feed["url"] = _partner.Url + "/fulfillment/feed";
        using (var created = await SendAsync(worker, HttpMethod.Post, "/admin/targets", WriteToken, feed))
        {
            var text = await created.Content.ReadAsStringAsync();
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created), text);
            Assert.That(text, Does.Not.Contain(first).And.Not.Contain(partnerKey), "a secret given is not echoed");
        }

        using (var shown = await SendAsync(worker, HttpMethod.Get, "/admin/targets/feed", ReadToken))
        {
            var view = JsonNode.Parse(await shown.Content.ReadAsStringAsync())!;
            Assert.That(view["signingSecret"], Is.Null);
            Assert.That(view["signingSecretLast4"]!.GetValue<string>(), Is.EqualTo("…WY=".Replace("…WY=", "…" + first[^4..], StringComparison.Ordinal)));
            Assert.That(view["headers"]!["X-Partner-Key"]!.GetValue<string>(), Is.EqualTo("…0042"));
            Assert.That(view["source"]!.GetValue<string>(), Is.EqualTo("api"));
            Assert.That(view["createdBy"]!.GetValue<string>(), Is.EqualTo("token:ops-write"));
        }

        await using (var connection = new Npgsql.NpgsqlConnection(database))
        {
            await connection.OpenAsync();
            await using var command = new Npgsql.NpgsqlCommand("SELECT definition || coalesce(secrets, '') FROM targets WHERE name = 'feed'", connection);
            var row = (string)(await command.ExecuteScalarAsync())!;
            Assert.That(row, Does.Not.Contain(first[6..]).And.Not.Contain(partnerKey), "the store holds no secret in clear");
            Assert.That(row, Does.Contain("v1."), "the secrets are sealed");
        }

        using (var rotated = await SendAsync(worker, HttpMethod.Post, "/admin/targets/feed/rotate-secret", WriteToken, new { overlapHours = 1 }))
        {
            var text = await rotated.Content.ReadAsStringAsync();
            Assert.That(rotated.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
            var second = JsonNode.Parse(text)!["signingSecret"]!.GetValue<string>();
            Assert.That(second, Does.StartWith("whsec_").And.Not.EqualTo(first));
            Assert.That(JsonNode.Parse(text)!["previousSecretUntil"], Is.Not.Null);

            Assert.That(await Eventually.TrueAsync(() => worker.Services.GetRequiredService<TargetEndpointSupervisor>().IsConsuming("feed"), TimeSpan.FromSeconds(30)), Is.True);
            using (var posted = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId())))
            {
                Assert.That(posted.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            }

            Assert.That(await Eventually.TrueAsync(() => _partner.LogEntries.Any(), TimeSpan.FromSeconds(30)), Is.True);
            var request = _partner.LogEntries.Single().RequestMessage;
            // Each secret's signature, and the new one again last (StandardWebhooks for .NET 1.1.2 never checks the last entry).
            Assert.That(request.Headers!["webhook-signature"].Single().Split(' ').Distinct().Count(), Is.EqualTo(2), "both signatures during the overlap");
            Assert.DoesNotThrow(() => new StandardWebhook(first).Verify(request.Body!, HeadersOf(request)), "a partner still on the old secret verifies");
            Assert.DoesNotThrow(() => new StandardWebhook(second).Verify(request.Body!, HeadersOf(request)), "a partner on the new secret verifies");
        }

        var audit = await worker.Services.GetRequiredService<AuditLog>().ListAsync(DateTimeOffset.UnixEpoch, 10, CancellationToken.None);
        Assert.That(audit.Select(entry => (entry.Actor, entry.Action, entry.Subject)), Is.SupersetOf(new[]
        {
            ("token:ops-write", "targets.create", (string?)"feed"),
            ("token:ops-write", "targets.rotate-secret", (string?)"feed"),
        }));
        Assert.That(string.Join("\n", audit.Select(entry => entry.Detail)), Does.Not.Contain(partnerKey).And.Not.Contain(first[6..]));
    }

    [Test]
    public async Task Tokens_scopes_and_invalid_input_are_answered_with_problems_that_name_the_field()
    {
        var (vhost, database) = (await _node.CreateVirtualHostAsync(), await _postgres.CreateDatabaseAsync("problems"));
        await using var worker = await StartWorkerAsync(vhost, database, configured: true);

        using (var anonymous = await SendAsync(worker, HttpMethod.Get, "/admin/targets", token: null))
        {
            Assert.That(anonymous.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }

        using (var read = await SendAsync(worker, HttpMethod.Post, "/admin/targets", ReadToken, EventTarget("feed", null, null)))
        {
            Assert.That(read.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
            Assert.That(read.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        }

        using (var list = await SendAsync(worker, HttpMethod.Get, "/admin/targets", ReadToken))
        {
            var targets = JsonNode.Parse(await list.Content.ReadAsStringAsync())!.AsArray();
            Assert.That(targets.Select(t => (t!["name"]!.GetValue<string>(), t["source"]!.GetValue<string>())), Is.EquivalentTo(new[] { ("configured", "configuration") }));
            Assert.That(targets[0]!["signingSecret"], Is.Null);
        }

        using (var invalid = await SendAsync(worker, HttpMethod.Post, "/admin/targets", WriteToken, new
        {
            name = "Bad Name",
            url = "https://elsewhere.example.com/orders",
            events = new[] { "made.up.event" },
        }))
        {
            Assert.That(invalid.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(invalid.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            var errors = JsonNode.Parse(await invalid.Content.ReadAsStringAsync())!["errors"]!.AsObject();
            Assert.That(errors.Select(e => e.Key), Is.SupersetOf(new[] { "name", "url", "mode", "accounts", "events[0]" }));
            Assert.That(errors["url"]![0]!.GetValue<string>(), Does.Contain("connect-src"));
            Assert.That(errors["accounts"]![0]!.GetValue<string>(), Does.Contain("allAccounts"));
            Assert.That(errors.ToJsonString(), Does.Not.Contain("Fulfillment:Targets"), "fields are named as the API names them");
        }

        using (var unknown = await SendAsync(worker, HttpMethod.Post, "/admin/targets", WriteToken, new { name = "feed", signingsecrt = "x" }))
        {
            Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(JsonNode.Parse(await unknown.Content.ReadAsStringAsync())!["errors"]!.AsObject().Select(e => e.Key), Does.Contain("signingsecrt"));
        }

        using (var created = await SendAsync(worker, HttpMethod.Post, "/admin/targets", WriteToken, EventTarget("feed", null, null)))
        {
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created), await created.Content.ReadAsStringAsync());
        }

        using (var again = await SendAsync(worker, HttpMethod.Post, "/admin/targets", WriteToken, EventTarget("feed", null, null)))
        {
            Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        }

        using (var file = await SendAsync(worker, HttpMethod.Post, "/admin/targets", WriteToken, EventTarget("configured", null, null)))
        {
            Assert.That(file.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
            Assert.That(await file.Content.ReadAsStringAsync(), Does.Contain("configuration file"));
        }

        using (var change = await SendAsync(worker, HttpMethod.Put, "/admin/targets/configured", WriteToken, EventTarget("configured", null, null)))
        {
            Assert.That(change.StatusCode, Is.EqualTo(HttpStatusCode.Conflict), "a target of the file is read-only here");
        }

        using (var missing = await SendAsync(worker, HttpMethod.Delete, "/admin/targets/nowhere", WriteToken))
        {
            Assert.That(missing.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        }

        // A PUT replaces the whole target; the secret and a header left null keep their stored values.
        var replacement = EventTarget("feed", null, null);
        replacement["events"] = new JsonArray("checkout.session.completed");
        using (var put = await SendAsync(worker, HttpMethod.Put, "/admin/targets/feed", WriteToken, replacement))
        {
            Assert.That(put.StatusCode, Is.EqualTo(HttpStatusCode.OK), await put.Content.ReadAsStringAsync());
            Assert.That(JsonNode.Parse(await put.Content.ReadAsStringAsync())!["events"]!.AsArray().Select(e => e!.GetValue<string>()), Is.EqualTo(new[] { "checkout.session.completed" }));
        }

        using (var openApi = await SendAsync(worker, HttpMethod.Get, "/admin/openapi.json", ReadToken))
        {
            Assert.That(openApi.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            var served = await openApi.Content.ReadAsStringAsync();
            Assert.That(JsonNode.Parse(served)!["paths"]!.AsObject().Select(p => p.Key), Is.SupersetOf(new[] { "/admin/targets", "/admin/targets/{name}", "/admin/targets/{name}/rotate-secret" }));
            var checkedIn = WorkerHost.RepositoryFile("docs/admin-openapi.json");
            if (Environment.GetEnvironmentVariable("SYNCWORKER_WRITE_OPENAPI") == "1")
            {
                await File.WriteAllTextAsync(checkedIn, Normalized(served));
            }

            Assert.That(File.Exists(checkedIn) ? Normalized(await File.ReadAllTextAsync(checkedIn)) : "(missing)", Is.EqualTo(Normalized(served)),
                "docs/admin-openapi.json is the served document: after changing the API, run this test with SYNCWORKER_WRITE_OPENAPI=1 and commit the file");
        }
    }

    [Test]
    public async Task Removing_a_target_with_queued_deliveries_needs_drain_or_discard_and_each_ends_as_it_says()
    {
        var (vhost, database) = (await _node.CreateVirtualHostAsync(), await _postgres.CreateDatabaseAsync("removal"));
        using var slow = WireMockServer.Start();
        slow.Given(Request.Create().UsingPost()).RespondWith(Response.Create().WithStatusCode(200).WithDelay(TimeSpan.FromMilliseconds(1500)));
        await using var worker = await StartWorkerAsync(vhost, database, configured: false, slow.Url + "/fulfillment/");
        var supervisor = worker.Services.GetRequiredService<TargetEndpointSupervisor>();
        foreach (var name in new[] { "drained", "discarded" })
        {
            var target = EventTarget(name, null, null);
            target["url"] = slow.Url + "/fulfillment/" + name;
            target["maxConcurrency"] = 1;
            using var created = await SendAsync(worker, HttpMethod.Post, "/admin/targets", WriteToken, target);
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created), await created.Content.ReadAsStringAsync());
        }

        Assert.That(await Eventually.TrueAsync(() => supervisor.IsConsuming("drained") && supervisor.IsConsuming("discarded"), TimeSpan.FromSeconds(30)), Is.True);
        var events = Enumerable.Range(0, 5).Select(_ => StripeEvents.NewEventId()).ToList();
        foreach (var id in events)
        {
            using var posted = await worker.PostSignedAsync(StripeEvents.WithId(Completed, id));
            Assert.That(posted.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(() => slow.LogEntries.Any(), TimeSpan.FromSeconds(30)), Is.True);
        using (var refused = await SendAsync(worker, HttpMethod.Delete, "/admin/targets/drained", WriteToken))
        {
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
            Assert.That(JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["queued"]!.GetValue<long>(), Is.GreaterThan(0));
        }

        using (var drain = await SendAsync(worker, HttpMethod.Delete, "/admin/targets/drained?drain=true", WriteToken))
        using (var discard = await SendAsync(worker, HttpMethod.Delete, "/admin/targets/discarded?discard=true", WriteToken))
        {
            Assert.That(drain.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await drain.Content.ReadAsStringAsync());
            Assert.That(JsonNode.Parse(await drain.Content.ReadAsStringAsync())!["state"]!.GetValue<string>(), Is.EqualTo("draining"));
            Assert.That(JsonNode.Parse(await drain.Content.ReadAsStringAsync())!["queued"]!.GetValue<long>(), Is.GreaterThan(0), "the 202 says how many are left");
            Assert.That(discard.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await discard.Content.ReadAsStringAsync());
        }

        Assert.That(await Eventually.TrueAsync(async () =>
        {
            using var a = await SendAsync(worker, HttpMethod.Get, "/admin/targets/drained", ReadToken);
            using var b = await SendAsync(worker, HttpMethod.Get, "/admin/targets/discarded", ReadToken);
            return a.StatusCode == HttpStatusCode.NotFound && b.StatusCode == HttpStatusCode.NotFound;
        }, TimeSpan.FromSeconds(90)), Is.True, "both removed once their queues were empty");

        var ledger = worker.Services.GetRequiredService<IDeliveryLedger>();
        var drained = new List<DeliveryState?>();
        var discarded = new List<DeliveryState?>();
        foreach (var id in events)
        {
            drained.Add((await ledger.GetAsync($"drained/event/{id}", CancellationToken.None))?.State);
            discarded.Add((await ledger.GetAsync($"discarded/event/{id}", CancellationToken.None))?.State);
        }

        Assert.That(drained, Is.All.EqualTo(DeliveryState.Delivered), "draining delivered everything queued");
        Assert.That(discarded, Has.Some.EqualTo(DeliveryState.Discarded), "discarding recorded what was queued as discarded");
        Assert.That(discarded, Is.All.EqualTo(DeliveryState.Delivered).Or.EqualTo(DeliveryState.Discarded));
        Assert.That(slow.LogEntries.Count(e => e.RequestMessage.Path.EndsWith("/discarded", StringComparison.Ordinal)),
            Is.EqualTo(discarded.Count(s => s == DeliveryState.Delivered)), "nothing discarded was sent");
        Assert.That(await Eventually.TrueAsync(async () => await ConsumersAsync(vhost, Topology.TargetQueue("drained")) == 0, TimeSpan.FromSeconds(60)), Is.True,
            "the removed target's queue is no longer consumed");
    }

    private static JsonObject EventTarget(string name, string? secret, string? partnerKey)
    {
        var target = new JsonObject
        {
            ["name"] = name,
            ["url"] = "http://127.0.0.1:9/fulfillment/" + name,
            ["events"] = new JsonArray("checkout.session.*"),
            ["mode"] = "live",
            ["format"] = "event",
            ["allAccounts"] = true,
        };
        if (secret is not null)
        {
            target["signingSecret"] = secret;
        }

        if (partnerKey is not null)
        {
            target["headers"] = new JsonObject { ["X-Partner-Key"] = partnerKey };
        }

        return target;
    }

    private async Task<WorkerHost> StartWorkerAsync(string vhost, string database, bool configured = false, params string[] extraConnectSrc)
    {
        var settings = new Dictionary<string, string?>
        {
            ["RabbitMq:Uri"] = _node.AmqpUri(vhost).ToString(),
            ["Store:Provider"] = "Postgres",
            ["Store:ConnectionString"] = database,
            ["Store:EncryptionKey"] = EncryptionKey,
            ["Stripe:ApiKeys:Live"] = "sk_live_managed_targets_e2e_0000",
            ["Stripe:ApiBase"] = _stripe.Url,
            ["Manifest:Path"] = TestManifest.WithConnectSrc([_partner.Url + "/fulfillment/", "http://127.0.0.1:9/fulfillment/", .. extraConnectSrc]),
            ["Admin:Tokens:0:Token"] = WriteToken,
            ["Admin:Tokens:0:Scope"] = "write",
            ["Admin:Tokens:0:Name"] = "ops-write",
            ["Admin:Tokens:1:Token"] = ReadToken,
            ["Admin:Tokens:1:Scope"] = "read",
            ["Admin:Tokens:1:Name"] = "ops-read",
        };
        if (configured)
        {
            settings["Fulfillment:Targets:0:Name"] = "configured";
            settings["Fulfillment:Targets:0:Url"] = "http://127.0.0.1:9/fulfillment/configured";
            settings["Fulfillment:Targets:0:Events:0"] = "checkout.session.*";
            settings["Fulfillment:Targets:0:Mode"] = "live";
            settings["Fulfillment:Targets:0:Format"] = "event";
            settings["Fulfillment:Targets:0:SigningSecret"] = "whsec_" + Convert.ToBase64String(new byte[32]);
        }

        return await WorkerHost.StartAsync(settings);
    }

    private static async Task<HttpResponseMessage> SendAsync(WorkerHost worker, HttpMethod method, string path, string? token, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (body is not null)
        {
            request.Content = body is JsonNode node
                ? new StringContent(node.ToJsonString(), Encoding.UTF8, "application/json")
                : JsonContent.Create(body);
        }

        return await worker.Admin.SendAsync(request);
    }

    private async Task<uint> ConsumersAsync(string vhost, string queue)
    {
        await using var connection = await _node.ConnectAsync(vhost);
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            return (await channel.QueueDeclarePassiveAsync(queue)).ConsumerCount;
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return 0;
        }
    }

    private static HeaderDictionary HeadersOf(WireMock.IRequestMessage request) =>
        new(request.Headers!.ToDictionary(h => h.Key, h => new Microsoft.Extensions.Primitives.StringValues(h.Value.ToArray())));

    private static string Normalized(string json) => JsonNode.Parse(json)!.ToJsonString(new JsonSerializerOptions { WriteIndented = true }).ReplaceLineEndings("\n") + "\n";
}
