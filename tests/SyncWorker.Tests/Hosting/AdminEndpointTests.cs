using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using SyncWorker.Store.Hosting;
using SyncWorker.Store.Ledger;
using SyncWorker.Testing;

namespace SyncWorker.Tests.Hosting;

/// <summary>The admin status endpoint: off without a token, bearer token required, instance facts in JSON.</summary>
public sealed class AdminEndpointTests
{
    private const string Token = "admin-token-for-tests-0123456789";

    [Test]
    public async Task Without_a_configured_token_the_endpoint_does_not_exist()
    {
        await using var worker = await WorkerHost.StartAsync(new() { ["Messaging:Transport"] = "InMemory" });

        using var response = await worker.Client.GetAsync(new Uri("/admin/status", UriKind.Relative));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(() => worker.Admin, Throws.InvalidOperationException, "no admin listener either");
    }

    [TestCase(null)]
    [TestCase("Bearer wrong-token")]
    [TestCase("Basic " + Token)]
    [TestCase("Bearer " + Token + "x")]
    public async Task A_missing_or_wrong_token_is_401(string? authorization)
    {
        await using var worker = await WorkerHost.StartAsync(new() { ["Messaging:Transport"] = "InMemory", ["Admin:Token"] = Token });
        using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/status");
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        using var response = await worker.Admin.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
    }

