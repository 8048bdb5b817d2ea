using System.Net;
using SyncWorker.Testing;
using SyncWorker.Tests.Logging;

namespace SyncWorker.Tests.EndToEnd;

/// <summary>
/// A queue's type cannot change once it exists. A worker started with <c>RabbitMq:QueueType=quorum</c> on queues a classic
/// worker made must not answer 200 for events it cannot queue, must not report ready, and must say why.
/// </summary>
[NonParallelizable]
public sealed class QueueTypeChangeTests
{
    private const string Completed = "checkout.session.completed.json";
    private RabbitMqNode _node = null!;

    [OneTimeSetUp]
    public async Task StartBrokerAsync() => _node = await RabbitMqNode.LaunchAsync();

    [OneTimeTearDown]
    public async Task StopBrokerAsync() => await _node.DisposeAsync();

    [Test]
    public async Task Switching_existing_classic_queues_to_quorum_answers_503_is_not_ready_and_logs_the_broker_refusal()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        var settings = new Dictionary<string, string?>
        {
            ["RabbitMq:Uri"] = _node.AmqpUri(vhost).ToString(),
            ["Worker:Role"] = "Receiver",
            ["Webhooks:PublishTimeoutSeconds"] = "3",
        };
        await using (var classic = await WorkerHost.StartAsync(settings))
        {
            using var accepted = await classic.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId()));
            Assert.That(accepted.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the classic worker declared the intake queue");
        }

        settings["RabbitMq:QueueType"] = "quorum";
        foreach (var (key, value) in CapturedLogs.EverythingAtTrace)
        {
            settings[key] = value;
        }

        var logs = new CapturedLogs();
        await using var quorum = await WorkerHost.StartAsync(settings, logs.AddTo);
        using (var refused = await quorum.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId())))
        {
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), "an event that cannot be queued is not acknowledged");
        }

        using (var ready = await quorum.Client.GetAsync(new Uri("/health/ready", UriKind.Relative)))
        {
            Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), await ready.Content.ReadAsStringAsync());
        }

        Assert.That(logs.Entries.Any(e => (e.Message + e.Exception).Contains("inequivalent arg 'x-queue-type'", StringComparison.Ordinal)), Is.True,
            "the broker's refusal, naming x-queue-type, is in the log");
        Assert.That(await _node.MessageCountAsync(vhost, SyncWorker.Contracts.Topology.IntakeQueue), Is.EqualTo(1), "only the acknowledged event is queued");
    }
}
