using System.Globalization;
using Microsoft.Extensions.Configuration;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace SyncWorker.Messaging;

/// <summary>The type of every queue SyncWorker declares (<c>RabbitMq:QueueType</c>).</summary>
public enum QueueType
{
    /// <summary>Classic queues (the default): kept on one node; right for a single broker.</summary>
    Classic,

    /// <summary>
    /// Quorum queues: replicated by Raft over the cluster's nodes, so a queue and its confirmed messages survive the loss
    /// of a minority of nodes. Recommended for clusters.
    /// </summary>
    Quorum,
}

/// <summary>One broker node to connect to: <c>host:port</c>.</summary>
public sealed record BrokerNode(string Host, int Port)
{
    /// <inheritdoc />
    public override string ToString() =>
        (Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host) + ":" + Port.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Reads the cluster settings of section <c>RabbitMq</c>: <c>Hosts</c> and <c>QueueType</c>.</summary>
public static class RabbitMqClusterSettings
{
    /// <summary>The key of the additional cluster nodes.</summary>
    public const string HostsKey = "RabbitMq:Hosts";

    /// <summary>The key of the queue type.</summary>
    public const string QueueTypeKey = "RabbitMq:QueueType";

    /// <summary>The key of the number of channels a receiver publishes on.</summary>
    public const string PublisherChannelsKey = "RabbitMq:PublisherChannels";

    /// <summary>The default of <see cref="PublisherChannelsKey"/>: one channel carried the most events per CPU in the load harness.</summary>
    public const int DefaultPublisherChannels = 1;

    /// <summary>The key of the channels a connection may open.</summary>
    public const string ChannelMaxKey = "RabbitMq:ChannelMax";

    /// <summary>The default of <see cref="ChannelMaxKey"/>: RabbitMQ's own default <c>channel_max</c> (and RabbitMQ.Client's).</summary>
    public const int DefaultChannelMax = 2047;

    /// <summary>
    /// Channels of a forwarder's bus connection that are not target endpoints: the intake endpoint, MassTransit's bus
    /// endpoint and send channel (2,000 targets were measured on 2,002 channels), with two to spare.
    /// </summary>
    public const int ReservedChannels = 4;

    /// <summary>
    /// How many target endpoints one forwarder can consume with a connection of <paramref name="channelMax"/> channels:
    /// each endpoint holds a channel of its own (MassTransit), the rest are <see cref="ReservedChannels"/>.
    /// </summary>
    public static int TargetCapacity(int channelMax) => Math.Max(0, channelMax - ReservedChannels);

    /// <summary>
    /// <c>RabbitMq:ChannelMax</c>: the channels SyncWorker asks for on each connection, 64 to 65535 (default 2047, RabbitMQ's
    /// default). The broker grants the lower of this and its own <c>channel_max</c> (rabbitmq.conf). A forwarder consumes
    /// each target on a channel of its own, so this bounds the targets one forwarder serves
    /// (<see cref="TargetCapacity"/>); anything else is a start-up error naming the key.
    /// </summary>
    public static int ReadChannelMax(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var text = configuration[ChannelMaxKey];
        if (string.IsNullOrWhiteSpace(text))
        {
            return DefaultChannelMax;
        }

        return int.TryParse(text.Trim(), System.Globalization.NumberStyles.None, CultureInfo.InvariantCulture, out var channels) && channels is >= 64 and <= 65535
            ? channels
            : throw new MessagingConfigurationException(
                $"{ChannelMaxKey} is '{text}'; use a whole number from 64 to 65535 (default {DefaultChannelMax}): the channels each connection may " +
                "open. A forwarder consumes every target on a channel of its own; raise it together with the broker's channel_max " +
                "(rabbitmq.conf) when one forwarder serves more than " +
                TargetCapacity(DefaultChannelMax).ToString(CultureInfo.InvariantCulture) + " targets (README 'Sizing').");
    }

    /// <summary>
    /// <c>RabbitMq:PublisherChannels</c>: how many confirmed channels a receiver publishes on concurrently, 1 (default) to
    /// 64; anything else is a start-up error naming the key.
    /// </summary>
    public static int ReadPublisherChannels(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var text = configuration[PublisherChannelsKey];
        if (string.IsNullOrWhiteSpace(text))
        {
            return DefaultPublisherChannels;
        }

        return int.TryParse(text.Trim(), System.Globalization.NumberStyles.None, CultureInfo.InvariantCulture, out var channels) && channels is >= 1 and <= 64
            ? channels
            : throw new MessagingConfigurationException(
                $"{PublisherChannelsKey} is '{text}'; use a whole number from 1 to 64 (default {DefaultPublisherChannels}): the confirmed channels " +
                "each receiver publishes on. More receivers, not more channels, is the way to more throughput.");
    }

