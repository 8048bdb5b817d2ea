using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Hosting;
using SyncWorker.Store.Hosting;
using SyncWorker.Store.Ledger;
using SyncWorker.Testing;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Tests.EndToEnd;

/// <summary>
/// The delivery ledger on PostgreSQL, stopped and started under a running worker: webhooks are still answered, target
/// queues are not consumed while it is away (nothing dead-lettered), and delivery resumes on its own.
/// </summary>
[NonParallelizable]
public sealed class StoreOutageTests
{
    private const string Completed = "checkout.session.completed.json";

    [Test]
    public async Task While_postgresql_is_stopped_webhooks_are_answered_deliveries_wait_in_their_queue_and_go_out_when_it_is_back()
    {
        await using var node = await RabbitMqNode.LaunchAsync();
        await using var postgres = await PostgresServer.LaunchAsync();
        var vhost = await node.CreateVirtualHostAsync();
        using var target = WireMockServer.Start();
        target.Given(Request.Create().UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
        await using var worker = await WorkerHost.StartAsync(new()
        {
            ["RabbitMq:Uri"] = node.AmqpUri(vhost).ToString(),
            ["Store:Provider"] = "Postgres",
            ["Store:ConnectionString"] = await postgres.CreateDatabaseAsync("outage"),
            ["Manifest:Path"] = TestManifest.WithConnectSrc(target.Url + "/fulfillment/"),
            ["Fulfillment:Targets:0:Name"] = "audit",
            ["Fulfillment:Targets:0:Url"] = target.Url + "/fulfillment/audit",
            ["Fulfillment:Targets:0:Events:0"] = "checkout.session.*",
            ["Fulfillment:Targets:0:Mode"] = "live",
            ["Fulfillment:Targets:0:Format"] = "event",
            ["Fulfillment:Targets:0:SigningSecret"] = "whsec_" + Convert.ToBase64String(new byte[32]),
        });
        var supervisor = worker.Services.GetRequiredService<TargetEndpointSupervisor>();
        var monitor = worker.Services.GetRequiredService<StoreMonitor>();

        using (var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId())))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(() => target.LogEntries.Count == 1, TimeSpan.FromSeconds(30)), Is.True, "delivered while the store is up");

        await postgres.StopAsync();
        Assert.That(await Eventually.TrueAsync(() => !monitor.IsAvailable && !supervisor.IsConsuming("audit"), TimeSpan.FromSeconds(30)), Is.True,
            "the target's queue is no longer consumed");
        var waiting = StripeEvents.NewEventId();
        using (var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, waiting)))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the receiver does not wait for the store");
        }

        Assert.That(await Eventually.TrueAsync(async () => await node.MessageCountAsync(vhost, Topology.TargetQueue("audit")) == 1, TimeSpan.FromSeconds(30)), Is.True,
            "the delivery waits in the target queue");
        using (var ready = await worker.Client.GetAsync("/health/ready"))
        {
            Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.OK), "an instance that receives stays ready");
            using var body = JsonDocument.Parse(await ready.Content.ReadAsStringAsync());
            Assert.That(body.RootElement.GetProperty("checks").GetProperty(StoreRegistration.HealthCheckName).GetProperty("description").GetString(),
                Does.Contain("reported only"));
        }

        Assert.That(target.LogEntries, Has.Count.EqualTo(1), "nothing sent while the store is away");

        await postgres.StartAsync();
        Assert.That(await Eventually.TrueAsync(() => target.LogEntries.Count == 2, TimeSpan.FromSeconds(60)), Is.True, "delivered once the store is back");
        Assert.That(await CountAsync(node, vhost, Topology.TargetErrorQueue("audit")), Is.Zero, "nothing dead-lettered for the outage");
        var row = await worker.Services.GetRequiredService<IDeliveryLedger>().GetAsync($"audit/event/{waiting}", CancellationToken.None);
        Assert.That(row?.State, Is.EqualTo(DeliveryState.Delivered));
    }

    private static async Task<uint> CountAsync(RabbitMqNode node, string vhost, string queue)
    {
        try
        {
            return await node.MessageCountAsync(vhost, queue);
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return 0; // never declared: nothing was dead-lettered
        }
    }
}
