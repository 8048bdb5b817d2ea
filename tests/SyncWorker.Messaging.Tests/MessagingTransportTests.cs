using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Hosting;
using SyncWorker.Testing;

namespace SyncWorker.Messaging.Tests;

public sealed class MessagingTransportTests
{
    [Test]
    public void Without_a_uri_development_runs_in_memory()
    {
        var transport = Resolve("Development", []);

        Assert.That(transport.IsInMemory, Is.True);
        Assert.That(transport.ToString(), Does.Contain("not durable"));
    }

    [Test]
    public void Without_a_uri_production_refuses_unless_in_memory_is_explicit()
    {
        var refused = Assert.Throws<MessagingConfigurationException>(() => Resolve("Production", []));
        Assert.That(refused!.Message, Does.Contain("RabbitMq:Uri").And.Contain("Messaging:Transport=InMemory"));

        Assert.That(Resolve("Production", new() { ["Messaging:Transport"] = "inmemory" }).IsInMemory, Is.True);
    }

    [Test]
    public void A_uri_selects_rabbitmq_in_any_environment()
    {
        var transport = Resolve("Production", new() { ["RabbitMq:Uri"] = "amqp://u:secretpw@broker:5672/v" });

        Assert.That(transport.IsInMemory, Is.False);
        Assert.That(transport.RabbitMq!.Host, Is.EqualTo("broker"));
        Assert.That(transport.ToString(), Does.Not.Contain("secretpw"));
    }

    [Test]
    public void Rabbitmq_chosen_without_a_uri_says_which_key_is_missing()
    {
        var failure = Assert.Throws<MessagingConfigurationException>(() => Resolve("Development", new() { ["Messaging:Transport"] = "RabbitMq" }));

        Assert.That(failure!.Message, Does.Contain("RabbitMq:Uri is not set"));
    }

    [Test]
    public void A_ca_file_is_read_into_the_trust_of_the_endpoint()
    {
        using var ca = TestCertificateAuthority.Create("Transport test CA");
        var file = ca.WritePem(Path.Combine(Path.GetTempPath(), $"syncworker-ca-{Guid.NewGuid():N}.pem"));
        try
        {
            var transport = Resolve("Production", new() { ["RabbitMq:Uri"] = "amqps://u:p@broker/v", ["RabbitMq:CaCertificatePath"] = file });

            Assert.That(transport.RabbitMq!.Tls.CaCertificatePath, Is.EqualTo(file));
            Assert.That(transport.RabbitMq.Tls.Authorities!.Single().Thumbprint, Is.EqualTo(ca.Certificate.Thumbprint));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void Without_a_ca_file_the_system_store_is_trusted()
    {
        var transport = Resolve("Production", new() { ["RabbitMq:Uri"] = "amqps://u:p@broker/v" });

        Assert.That(transport.RabbitMq!.Tls.Authorities, Is.Null);
        Assert.That(transport.RabbitMq.Tls, Is.SameAs(BrokerTls.SystemTrust));
    }

    [Test]
    public void A_ca_file_that_is_missing_is_refused_naming_the_key_and_the_fix()
    {
        var failure = Assert.Throws<MessagingConfigurationException>(() => Resolve("Production", new()
        {
            ["RabbitMq:Uri"] = "amqps://u:p@broker/v",
            ["RabbitMq:CaCertificatePath"] = "/nonexistent/ca.pem",
        }));

        Assert.That(failure!.Message, Does.Contain("RabbitMq:CaCertificatePath is '/nonexistent/ca.pem'").And.Contain("no such file").And.Contain("PEM"));
    }

    [Test]
    public void A_ca_file_without_a_certificate_is_refused_naming_the_key()
    {
        var file = Path.Combine(Path.GetTempPath(), $"syncworker-ca-{Guid.NewGuid():N}.pem");
        File.WriteAllText(file, "not a certificate\n");
        try
        {
            var failure = Assert.Throws<MessagingConfigurationException>(() => Resolve("Production", new()
            {
                ["RabbitMq:Uri"] = "amqps://u:p@broker/v",
                ["RabbitMq:CaCertificatePath"] = file,
            }));

            Assert.That(failure!.Message, Does.Contain("RabbitMq:CaCertificatePath").And.Contain("holds no PEM certificate"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void A_ca_file_with_an_amqp_uri_is_refused_because_it_would_do_nothing()
    {
        var failure = Assert.Throws<MessagingConfigurationException>(() => Resolve("Production", new()
        {
            ["RabbitMq:Uri"] = "amqp://u:p@broker/v",
            ["RabbitMq:CaCertificatePath"] = "/etc/ssl/certs/ca.pem",
        }));

        Assert.That(failure!.Message, Does.Contain("RabbitMq:CaCertificatePath is set but RabbitMq:Uri is amqp://").And.Contain("amqps://"));
    }

    private static MessagingTransport Resolve(string environment, Dictionary<string, string?> settings) =>
        MessagingTransport.Resolve(
            new ConfigurationBuilder().AddInMemoryCollection(settings).Build(),
            new Environment(environment));

    private sealed class Environment(string name) : IHostEnvironment
    {
        public string EnvironmentName { get; set; } = name;

        public string ApplicationName { get; set; } = "SyncWorker";

        public string ContentRootPath { get; set; } = AppContext.BaseDirectory;

        public IFileProvider ContentRootFileProvider { get; set; } = new NullFileProvider();
    }
}