    /// <summary>
    /// <c>RabbitMq:QueueType</c>: <c>classic</c> (default) or <c>quorum</c>; anything else is a start-up error naming the key.
    /// </summary>
    public static QueueType ReadQueueType(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var text = configuration[QueueTypeKey];
        if (string.IsNullOrWhiteSpace(text))
        {
            return QueueType.Classic;
        }

        return text.Trim().ToUpperInvariant() switch
        {
            "CLASSIC" => QueueType.Classic,
            "QUORUM" => QueueType.Quorum,
            _ => throw new MessagingConfigurationException(
                $"{QueueTypeKey} is '{text}'; use classic (one broker) or quorum (a cluster: queues replicated over its nodes)."),
        };
    }

    /// <summary>
    /// The nodes to connect to, in order: the host of <c>RabbitMq:Uri</c> first, then every <c>RabbitMq:Hosts</c> entry
    /// (an array, <c>RabbitMq:Hosts:0</c>, <c>RabbitMq:Hosts:1</c>..., or one comma-separated value), duplicates removed.
    /// An entry is <c>host</c> or <c>host:port</c> (the Uri's port when omitted; IPv6 in brackets). User, password, virtual
    /// host and TLS come from the Uri; each node's certificate is checked against that node's own name.
    /// </summary>
    public static IReadOnlyList<BrokerNode> ReadNodes(IConfiguration configuration, RabbitMqEndpoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(endpoint);
        var nodes = new List<BrokerNode> { new(endpoint.Host, endpoint.Port) };
        var section = configuration.GetSection("RabbitMq").GetSection("Hosts");
        var entries = new List<string>();
        if (!string.IsNullOrWhiteSpace(section.Value))
        {
            entries.AddRange(section.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }

        entries.AddRange(section.GetChildren()
            .Select(child => child.Value)
            .OfType<string>()
            .SelectMany(value => value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)));

        foreach (var entry in entries)
        {
            var node = ParseNode(entry, endpoint.Port);
            if (!nodes.Contains(node))
            {
                nodes.Add(node);
            }
        }

        return nodes;
    }

    /// <summary>Parses <c>host</c> or <c>host:port</c>; throws with a message naming <see cref="HostsKey"/>.</summary>
    public static BrokerNode ParseNode(string entry, int defaultPort)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (entry.Contains("://", StringComparison.Ordinal)
            || !Uri.TryCreate("amqp://" + entry, UriKind.Absolute, out var uri)
            || string.IsNullOrEmpty(uri.Host)
            || uri.AbsolutePath is not ("/" or "")
            || uri.UserInfo.Length > 0)
        {
            throw new MessagingConfigurationException(
                $"{HostsKey} has the entry '{entry}'; write host or host:port (for example rabbit-2:5672), one per entry or " +
                "comma-separated. User, password and virtual host come from RabbitMq:Uri.");
        }

        var host = uri.Host.Trim('[', ']');
        return new BrokerNode(host, uri.IsDefaultPort || uri.Port <= 0 ? defaultPort : uri.Port);
    }
}

/// <summary>
/// The channels a connection may open: <c>RabbitMq:ChannelMax</c> as requested and, when the broker could be asked, what it
/// granted (the lower of that and its <c>channel_max</c>). A forwarder consumes each target on a channel of its bus
/// connection, so this bounds its targets (<see cref="Capacity"/>). Shared by the endpoint supervisor and the admin API.
/// </summary>
/// <param name="Requested"><c>RabbitMq:ChannelMax</c>.</param>
/// <param name="Granted">What the broker granted; null when it could not be asked.</param>
public sealed record ChannelLimit(int Requested, int? Granted)
{
    /// <summary>The channels there are: the granted ones, never more than requested.</summary>
    public int Channels => Math.Min(Granted ?? Requested, Requested);

    /// <summary>How many target endpoints fit (<see cref="RabbitMqClusterSettings.TargetCapacity"/>).</summary>
    public int Capacity => RabbitMqClusterSettings.TargetCapacity(Channels);

