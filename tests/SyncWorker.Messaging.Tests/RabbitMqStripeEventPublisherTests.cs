using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using SyncWorker.Contracts;
using SyncWorker.Testing;

namespace SyncWorker.Messaging.Tests;

/// <summary>
/// The receiver's RabbitMQ.Client publisher against a private node: what it puts on the queue, and what it does when the
/// broker refuses (nack), returns (no queue) or cannot be reached. Each test uses its own virtual host.
/// </summary>
[NonParallelizable]
public sealed class RabbitMqStripeEventPublisherTests
{
    private RabbitMqNode _node = null!;

    [OneTimeSetUp]
    public async Task StartBroker() => _node = await RabbitMqNode.LaunchAsync();

    [OneTimeTearDown]
    public async Task StopBroker() => await _node.DisposeAsync();

    [Test]
    public async Task A_published_event_is_a_persistent_raw_json_message_with_the_event_id_as_message_id()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var publisher = Publisher(vhost);
        var message = Event("evt_publisher_1");

        await publisher.PublishAsync(message, CancellationToken.None);

        var queued = await _node.DrainAsync(vhost, Topology.IntakeQueue);
        Assert.That(queued, Has.Count.EqualTo(1));
        var properties = queued[0].BasicProperties;
        using var body = JsonDocument.Parse(queued[0].Body);
        Assert.Multiple(() =>
        {
            Assert.That(properties.Persistent, Is.True);
            Assert.That(properties.ContentType, Is.EqualTo("application/json"));
            Assert.That(properties.MessageId, Is.EqualTo(MessageIds.ForStripeEvent("evt_publisher_1").ToString()));
            Assert.That(Header(properties.Headers, "MT-MessageType"), Is.EqualTo("urn:message:SyncWorker.Contracts:StripeEventReceived"));
            Assert.That(Header(properties.Headers, "Stripe-Event-Id"), Is.EqualTo("evt_publisher_1"));
            Assert.That(body.RootElement.GetProperty("eventId").GetString(), Is.EqualTo("evt_publisher_1"));
            Assert.That(body.RootElement.GetProperty("payload").GetString(), Is.EqualTo(message.Payload.ToString()), "the raw event, exactly");
            Assert.That(body.RootElement.TryGetProperty("sandbox", out _), Is.False, "written only for a sandbox event: the message earlier versions wrote and read");
            Assert.That(publisher.ConnectedNode, Is.EqualTo($"127.0.0.1:{_node.AmqpPort}"));
        });
    }

    [Test]
    public async Task A_sandbox_event_is_published_saying_so()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var publisher = Publisher(vhost);

        await publisher.PublishAsync(Event("evt_publisher_sandbox_1") with { Livemode = false, Sandbox = true }, CancellationToken.None);

        var queued = (await _node.DrainAsync(vhost, Topology.IntakeQueue)).Single();
        using var body = JsonDocument.Parse(queued.Body);
        Assert.That(body.RootElement.GetProperty("sandbox").GetBoolean(), Is.True);
        Assert.That(body.RootElement.GetProperty("livemode").GetBoolean(), Is.False);
    }

    [TestCase(1)]
    [TestCase(3)]
    public async Task Concurrent_publishes_share_the_channels_and_each_is_confirmed_once(int channels)
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var publisher = new RabbitMqStripeEventPublisher(
            Transport(vhost) with { PublisherChannels = channels }, NullLogger<RabbitMqStripeEventPublisher>.Instance);
        var ids = Enumerable.Range(0, 300).Select(i => $"evt_concurrent_{channels}_{i:D3}").ToList();

        await Task.WhenAll(ids.Select(id => Task.Run(() => publisher.PublishAsync(Event(id), CancellationToken.None))));

        var queued = await _node.DrainAsync(vhost, Topology.IntakeQueue);
        Assert.That(queued.Select(m => Header(m.BasicProperties.Headers, "Stripe-Event-Id")), Is.EquivalentTo(ids));
        Assert.That(publisher.ChannelsReplaced, Is.Zero);
    }

    [Test]
    public async Task A_nacked_publish_fails_says_so_and_its_channel_is_replaced_so_the_next_publish_is_accepted()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var publisher = Publisher(vhost);
        await publisher.PublishAsync(Event("evt_nack_1"), CancellationToken.None);
        // A full intake queue that rejects publishes: the broker nacks the next one.
        await _node.CtlAsync(["set_policy", "-p", vhost, "--apply-to", "queues", "full", "^syncworker\\.intake$", "{\"max-length\":1,\"overflow\":\"reject-publish\"}"]);
        var policyApplied = await Eventually.TrueAsync(async () => !await AcceptedAsync(publisher, "evt_nack_probe"), TimeSpan.FromSeconds(10));
        Assert.That(policyApplied, Is.True, "the broker applies the max-length policy and nacks");

        var refused = Assert.ThrowsAsync<EventNotQueuedException>(() => publisher.PublishAsync(Event("evt_nack_2"), CancellationToken.None));

        Assert.That(refused!.Message, Does.Contain("refused (nacked) event evt_nack_2").And.Contain("channel was replaced"));
        var replaced = publisher.ChannelsReplaced;
        Assert.That(replaced, Is.GreaterThanOrEqualTo(2), "the probe's and this publish's channels");
        await _node.CtlAsync(["clear_policy", "-p", vhost, "full"]);
        await _node.CtlAsync(["purge_queue", "-p", vhost, Topology.IntakeQueue]);
        var acceptedAgain = await Eventually.TrueAsync(() => AcceptedAsync(publisher, "evt_nack_3"), TimeSpan.FromSeconds(10));
        Assert.That(acceptedAgain, Is.True, "once the queue has room, a publish on a fresh channel is accepted");
        var queued = await _node.DrainAsync(vhost, Topology.IntakeQueue);
        Assert.That(queued.Select(m => Header(m.BasicProperties.Headers, "Stripe-Event-Id")), Does.Contain("evt_nack_3"));
    }

    [Test]
    public async Task When_the_intake_queue_is_deleted_a_publish_is_returned_as_an_error_and_the_next_one_declares_it_again()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var publisher = Publisher(vhost);
        await publisher.PublishAsync(Event("evt_return_1"), CancellationToken.None);
        await _node.CtlAsync(["delete_queue", "-p", vhost, Topology.IntakeQueue]);

        var returned = Assert.ThrowsAsync<EventNotQueuedException>(() => publisher.PublishAsync(Event("evt_return_2"), CancellationToken.None));
        await publisher.PublishAsync(Event("evt_return_3"), CancellationToken.None);

        Assert.That(returned!.Message, Does.Contain("returned event evt_return_2").And.Contain("no queue is bound"));
        var queued = await _node.DrainAsync(vhost, Topology.IntakeQueue);
        Assert.That(queued.Select(m => Header(m.BasicProperties.Headers, "Stripe-Event-Id")), Is.EqualTo(new[] { "evt_return_3" }));
    }

    [Test]
    public async Task Nodes_are_tried_in_order_so_an_unreachable_first_node_falls_over_to_the_next()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        var deadPort = ClosedPort();
        var transport = Transport(vhost) with
        {
            Nodes = [new BrokerNode("127.0.0.1", deadPort), new BrokerNode("127.0.0.1", _node.AmqpPort)],
        };
        await using var publisher = new RabbitMqStripeEventPublisher(transport, NullLogger<RabbitMqStripeEventPublisher>.Instance, TimeSpan.FromSeconds(2));

        await publisher.PublishAsync(Event("evt_failover_1"), CancellationToken.None);

        Assert.That(publisher.ConnectedNode, Is.EqualTo($"127.0.0.1:{_node.AmqpPort}"));
        Assert.That(await _node.MessageCountAsync(vhost, Topology.IntakeQueue), Is.EqualTo(1u));
    }

    [Test]
    public async Task With_no_reachable_node_a_publish_fails_with_the_nodes_named_and_no_password()
    {
        var transport = Transport("/") with { Nodes = [new BrokerNode("127.0.0.1", ClosedPort())] };
        await using var publisher = new RabbitMqStripeEventPublisher(transport, NullLogger<RabbitMqStripeEventPublisher>.Instance, TimeSpan.FromSeconds(2));

        var failure = Assert.ThrowsAsync<EventNotQueuedException>(() => publisher.PublishAsync(Event("evt_down_1"), CancellationToken.None));

        Assert.That(failure!.Message, Does.Contain("RabbitMQ is unreachable").And.Contain("127.0.0.1:").And.Not.Contain("guest:guest"));
        Assert.That(publisher.LastFailure, Does.Contain("no node of"));
    }

    [Test]
    public async Task An_intake_queue_of_the_other_type_is_refused_with_the_key_to_change()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using (var classic = Publisher(vhost))
        {
            await classic.PublishAsync(Event("evt_type_1"), CancellationToken.None);
        }

        await using var quorum = new RabbitMqStripeEventPublisher(Transport(vhost) with { QueueType = QueueType.Quorum }, NullLogger<RabbitMqStripeEventPublisher>.Instance);

        var failure = Assert.ThrowsAsync<EventNotQueuedException>(() => quorum.PublishAsync(Event("evt_type_2"), CancellationToken.None));

        Assert.That(failure!.Message, Does.Contain("inequivalent arg 'x-queue-type'").And.Contain("RabbitMq:QueueType"));
        Assert.That(await _node.MessageCountAsync(vhost, Topology.IntakeQueue), Is.EqualTo(1u), "only the first event is queued");
    }

    /// <summary>Publishes one event; false when the publisher refused it.</summary>
    private static async Task<bool> AcceptedAsync(RabbitMqStripeEventPublisher publisher, string eventId)
    {
        try
        {
            await publisher.PublishAsync(Event(eventId), CancellationToken.None);
            return true;
        }
        catch (EventNotQueuedException)
        {
            return false;
        }
    }

    private RabbitMqStripeEventPublisher Publisher(string vhost) =>
        new(Transport(vhost), NullLogger<RabbitMqStripeEventPublisher>.Instance);

    private MessagingTransport Transport(string vhost)
    {
        Assert.That(RabbitMqEndpoint.TryParse(_node.AmqpUri(vhost).ToString(), out var endpoint, out var error), Is.True, error);
        return new MessagingTransport(endpoint!, "publisher-tests") { Nodes = [new BrokerNode("127.0.0.1", _node.AmqpPort)] };
    }

    private static StripeEventReceived Event(string id) => new(
        id,
        "checkout.session.completed",
        "acct_1PublisherTests",
        Livemode: true,
        "2025-03-31.basil",
        DateTimeOffset.FromUnixTimeSeconds(1_764_000_000),
        "checkout.session",
        "cs_test_1",
        DateTimeOffset.UtcNow,
        "{\"id\":\"" + id + "\",\"object\":\"event\",\"type\":\"checkout.session.completed\",\"data\":{\"object\":{\"object\":\"checkout.session\",\"note\":\"quotes \\\" and \\\\ and \u00e9\"}}}");

    private static string? Header(IDictionary<string, object?>? headers, string key) =>
        headers is not null && headers.TryGetValue(key, out var value) && value is byte[] bytes ? Encoding.UTF8.GetString(bytes) : null;

    /// <summary>A loopback port nothing listens on (bound, then released).</summary>
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
