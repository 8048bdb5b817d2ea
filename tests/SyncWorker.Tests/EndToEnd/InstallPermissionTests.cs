using System.Net;
using Microsoft.Extensions.DependencyInjection;
using SyncWorker.Forwarding.Hosting;
using SyncWorker.Forwarding.Installs;
using SyncWorker.Store.Installs;
using SyncWorker.Store.Ledger;
using SyncWorker.Testing;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Tests.EndToEnd;

/// <summary>
/// A merchant who has not yet approved a new app version's permissions: the order actions that need the pending
/// permission wait (recorded, not dead-lettered, nothing read from Stripe) and go out once the install says it is granted.
/// </summary>
[NonParallelizable]
public sealed class InstallPermissionTests
{
    private const string Account = "acct_1Qx7ExampleMrch01";
    private const string SessionId = "cs_live_a1Qx7ExampleSessionIdForDocsOnly000000000000000000000000";

    [Test]
    public async Task An_order_waits_while_checkout_session_read_is_pending_and_goes_out_once_it_is_granted()
    {
        await using var node = await RabbitMqNode.LaunchAsync();
        var vhost = await node.CreateVirtualHostAsync();
        using var stripe = WireMockServer.Start();
        stripe.Given(Request.Create().WithPath("/v1/checkout/sessions/*/line_items").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json")
                .WithBody(StripeEvents.Text("checkout.session.line_items.response.json")));
        using var wms = WireMockServer.Start();
        wms.Given(Request.Create().UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
        await using var worker = await WorkerHost.StartAsync(new()
        {
            ["RabbitMq:Uri"] = node.AmqpUri(vhost).ToString(),
            ["Stripe:ApiKeys:Live"] = "sk_live_permission_wait_e2e_00",
            ["Stripe:ApiBase"] = stripe.Url,
            ["Manifest:Path"] = TestManifest.WithConnectSrc(wms.Url + "/fulfillment/"),
            ["Fulfillment:Targets:0:Name"] = "wms",
            ["Fulfillment:Targets:0:Url"] = wms.Url + "/fulfillment/wms",
            ["Fulfillment:Targets:0:Events:0"] = "checkout.session.*",
            ["Fulfillment:Targets:0:Mode"] = "live",
            ["Fulfillment:Targets:0:Format"] = "order",
            ["Fulfillment:Targets:0:SigningSecret"] = "whsec_" + Convert.ToBase64String(new byte[32]),
        });
        var supervisor = worker.Services.GetRequiredService<TargetEndpointSupervisor>();
        Assert.That(await Eventually.TrueAsync(() => supervisor.IsConsuming("wms"), TimeSpan.FromSeconds(60)), Is.True);
        var installs = worker.Services.GetRequiredService<IInstallRegistry>();
        var ledger = worker.Services.GetRequiredService<IDeliveryLedger>();

        // A new app version asks for checkout_session_read; the merchant has not approved it yet.
        using (var updated = await worker.PostSignedAsync(InstallUpdated(1785916800, granted: ["event_read"], pending: ["checkout_session_read"])))
        {
            Assert.That(updated.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(async () => (await installs.GetAsync(Account, true, default))?.PermissionsPending?.Contains("checkout_session_read") == true, TimeSpan.FromSeconds(30)), Is.True);
        // The forwarder's copy is what deliveries check; it takes the change once the registry has it.
        var copy = worker.Services.GetRequiredService<InstallState>();
        Assert.That(await Eventually.TrueAsync(() => copy.PendingPermissions(Account, true).Contains("checkout_session_read"), TimeSpan.FromSeconds(30)), Is.True);
        using (var paid = await worker.PostSignedAsync(StripeEvents.WithId("checkout.session.completed.json", StripeEvents.NewEventId())))
        {
            Assert.That(paid.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        var key = $"wms/order.paid/{SessionId}";
        Assert.That(await Eventually.TrueAsync(async () => (await ledger.GetAsync(key, default))?.State == DeliveryState.Waiting, TimeSpan.FromSeconds(30)), Is.True,
            "the order waits, recorded in the ledger");
        var waiting = await ledger.GetAsync(key, default);
        Assert.That(waiting!.LastError, Does.Contain("checkout_session_read").And.Contain(Account).And.Contain("pending"));
        Assert.That(wms.LogEntries, Is.Empty, "nothing sent while the permission is pending");
        Assert.That(stripe.LogEntries, Is.Empty, "nothing read from Stripe without the permission");

        // The merchant approves: apps.install.updated shows it granted; the order goes out on its next check.
        using (var granted = await worker.PostSignedAsync(InstallUpdated(1785920400, granted: ["event_read", "checkout_session_read"], pending: [])))
        {
            Assert.That(granted.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(() => wms.LogEntries.Count == 1, TimeSpan.FromSeconds(90)), Is.True, "the order went out once granted");
        Assert.That((await ledger.GetAsync(key, default))!.State, Is.EqualTo(DeliveryState.Delivered));
    }

    private static string InstallUpdated(long created, string[] granted, string[] pending)
    {
        static string List(string[] items) => "[" + string.Join(", ", items.Select(item => $"\"{item}\"")) + "]";
        return $$"""
            {
              "id": "{{StripeEvents.NewEventId()}}",
              "object": "event",
              "account": "{{Account}}",
              "api_version": "2023-10-16",
              "created": {{created}},
              "data": {
                "object": {
                  "id": "inst_1Qx7ExampleInstall01",
                  "object": "apps.install",
                  "account": "{{Account}}",
                  "livemode": true,
                  "status": "installed",
                  "permissions_granted": {{List(granted)}},
                  "permissions_pending": {{List(pending)}}
                }
              },
              "livemode": true,
              "pending_webhooks": 1,
              "request": { "id": null, "idempotency_key": null },
              "type": "apps.install.updated"
            }
            """;
    }
}