    [Test]
    public async Task With_the_token_it_reports_the_receiver_outcomes_of_the_last_minutes()
    {
        await using var worker = await WorkerHost.StartAsync(new() { ["Messaging:Transport"] = "InMemory", ["Admin:Token"] = Token, ["Worker:Role"] = "Receiver" });
        using (var accepted = await worker.PostSignedAsync(StripeEvents.WithId("checkout.session.completed.json", StripeEvents.NewEventId())))
        using (var ignored = await worker.PostSignedAsync(StripeEvents.Text("invoice.paid.json")))
        {
            Assert.That(accepted.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(ignored.StatusCode, Is.EqualTo(HttpStatusCode.OK), "answered 200, not queued");
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/status");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var response = await worker.Admin.SendAsync(request);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var outcomes = json.RootElement.GetProperty("receiver").GetProperty("outcomes");
        Assert.That(outcomes.GetProperty("accepted").GetInt64(), Is.EqualTo(1));
        Assert.That(outcomes.GetProperty("ignored").GetInt64(), Is.EqualTo(1));
        Assert.That(json.RootElement.GetProperty("role").GetString(), Is.EqualTo("Receiver"));
    }

    [Test]
    public void A_short_token_stops_the_start()
    {
        var failure = Assert.ThrowsAsync<Messaging.MessagingConfigurationException>(
            () => WorkerHost.StartAsync(new() { ["Messaging:Transport"] = "InMemory", ["Admin:Token"] = "short" }));

        Assert.That(failure!.Message, Does.Contain("Admin:Token").And.Not.Contain("short\""));
    }

    [Test]
    public async Task Orders_answers_what_the_delivery_ledger_knows_of_an_order()
    {
        await using var worker = await WorkerHost.StartAsync(new() { ["Messaging:Transport"] = "InMemory", ["Admin:Token"] = Token });
        var ledger = worker.Services.GetRequiredService<IDeliveryLedger>();
        await worker.Services.GetRequiredService<StoreMonitor>().FirstReady.WaitAsync(TimeSpan.FromSeconds(30));
        var claim = new DeliveryClaim(DeliveryKey.ForOrder("warehouse", "cs_live_admin_orders_1", "order.paid"), "evt_admin_1", "msg_admin_1", "acct_1");
        await ledger.ClaimAsync(claim, "test/1", TimeSpan.FromMinutes(5), force: false, CancellationToken.None);
        await ledger.FinishAsync(claim.Key.Value, "test/1", DeliveryState.Delivered, 200, null, attempts: [], CancellationToken.None);
        await worker.Services.GetRequiredService<IOrderRegistry>().RecordAsync(
            new OrderRecord("cs_live_admin_orders_1", "pi_admin_orders_1", "acct_1", Livemode: true), CancellationToken.None);

        async Task<HttpResponseMessage> GetAsync(string id, string? token = Token)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/orders/" + id);
            if (token is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            return await worker.Admin.SendAsync(request);
        }

        using (var found = await GetAsync("cs_live_admin_orders_1"))
        {
            Assert.That(found.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            using var json = JsonDocument.Parse(await found.Content.ReadAsStringAsync());
            var delivery = json.RootElement.GetProperty("deliveries").EnumerateArray().Single();
            Assert.That(delivery.GetProperty("key").GetString(), Is.EqualTo("warehouse/order.paid/cs_live_admin_orders_1"));
            Assert.That(delivery.GetProperty("state").GetString(), Is.EqualTo("delivered"));
            Assert.That(delivery.GetProperty("webhookId").GetString(), Is.EqualTo("msg_admin_1"));
        }

        using (var unknown = await GetAsync("cs_live_never_seen"))
        {
            Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        }

        using (var paymentIntent = await GetAsync("pi_admin_orders_1"))
        {
            Assert.That(paymentIntent.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            using var json = JsonDocument.Parse(await paymentIntent.Content.ReadAsStringAsync());
            Assert.That(json.RootElement.GetProperty("order").GetString(), Is.EqualTo("cs_live_admin_orders_1"), "the payment intent's order");
            Assert.That(json.RootElement.GetProperty("deliveries").EnumerateArray().Single().GetProperty("webhookId").GetString(), Is.EqualTo("msg_admin_1"));
        }

        using (var unknownIntent = await GetAsync("pi_never_seen"))
        {
            Assert.That(unknownIntent.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        }

        using (var otherKind = await GetAsync("order-42"))
        {
            Assert.That(otherKind.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(await otherKind.Content.ReadAsStringAsync(), Does.Contain("cs_").And.Contain("pi_"));
        }

        using (var anonymous = await GetAsync("cs_live_admin_orders_1", token: null))
        {
            Assert.That(anonymous.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }
    }

    [Test]
    public async Task Deliveries_answers_a_page_of_the_ledger_as_deliveries_list_does()
    {
        await using var worker = await WorkerHost.StartAsync(new() { ["Messaging:Transport"] = "InMemory", ["Admin:Token"] = Token });
        var ledger = worker.Services.GetRequiredService<IDeliveryLedger>();
        await worker.Services.GetRequiredService<StoreMonitor>().FirstReady.WaitAsync(TimeSpan.FromSeconds(30));
        foreach (var order in new[] { "cs_live_admin_list_1", "cs_live_admin_list_2", "cs_live_admin_list_3" })
        {
            var claim = new DeliveryClaim(DeliveryKey.ForOrder("admin-list", order, "order.paid"), "evt_" + order, "msg_" + order);
            await ledger.ClaimAsync(claim, "test/1", TimeSpan.FromMinutes(5), force: false, CancellationToken.None);
            await ledger.FinishAsync(claim.Key.Value, "test/1", DeliveryState.DeadLettered, 503, "down", attempts: [], CancellationToken.None);
        }

        async Task<HttpResponseMessage> GetAsync(string query, string? token = Token)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/deliveries" + query);
            if (token is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            return await worker.Admin.SendAsync(request);
        }

        string? next;
        var keys = new List<string>();
        using (var first = await GetAsync("?target=admin-list&state=dead_lettered&since=1h&limit=2"))
        {
            Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            using var json = JsonDocument.Parse(await first.Content.ReadAsStringAsync());
            keys.AddRange(json.RootElement.GetProperty("deliveries").EnumerateArray().Select(d => d.GetProperty("key").GetString()!));
            Assert.That(json.RootElement.GetProperty("deliveries")[0].GetProperty("state").GetString(), Is.EqualTo("dead_lettered"));
            next = json.RootElement.GetProperty("next").GetString();
        }

        Assert.That(keys, Has.Count.EqualTo(2));
        using (var second = await GetAsync($"?target=admin-list&state=dead_lettered&since=1h&limit=2&after={next}"))
        {
            Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            using var json = JsonDocument.Parse(await second.Content.ReadAsStringAsync());
            keys.AddRange(json.RootElement.GetProperty("deliveries").EnumerateArray().Select(d => d.GetProperty("key").GetString()!));
            Assert.That(json.RootElement.GetProperty("next").ValueKind, Is.EqualTo(JsonValueKind.Null));
        }

        Assert.That(keys.Order(StringComparer.Ordinal), Is.EqualTo(new[]
        {
            "admin-list/order.paid/cs_live_admin_list_1", "admin-list/order.paid/cs_live_admin_list_2", "admin-list/order.paid/cs_live_admin_list_3",
        }));

        using (var badState = await GetAsync("?state=lost"))
        {
            Assert.That(badState.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(await badState.Content.ReadAsStringAsync(), Does.Contain("state 'lost' is not a delivery state").And.Contain("dead_lettered"));
        }

        using (var anonymous = await GetAsync("", token: null))
        {
            Assert.That(anonymous.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }
    }

    [Test]
    public async Task The_admin_endpoints_answer_on_their_own_listener_and_not_on_the_webhook_one()
    {
        await using var worker = await WorkerHost.StartAsync(new() { ["Messaging:Transport"] = "InMemory", ["Admin:Token"] = Token });

        using (var onWebhookPort = new HttpRequestMessage(HttpMethod.Get, "/admin/status"))
        {
            onWebhookPort.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            using var response = await worker.Client.SendAsync(onWebhookPort);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "the port Stripe reaches has no admin endpoint, even with the token");
        }

        using (var onAdminPort = new HttpRequestMessage(HttpMethod.Get, "/admin/status"))
        {
            onAdminPort.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            using var response = await worker.Admin.SendAsync(onAdminPort);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(worker.Admin.BaseAddress!.Port, Is.Not.EqualTo(worker.Client.BaseAddress!.Port));
    }

    [Test]
    public async Task Scoped_tokens_read_and_an_unknown_one_is_refused_with_a_bearer_challenge()
    {
        const string reader = "read-token-for-tests-abcdefghijkl";
        const string writer = "write-token-for-tests-abcdefghijk";
        await using var worker = await WorkerHost.StartAsync(new()
        {
            ["Messaging:Transport"] = "InMemory",
            ["Admin:Tokens:0:Name"] = "dashboards",
            ["Admin:Tokens:0:Token"] = reader,
            ["Admin:Tokens:0:Scope"] = "read",
            ["Admin:Tokens:1:Name"] = "deploy",
            ["Admin:Tokens:1:Token"] = writer,
            ["Admin:Tokens:1:Scope"] = "write",
        });

        foreach (var token in new[] { reader, writer })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/status");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await worker.Admin.SendAsync(request);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), "a read and a write token both read");
        }

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/admin/status"))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            using var response = await worker.Admin.SendAsync(request);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(response.Headers.WwwAuthenticate.ToString(), Is.EqualTo("Bearer"));
        }
    }
}
