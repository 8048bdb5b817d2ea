using System.Net;
using SyncWorker.Contracts;
using SyncWorker.Messaging;
using SyncWorker.Testing;

namespace SyncWorker.Tests.EndToEnd;

/// <summary>The broker goes away and comes back; this fixture owns its node because it stops it.</summary>
[NonParallelizable]
public sealed class BrokerOutageTests
{
    private const string Completed = "checkout.session.completed.json";
    private RabbitMqNode _node = null!;

    [OneTimeSetUp]
    public async Task StartBrokerAsync() => _node = await RabbitMqNode.LaunchAsync();

    [OneTimeTearDown]
    public async Task StopBrokerAsync() => await _node.DisposeAsync();

    [Test]
    public async Task Broker_stopped_gives_503_with_retry_after_and_accepted_events_survive_the_restart()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await WorkerHost.StartAsync(new()
        {
            ["RabbitMq:Uri"] = _node.AmqpUri(vhost).ToString(),
            ["Worker:Role"] = "Receiver",
            ["Webhooks:PublishTimeoutSeconds"] = "3",
            ["Webhooks:RetryAfterSeconds"] = "17",
        });
        var acknowledged = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            var id = StripeEvents.NewEventId();
            using var accepted = await worker.PostSignedAsync(StripeEvents.WithId(Completed, id));
            Assert.That(accepted.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            acknowledged.Add(id);
        }

        await _node.StopAsync();
        using (var down = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId())))
        {
            Assert.That(down.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), await down.Content.ReadAsStringAsync());
            Assert.That(down.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(17)));
        }

        await _node.StartAsync();
        var recovered = await ReceiverOverRabbitMqTests.PostUntilOkAsync(worker, TimeSpan.FromSeconds(90));

        Assert.That(recovered, Is.Not.Null, "the worker reconnects and accepts events again");
        acknowledged.Add(recovered!);

        // Every event answered 200, before and after the outage, is in the queue (durable queue, persistent messages).
        var queued = (await _node.DrainAsync(vhost, Topology.IntakeQueue))
            .Select(message => System.Text.Json.JsonDocument.Parse(message.Body).RootElement.GetProperty("eventId").GetString())
            .ToHashSet();
        Assert.That(acknowledged, Is.SubsetOf(queued));
    }
}
