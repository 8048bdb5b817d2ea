using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using RabbitMQ.Client;

namespace SyncWorker.Messaging;

/// <summary>
/// How SyncWorker checks the certificate of a RabbitMQ node over <c>amqps://</c>: the certificate must be for the name
/// SyncWorker connects to (the host of <c>RabbitMq:Uri</c>, or that <c>RabbitMq:Hosts</c> entry) and chain to a trusted
/// CA: the CAs of <c>RabbitMq:CaCertificatePath</c> when set (then only those), otherwise the system's trusted roots.
/// Every connection (the receivers' publisher, the forwarders' MassTransit bus, the broker admin and the operations
/// verbs) gets its <see cref="SslOption"/> from <see cref="OptionFor"/>, one per node.
/// </summary>
public sealed class BrokerTls
{
    /// <summary>The key of the PEM file with the CA certificate(s) the nodes' certificates must chain to.</summary>
    public const string CaCertificatePathKey = "RabbitMq:CaCertificatePath";

    private const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";

    private BrokerTls(string? caCertificatePath, X509Certificate2Collection? authorities)
    {
        CaCertificatePath = caCertificatePath;
        Authorities = authorities;
    }

    /// <summary>Trust the system's roots (no <c>RabbitMq:CaCertificatePath</c>).</summary>
    public static BrokerTls SystemTrust { get; } = new(null, null);

    /// <summary>The configured CA file, or null for the system's trusted roots.</summary>
    public string? CaCertificatePath { get; }

    /// <summary>The CA certificates read from <see cref="CaCertificatePath"/>; null for the system's trusted roots.</summary>
    public X509Certificate2Collection? Authorities { get; }

    /// <summary>
    /// Reads <c>RabbitMq:CaCertificatePath</c>. Throws a <see cref="MessagingConfigurationException"/> naming the key and
    /// the fix when it is set with an <c>amqp://</c> URI, names no readable file, or the file holds no PEM certificate.
    /// </summary>
    public static BrokerTls Read(IConfiguration configuration, RabbitMqEndpoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(endpoint);
        var path = configuration[CaCertificatePathKey];
        if (string.IsNullOrWhiteSpace(path))
        {
            return SystemTrust;
        }

        path = path.Trim();
        if (!endpoint.UseTls)
        {
            throw new MessagingConfigurationException(
                $"{CaCertificatePathKey} is set but RabbitMq:Uri is amqp://, which does not use TLS. Use amqps:// (port 5671 by " +
                $"default) to connect with TLS, or remove {CaCertificatePathKey}.");
        }

        if (!File.Exists(path))
        {
            throw new MessagingConfigurationException(
                $"{CaCertificatePathKey} is '{path}', but there is no such file. Point it at a PEM file holding the certificate " +
                "of the CA that signed the RabbitMQ nodes' certificates (-----BEGIN CERTIFICATE-----), or remove the key to trust " +
                "the system's CA store.");
        }

        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPemFile(path);
        }
        catch (Exception exception) when (exception is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new MessagingConfigurationException(
                $"{CaCertificatePathKey} is '{path}', which could not be read as PEM certificates ({exception.Message}). Use a " +
                "readable PEM file with the CA certificate(s) (-----BEGIN CERTIFICATE----- blocks).",
                exception);
        }

        if (authorities.Count == 0)
        {
            throw new MessagingConfigurationException(
                $"{CaCertificatePathKey} is '{path}', which holds no PEM certificate. Use a PEM file with the CA certificate(s) " +
                "(-----BEGIN CERTIFICATE----- blocks) that signed the RabbitMQ nodes' certificates.");
        }

        return new BrokerTls(path, authorities);
    }

    /// <summary>
    /// The TLS settings for a connection to <paramref name="node"/>: its certificate must be for <c>node.Host</c> and chain
    /// to a trusted CA. A refused certificate fails the connection with an <see cref="AuthenticationException"/> that says
    /// which node, which check (<c>RemoteCertificateNameMismatch</c>, <c>RemoteCertificateChainErrors</c>) and what to do.
    /// </summary>
    public SslOption OptionFor(BrokerNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return new SslOption(node.Host)
        {
            Enabled = true,
            AcceptablePolicyErrors = SslPolicyErrors.None,
            CertificateValidationCallback = (_, certificate, chain, errors) => Validate(node, certificate, chain, errors),
        };
    }

    private bool Validate(BrokerNode node, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            throw new AuthenticationException($"RabbitMQ node {node} presented no certificate (RemoteCertificateNotAvailable).");
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            throw new AuthenticationException(
                $"RabbitMQ node {node} presented a certificate that is not for the name {node.Host} (RemoteCertificateNameMismatch; " +
                $"it is for {NamesOf(certificate)}). Give that node a certificate whose subject alternative names include " +
                $"{node.Host}, or name the node in RabbitMq:Uri or RabbitMq:Hosts as its certificate does.");
        }

        var chainProblem = Authorities is null
            ? errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors) ? StatusOf(chain) : null
            : ChainToAuthorities(certificate, chain);
        if (chainProblem is not null)
        {
            throw new AuthenticationException(
                $"RabbitMQ node {node} presented a certificate that does not chain to a trusted CA (RemoteCertificateChainErrors: " +
                $"{chainProblem}; issued by {certificate.Issuer}). " + (Authorities is null
                    ? $"Set {CaCertificatePathKey} to a PEM file with the CA that signed the nodes' certificates, or add that CA " +
                      "to this machine's trust store (Debian: /usr/local/share/ca-certificates, then update-ca-certificates)."
                    : $"Only the CAs in {CaCertificatePathKey} ('{CaCertificatePath}') are trusted: add the CA that signed this " +
                      "node's certificate to that file."));
        }

        return true;
    }

    /// <summary>Null when the certificate chains to one of <see cref="Authorities"/>; otherwise what is wrong.</summary>
    private string? ChainToAuthorities(X509Certificate certificate, X509Chain? presented)
    {
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(Authorities!);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ServerAuthentication));
        if (presented is not null)
        {
            // The intermediates the node sent.
            chain.ChainPolicy.ExtraStore.AddRange(presented.ChainPolicy.ExtraStore);
        }

        return chain.Build(leaf) ? null : StatusOf(chain);
    }

    private static string StatusOf(X509Chain? chain)
    {
        var statuses = chain?.ChainStatus.Select(status => status.Status.ToString()).Distinct().ToList() ?? [];
        return statuses.Count == 0 ? "untrusted" : string.Join(", ", statuses);
    }

    private static string NamesOf(X509Certificate certificate)
    {
        using var loaded = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        var names = loaded.Extensions.OfType<X509SubjectAlternativeNameExtension>()
            .SelectMany(extension => extension.EnumerateDnsNames().Concat(extension.EnumerateIPAddresses().Select(address => address.ToString())))
            .ToList();
        return names.Count > 0 ? string.Join(", ", names) : "no subject alternative name, subject " + loaded.Subject;
    }
}
