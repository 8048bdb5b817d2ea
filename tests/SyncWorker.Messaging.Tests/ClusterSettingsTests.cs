using Microsoft.Extensions.Configuration;

namespace SyncWorker.Messaging.Tests;

/// <summary><c>RabbitMq:Hosts</c> and <c>RabbitMq:QueueType</c>: parsing and the errors a user can act on.</summary>
public sealed class ClusterSettingsTests
{
    private static readonly RabbitMqEndpoint Endpoint = new("rabbit-1", 5672, "syncworker", "sw", "pw", UseTls: false);

    [Test]
    public void Without_hosts_the_uri_host_is_the_only_node()
    {
        Assert.That(Nodes([]), Is.EqualTo(new[] { new BrokerNode("rabbit-1", 5672) }));
    }

    [Test]
    public void Hosts_as_an_array_follow_the_uri_host_in_order()
    {
        var nodes = Nodes(new() { ["RabbitMq:Hosts:0"] = "rabbit-2:5673", ["RabbitMq:Hosts:1"] = "rabbit-3" });

        Assert.That(nodes, Is.EqualTo(new[] { new BrokerNode("rabbit-1", 5672), new BrokerNode("rabbit-2", 5673), new BrokerNode("rabbit-3", 5672) }));
    }

    [Test]
    public void Hosts_as_one_comma_separated_value_and_duplicates_of_the_uri_host_are_dropped()
    {
        var nodes = Nodes(new() { ["RabbitMq:Hosts"] = " rabbit-1:5672, rabbit-2:5672 ,,[::1]:5674" });

        Assert.That(nodes, Is.EqualTo(new[] { new BrokerNode("rabbit-1", 5672), new BrokerNode("rabbit-2", 5672), new BrokerNode("::1", 5674) }));
        Assert.That(nodes[2].ToString(), Is.EqualTo("[::1]:5674"));
    }

    [TestCase("amqp://rabbit-2:5672")]
    [TestCase("user:pw@rabbit-2")]
    [TestCase("rabbit-2:5672/vhost")]
    [TestCase("rabbit-2:notaport")]
    public void A_bad_host_entry_names_the_key_and_the_form_without_echoing_more(string entry)
    {
        var failure = Assert.Throws<MessagingConfigurationException>(() => Nodes(new() { ["RabbitMq:Hosts:0"] = entry }));

        Assert.That(failure!.Message, Does.Contain("RabbitMq:Hosts").And.Contain("host:port"));
    }

    [TestCase(null, QueueType.Classic)]
    [TestCase("", QueueType.Classic)]
    [TestCase("classic", QueueType.Classic)]
    [TestCase("Quorum", QueueType.Quorum)]
    [TestCase(" quorum ", QueueType.Quorum)]
    public void Queue_type_defaults_to_classic(string? value, QueueType expected)
    {
        Assert.That(RabbitMqClusterSettings.ReadQueueType(Config(new() { ["RabbitMq:QueueType"] = value })), Is.EqualTo(expected));
    }

    [TestCase(null, 1)]
    [TestCase("", 1)]
    [TestCase("1", 1)]
    [TestCase(" 4 ", 4)]
    [TestCase("64", 64)]
    public void Publisher_channels_default_to_one(string? value, int expected)
    {
        Assert.That(RabbitMqClusterSettings.ReadPublisherChannels(Config(new() { ["RabbitMq:PublisherChannels"] = value })), Is.EqualTo(expected));
    }

    [TestCase("0")]
    [TestCase("65")]
    [TestCase("-1")]
    [TestCase("two")]
    [TestCase("1.5")]
    public void Bad_publisher_channels_name_the_key_and_the_range(string value)
    {
        var failure = Assert.Throws<MessagingConfigurationException>(() =>
            RabbitMqClusterSettings.ReadPublisherChannels(Config(new() { ["RabbitMq:PublisherChannels"] = value })));

        Assert.That(failure!.Message, Does.Contain($"RabbitMq:PublisherChannels is '{value}'").And.Contain("1 to 64"));
    }

    [TestCase(null, 2047)]
    [TestCase("", 2047)]
    [TestCase("64", 64)]
    [TestCase("4095", 4095)]
    [TestCase("65535", 65535)]
    public void Channel_max_defaults_to_rabbitmqs_own(string? value, int expected)
    {
        Assert.That(RabbitMqClusterSettings.ReadChannelMax(Config(new() { ["RabbitMq:ChannelMax"] = value })), Is.EqualTo(expected));
    }

    [TestCase("63")]
    [TestCase("65536")]
    [TestCase("-1")]
    [TestCase("many")]
    public void Bad_channel_max_names_the_key_the_range_and_the_brokers_setting(string value)
    {
        var failure = Assert.Throws<MessagingConfigurationException>(() =>
            RabbitMqClusterSettings.ReadChannelMax(Config(new() { ["RabbitMq:ChannelMax"] = value })));

        Assert.That(failure!.Message, Does.Contain($"RabbitMq:ChannelMax is '{value}'").And.Contain("64 to 65535").And.Contain("channel_max"));
    }

