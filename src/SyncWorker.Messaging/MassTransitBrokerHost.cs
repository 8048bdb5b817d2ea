using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using MassTransit;
using MassTransit.RabbitMqTransport;
using MassTransit.RabbitMqTransport.Configuration;
using RabbitMQ.Client;

namespace SyncWorker.Messaging;

/// <summary>
/// The MassTransit host settings of the configured nodes. MassTransit 8.5's own cluster support
/// (<c>UseCluster</c> with <c>UseSsl</c>) gives every node the same TLS settings: the certificate of each node is checked
/// against the Uri's host name, and its default accepts certificates whose chain does not verify. Here each node gets the
/// <see cref="SslOption"/> the RabbitMQ.Client connections use (<see cref="RabbitMqConnections.EndpointFor"/>): checked
/// against that node's own name and the trust of <c>RabbitMq:CaCertificatePath</c>. Nodes are still tried one per
/// connection attempt, in order, as MassTransit's sequential resolver does.
/// </summary>
internal static class MassTransitBrokerHost
{
    /// <summary>The settings to pass to <c>IRabbitMqBusFactoryConfigurator.Host</c>.</summary>
    public static RabbitMqHostSettings Settings(MessagingTransport transport)
    {
        ArgumentNullException.ThrowIfNull(transport);
        var rabbit = transport.RabbitMq ?? throw new InvalidOperationException("MassTransit's RabbitMQ host needs RabbitMq:Uri.");
        var nodes = transport.Nodes.Count > 0 ? transport.Nodes : [new BrokerNode(rabbit.Host, rabbit.Port)];
        var host = new RabbitMqHostConfigurator(rabbit.Host, rabbit.VirtualHost, (ushort)rabbit.Port, transport.ConnectionName);
        host.Username(rabbit.UserName);
        host.Password(rabbit.Password);
        host.PublisherConfirmation = true;
        host.RequestedConnectionTimeout(TimeSpan.FromSeconds(5));
        // Every target endpoint holds a channel of this connection (RabbitMq:ChannelMax; the broker grants at most its own
        // channel_max).
        host.RequestedChannelMax((ushort)transport.ChannelMax);
        if (rabbit.UseTls)
        {
            // Only used if MassTransit ever connects without the resolver below; as strict as the per-node options.
            var first = rabbit.Tls.OptionFor(nodes[0]);
            host.UseSsl(ssl =>
            {
                ssl.ServerName = nodes[0].Host;
                ssl.EnforcePolicyErrors(SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNameMismatch);
                ssl.CertificateValidationCallback = first.CertificateValidationCallback;
            });
        }

        return new NodeByNodeHostSettings(host.Settings, new OrderedNodeResolver(rabbit, nodes));
    }

    /// <summary>Each call of <see cref="All"/> yields the next node of the list (round), with that node's own TLS settings.</summary>
    private sealed class OrderedNodeResolver(RabbitMqEndpoint endpoint, IReadOnlyList<BrokerNode> nodes) : IRabbitMqEndpointResolver
    {
        private int _next = -1;
        private ClusterNode _last;

        public ClusterNode LastHost => _last;

        public IEnumerable<AmqpTcpEndpoint> All()
        {
            var node = nodes[(int)((uint)Interlocked.Increment(ref _next) % (uint)nodes.Count)];
            _last = Describe(node);
            yield return RabbitMqConnections.EndpointFor(endpoint, node);
        }

        private static ClusterNode Describe(BrokerNode node)
        {
            try
            {
                return ClusterNode.Parse(node.ToString());
            }
            catch (ArgumentException)
            {
                // An IPv6 address: MassTransit's node type cannot hold it; it is only used in MassTransit's log lines.
                return default;
            }
        }
    }

    /// <summary>MassTransit's settings, with the resolver above.</summary>
    private sealed class NodeByNodeHostSettings(RabbitMqHostSettings inner, IRabbitMqEndpointResolver resolver) : RabbitMqHostSettings
    {
        public string Host => inner.Host;

        public int Port => inner.Port;

        public string VirtualHost => inner.VirtualHost;

        public string Username => inner.Username;

        public string Password => inner.Password;

        public TimeSpan Heartbeat => inner.Heartbeat;

        public bool Ssl => inner.Ssl;

        public SslProtocols SslProtocol => inner.SslProtocol;

        public string SslServerName => inner.SslServerName;

        public SslPolicyErrors AcceptablePolicyErrors => inner.AcceptablePolicyErrors;

        public string ClientCertificatePath => inner.ClientCertificatePath;

        public string ClientCertificatePassphrase => inner.ClientCertificatePassphrase;

        public X509Certificate ClientCertificate => inner.ClientCertificate;

        public bool UseClientCertificateAsAuthenticationIdentity => inner.UseClientCertificateAsAuthenticationIdentity;

        public LocalCertificateSelectionCallback CertificateSelectionCallback
        {
            get => inner.CertificateSelectionCallback;
            set => inner.CertificateSelectionCallback = value;
        }

        public RemoteCertificateValidationCallback CertificateValidationCallback
        {
            get => inner.CertificateValidationCallback;
            set => inner.CertificateValidationCallback = value;
        }

        public IRabbitMqEndpointResolver EndpointResolver => resolver;

        public string ClientProvidedName => inner.ClientProvidedName;

        public Uri HostAddress => inner.HostAddress;

        public bool PublisherConfirmation => inner.PublisherConfirmation;

        public ushort RequestedChannelMax => inner.RequestedChannelMax;

        public TimeSpan RequestedConnectionTimeout => inner.RequestedConnectionTimeout;

        public BatchSettings BatchSettings => inner.BatchSettings;

        public TimeSpan ContinuationTimeout => inner.ContinuationTimeout;

        public uint? MaxMessageSize => inner.MaxMessageSize;

        public ICredentialsProvider CredentialsProvider => inner.CredentialsProvider;

        public uint? RequestedFrameMax => inner.RequestedFrameMax;

        public Task Refresh(ConnectionFactory connectionFactory) => inner.Refresh(connectionFactory);
    }
}