    /// <summary>True when the broker's <c>channel_max</c>, not the setting, is the limit.</summary>
    public bool BrokerLimits => Granted is { } granted && granted < Requested;

    /// <summary>Who sets the limit, for messages.</summary>
    public string Limit => BrokerLimits
        ? $"the broker grants {Granted} channels per connection (its channel_max, below {RabbitMqClusterSettings.ChannelMaxKey} {Requested})"
        : $"{RabbitMqClusterSettings.ChannelMaxKey} is {Requested}";

    /// <summary>What to change so that <paramref name="targets"/> targets fit.</summary>
    public string Fix(int targets) => BrokerLimits
        ? $"Raise channel_max in rabbitmq.conf to at least {targets + RabbitMqClusterSettings.ReservedChannels}"
        : $"Raise {RabbitMqClusterSettings.ChannelMaxKey} and the broker's channel_max (rabbitmq.conf) to at least {targets + RabbitMqClusterSettings.ReservedChannels}";
}

/// <summary>The arguments SyncWorker gives every queue it declares, so all declarers (worker, operations verbs) agree.</summary>
public static class QueueArguments
{
    /// <summary>The RabbitMQ argument naming the queue type.</summary>
    public const string QueueTypeArgument = "x-queue-type";

    /// <summary>
    /// Arguments for a queue of <paramref name="type"/> plus <paramref name="extra"/>. A classic queue gets no
    /// <c>x-queue-type</c> argument at all, so queues made before the setting existed stay equivalent.
    /// </summary>
    public static Dictionary<string, object?> For(QueueType type, IEnumerable<KeyValuePair<string, object?>>? extra = null)
    {
        var arguments = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (type == QueueType.Quorum)
        {
            arguments[QueueTypeArgument] = "quorum";
        }

        foreach (var (key, value) in extra ?? [])
        {
            arguments[key] = value;
        }

        return arguments;
    }

    /// <summary>
    /// Arguments of a shared delay queue (<c>Topology.DelayQueue</c>): every message expires <paramref name="wait"/> (whole
    /// milliseconds, <c>x-message-ttl</c>) after it entered the queue and is then dead-lettered through the default exchange
    /// with its own routing key (there is no <c>x-dead-letter-routing-key</c>), that is to the target queue it was published
    /// for. On quorum queues dead-lettering is made at-least-once (it needs <c>x-overflow</c> reject-publish), so a message
    /// is never dropped between the delay queue and its target queue.
    /// </summary>
    public static Dictionary<string, object?> DelayQueue(QueueType type, TimeSpan wait)
    {
        var extra = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["x-dead-letter-exchange"] = "",
            ["x-message-ttl"] = Math.Max(1L, (long)wait.TotalMilliseconds),
        };
        AtLeastOnce(type, extra);
        return For(type, extra);
    }

    /// <summary>
    /// Arguments of a queue whose expired messages are dead-lettered to <paramref name="returnQueue"/> through the default
    /// exchange: the per-target delay queues of earlier versions (<c>Topology.TargetDelayQueue</c>,
    /// <c>Topology.LegacyDelayQueue</c>), which SyncWorker no longer declares; kept for the tests that recreate them. On quorum queues dead-lettering is made at-least-once (it needs
    /// <c>x-overflow</c> reject-publish), so a message is never dropped between the delay queue and its target queue.
    /// With <paramref name="messageTtl"/>, every message expires that long (whole milliseconds, <c>x-message-ttl</c>) after
    /// it entered the queue.
    /// </summary>
    public static Dictionary<string, object?> DeadLetteringTo(QueueType type, string returnQueue, TimeSpan? messageTtl = null)
    {
        var extra = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["x-dead-letter-exchange"] = "",
            ["x-dead-letter-routing-key"] = returnQueue,
        };
        if (messageTtl is { } ttl)
        {
            extra["x-message-ttl"] = Math.Max(1L, (long)ttl.TotalMilliseconds);
        }

        AtLeastOnce(type, extra);
        return For(type, extra);
    }

    private static void AtLeastOnce(QueueType type, Dictionary<string, object?> extra)
    {
        if (type == QueueType.Quorum)
        {
            extra["x-dead-letter-strategy"] = "at-least-once";
            extra["x-overflow"] = "reject-publish";
        }
    }
}

