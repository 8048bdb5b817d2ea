using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Hosting;

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