    [Test]
    public void A_forwarder_has_room_for_the_channels_less_those_it_needs_besides_targets()
    {
        // 2,000 targets were measured on 2,002 channels and 2,045 as the most that consume with 2,047: four kept back.
        Assert.Multiple(() =>
        {
            Assert.That(RabbitMqClusterSettings.TargetCapacity(2047), Is.EqualTo(2043));
            Assert.That(RabbitMqClusterSettings.TargetCapacity(4095), Is.EqualTo(4091));
        });
    }

    [Test]
    public void An_unknown_queue_type_names_the_key_and_the_choices()
    {
        var failure = Assert.Throws<MessagingConfigurationException>(() =>
            RabbitMqClusterSettings.ReadQueueType(Config(new() { ["RabbitMq:QueueType"] = "stream" })));

        Assert.That(failure!.Message, Does.Contain("RabbitMq:QueueType is 'stream'").And.Contain("classic").And.Contain("quorum"));
    }

    [Test]
    public void Quorum_arguments_name_the_type_and_classic_ones_name_nothing()
    {
        Assert.That(QueueArguments.For(QueueType.Quorum), Is.EquivalentTo(new Dictionary<string, object?> { ["x-queue-type"] = "quorum" }));
        Assert.That(QueueArguments.For(QueueType.Classic), Is.Empty, "queues made before the setting existed stay equivalent");
    }

    [Test]
    public void Shared_delay_queues_dead_letter_by_the_message_s_own_routing_key_after_their_fixed_wait()
    {
        foreach (var type in new[] { QueueType.Classic, QueueType.Quorum })
        {
            var arguments = QueueArguments.DelayQueue(type, TimeSpan.FromSeconds(5));

            Assert.That(arguments["x-dead-letter-exchange"], Is.EqualTo(""), $"{type}: the default exchange");
            Assert.That(arguments.ContainsKey("x-dead-letter-routing-key"), Is.False, $"{type}: each message goes back by its own routing key");
            Assert.That(arguments["x-message-ttl"], Is.EqualTo(5000L), $"{type}");
        }

        var quorum = QueueArguments.DelayQueue(QueueType.Quorum, TimeSpan.FromSeconds(5));
        Assert.That(quorum["x-queue-type"], Is.EqualTo("quorum"));
        Assert.That(quorum["x-dead-letter-strategy"], Is.EqualTo("at-least-once"));
        Assert.That(quorum["x-overflow"], Is.EqualTo("reject-publish"), "at-least-once dead-lettering requires reject-publish");
        Assert.That(QueueArguments.DelayQueue(QueueType.Classic, TimeSpan.FromSeconds(5)).ContainsKey("x-dead-letter-strategy"), Is.False);
    }

    [Test]
    public void Quorum_delay_queues_of_earlier_versions_dead_letter_at_least_once()
    {
        var arguments = QueueArguments.DeadLetteringTo(QueueType.Quorum, "syncworker.target.wms");

        Assert.That(arguments["x-dead-letter-routing-key"], Is.EqualTo("syncworker.target.wms"));
        Assert.That(arguments["x-dead-letter-strategy"], Is.EqualTo("at-least-once"));
        Assert.That(arguments["x-overflow"], Is.EqualTo("reject-publish"), "at-least-once dead-lettering requires reject-publish");
        Assert.That(QueueArguments.DeadLetteringTo(QueueType.Classic, "q").ContainsKey("x-dead-letter-strategy"), Is.False);
    }

    [Test]
    public void The_transport_describes_nodes_and_queue_type_without_the_password()
    {
        var transport = MessagingTransport.Resolve(
            Config(new()
            {
                ["RabbitMq:Uri"] = "amqp://sw:TopSecret42@rabbit-1:5672/syncworker",
                ["RabbitMq:Hosts"] = "rabbit-2:5672,rabbit-3:5672",
                ["RabbitMq:QueueType"] = "quorum",
            }),
            new Microsoft.Extensions.Hosting.Internal.HostingEnvironment { EnvironmentName = "Production" });

        Assert.That(transport.Nodes, Has.Count.EqualTo(3));
        Assert.That(transport.QueueType, Is.EqualTo(QueueType.Quorum));
        Assert.That(transport.ToString(), Does.Contain("rabbit-3:5672").And.Contain("quorum queues").And.Not.Contain("TopSecret42"));
    }

    private static IReadOnlyList<BrokerNode> Nodes(Dictionary<string, string?> settings) =>
        RabbitMqClusterSettings.ReadNodes(Config(settings), Endpoint);

    private static IConfiguration Config(Dictionary<string, string?> settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
}