/// <summary>Opens RabbitMQ.Client connections to the configured node list, trying each node in order.</summary>
public static class RabbitMqConnections
{
    /// <summary>
    /// Connects to the first reachable node of <paramref name="nodes"/>, starting with the node at index
    /// <paramref name="firstNode"/> and going round the list, with the credentials, virtual host and TLS of
    /// <paramref name="endpoint"/>. With <paramref name="recover"/>, a lost connection is recovered automatically, again
    /// trying the nodes in that order. (RabbitMQ.Client's own list resolver shuffles; this one does not, so node 1 is the
    /// preferred node and the order of <c>RabbitMq:Hosts</c> means what it says.)
    /// </summary>
    public static Task<IConnection> OpenAsync(
        RabbitMqEndpoint endpoint,
        IReadOnlyList<BrokerNode> nodes,
        string clientName,
        bool recover,
        TimeSpan connectTimeout,
        CancellationToken cancellationToken,
        int firstNode = 0,
        int channelMax = 0)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(nodes);
        var factory = new ConnectionFactory
        {
            VirtualHost = endpoint.VirtualHost,
            UserName = endpoint.UserName,
            Password = endpoint.Password,
            ClientProvidedName = clientName,
            AutomaticRecoveryEnabled = recover,
            TopologyRecoveryEnabled = recover,
            RequestedConnectionTimeout = connectTimeout,
        };
        if (channelMax > 0)
        {
            factory.RequestedChannelMax = (ushort)Math.Min(channelMax, ushort.MaxValue);
        }

        var list = nodes.Count == 0 ? [new BrokerNode(endpoint.Host, endpoint.Port)] : nodes;
        var start = ((firstNode % list.Count) + list.Count) % list.Count;
        var endpoints = list.Skip(start).Concat(list.Take(start))
            .Select(node => EndpointFor(endpoint, node))
            .ToList();
        return ConnectAsync(factory, endpoints, clientName, cancellationToken);
    }

    /// <summary>
    /// Connects; when no node accepts, the <see cref="BrokerUnreachableException"/> ends in one message that says why each
    /// node refused (RabbitMQ.Client's own keeps one exception per node, and "the innermost" would name only the first, often
    /// a node that is simply down, and hide, say, the next node's certificate problem).
    /// </summary>
    private static async Task<IConnection> ConnectAsync(
        ConnectionFactory factory, List<AmqpTcpEndpoint> endpoints, string clientName, CancellationToken cancellationToken)
    {
        try
        {
            return await factory.CreateConnectionAsync(new OrderedEndpoints(endpoints), clientName, cancellationToken).ConfigureAwait(false);
        }
        catch (BrokerUnreachableException unreachable) when (unreachable.InnerException is AggregateException { InnerExceptions.Count: > 0 } attempts)
        {
            var reasons = attempts.InnerExceptions.Select((failure, i) =>
            {
                var reason = Innermost(failure);
                var node = attempts.InnerExceptions.Count == endpoints.Count
                    ? new BrokerNode(endpoints[i].HostName, endpoints[i].Port).ToString()
                    : null;
                return node is null || reason.Contains(node, StringComparison.Ordinal) ? reason : $"{node}: {reason}";
            });
            throw new BrokerUnreachableException(new IOException(string.Join("; ", reasons)));
        }
    }

    private static string Innermost(Exception exception)
    {
        while (exception.InnerException is not null)
        {
            exception = exception.InnerException;
        }

        return exception.Message;
    }

    /// <summary>
    /// The AMQP endpoint of one node: with <c>amqps://</c>, TLS whose certificate check uses that node's own name
    /// (<paramref name="node"/>'s host, not the Uri's) and the trust of <see cref="RabbitMqEndpoint.Tls"/>.
    /// </summary>
    public static AmqpTcpEndpoint EndpointFor(RabbitMqEndpoint endpoint, BrokerNode node)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(node);
        return new AmqpTcpEndpoint(node.Host, node.Port, endpoint.UseTls ? endpoint.Tls.OptionFor(node) : new SslOption());
    }

    /// <summary>The endpoints in the given order, every time.</summary>
    private sealed class OrderedEndpoints(IReadOnlyList<AmqpTcpEndpoint> endpoints) : IEndpointResolver
    {
        public IEnumerable<AmqpTcpEndpoint> All() => endpoints;
    }
}
