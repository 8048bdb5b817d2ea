using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using SyncWorker.Testing;

namespace SyncWorker.Messaging.Tests;

/// <summary>
/// The certificate check of <see cref="BrokerTls.OptionFor"/> on its own, over a TLS handshake with an in-process server
/// (no broker): names that are IP addresses, and the CA of <c>RabbitMq:CaCertificatePath</c>.
/// </summary>
public sealed class BrokerTlsValidationTests
{
    [Test]
    public async Task A_node_listed_by_address_is_accepted_with_a_certificate_for_that_address_and_refused_by_another_name()
    {
        using var ca = TestCertificateAuthority.Create("Validation test CA");
        var tls = Trusting(ca);
        var server = ca.Issue([], [IPAddress.Loopback]);

        Assert.That(await HandshakeAsync(server, tls, "127.0.0.1"), Is.Null, "the IP address SAN matches");
        var refused = await HandshakeAsync(server, tls, "localhost");
        Assert.That(refused, Does.Contain("RemoteCertificateNameMismatch").And.Contain("it is for 127.0.0.1"));
    }

    [Test]
    public async Task Only_the_configured_ca_is_trusted()
    {
        using var ca = TestCertificateAuthority.Create("Validation test CA");
        using var other = TestCertificateAuthority.Create("Validation other CA");
        var server = other.Issue(["localhost"]);

        var refused = await HandshakeAsync(server, Trusting(ca), "localhost");

        Assert.That(refused, Does.Contain("RemoteCertificateChainErrors").And.Contain("RabbitMq:CaCertificatePath").And.Contain("CN=Validation other CA"));
    }

    private static BrokerTls Trusting(TestCertificateAuthority ca)
    {
        var file = ca.WritePem(Path.Combine(Path.GetTempPath(), $"syncworker-ca-{Guid.NewGuid():N}.pem"));
        try
        {
            Assert.That(RabbitMqEndpoint.TryParse("amqps://u:p@localhost/", out var endpoint, out _), Is.True);
            return BrokerTls.Read(
                new ConfigurationBuilder()
                    .AddInMemoryCollection(new Dictionary<string, string?> { ["RabbitMq:CaCertificatePath"] = file }).Build(),
                endpoint!);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>A TLS handshake to a loopback server presenting <paramref name="certificate"/>; null on success, else why not.</summary>
    private static async Task<string?> HandshakeAsync(ServerCertificate certificate, BrokerTls tls, string name)
    {
        using var serverCertificate = X509Certificate2.CreateFromPem(certificate.CertificatePem, certificate.PrivateKeyPem);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var serving = Task.Run(async () =>
        {
            using var accepted = await listener.AcceptTcpClientAsync(timeout.Token);
            await using var stream = new SslStream(accepted.GetStream());
            try
            {
                await stream.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = serverCertificate }, timeout.Token);
            }
            catch (Exception exception) when (exception is AuthenticationException or IOException)
            {
                // The client refused the certificate.
            }
        });

        var option = tls.OptionFor(new BrokerNode(name, port));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
        await using var ssl = new SslStream(client.GetStream(), false, option.CertificateValidationCallback);
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = option.ServerName }, timeout.Token);
            return null;
        }
        catch (AuthenticationException exception)
        {
            return exception.Message;
        }
        finally
        {
            ssl.Close();
            await serving;
        }
    }
}
