using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SyncWorker.Hosting;
using SyncWorker.Manifest;
using SyncWorker.Messaging;

namespace SyncWorker.Tests.Hosting;

/// <summary>Bad configuration stops the process at start with a message that names the key and the fix.</summary>
public sealed class ConfigurationValidationTests
{
    private static readonly string Manifest = WorkerHost.RepositoryFile("manifest/stripe-app.json");

    [TestCase("Stripe:WebhookSecrets:0", "", "Stripe:WebhookSecrets:0 is empty")]
    [TestCase("Stripe:WebhookSecrets:0", "sk_live_notasigningsecret", "Stripe:WebhookSecrets:0 does not look like a Stripe webhook signing secret")]
    [TestCase("Stripe:SignatureToleranceSeconds", "0", "Stripe:SignatureToleranceSeconds must be between 1 and 3600")]
    [TestCase("Stripe:SignatureToleranceSeconds", "five", "Stripe:SignatureToleranceSeconds must be a whole number")]
    [TestCase("Webhooks:MaxBodyBytes", "10", "Webhooks:MaxBodyBytes must be between 1024 and 16777216")]
    [TestCase("Webhooks:PublishTimeoutSeconds", "600", "Webhooks:PublishTimeoutSeconds must be between 1 and 60")]
    public void Invalid_setting_fails_start_naming_the_key(string key, string value, string expected)
    {
        var settings = new Dictionary<string, string?> { ["Stripe:WebhookSecrets:0"] = "whsec_valid_test_secret_000", [key] = value };

        var failure = Assert.ThrowsAsync<OptionsValidationException>(() => StartAsync(settings));

        Assert.That(failure!.Failures, Has.Some.Contains(expected));
        Assert.That(string.Join('\n', failure.Failures), Does.Not.Contain("sk_live_notasigningsecret"), "never echo a secret");
    }

    [Test]
    public void No_secret_at_all_fails_start_saying_where_to_find_one()
    {
        var failure = Assert.ThrowsAsync<OptionsValidationException>(() => StartAsync([], withDefaultSecret: false));

        Assert.That(failure!.Failures, Has.Some.Contains("Stripe:WebhookSecrets is empty").And.Some.Contains("Stripe__WebhookSecrets__0"));
    }

    [Test]
    public void Test_only_flag_that_is_not_a_boolean_is_an_error()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Stripe:WebhookSecrets:0:Secret"] = "whsec_valid_test_secret_000",
            ["Stripe:WebhookSecrets:0:TestOnly"] = "sometimes",
        };

        var failure = Assert.ThrowsAsync<OptionsValidationException>(() => StartAsync(settings, withDefaultSecret: false));

        Assert.That(failure!.Failures, Has.Some.Contains("Stripe:WebhookSecrets:0:TestOnly must be true or false"));
    }

    [TestCase("http://broker:5672/", "use amqp:// or amqps://")]
    [TestCase("not a uri", "RabbitMq:Uri is not an absolute URI")]
    [TestCase("amqp://user:hunter2secret@broker:5672/a/b", "RabbitMq:Uri path must be a single segment")]
    public void Invalid_rabbitmq_uri_fails_naming_the_key_without_the_password(string uri, string expected)
    {
        var failure = Assert.Throws<MessagingConfigurationException>(() => Build(new() { ["RabbitMq:Uri"] = uri }));

        Assert.That(failure!.Message, Does.Contain(expected));
        Assert.That(failure.Message, Does.Not.Contain("hunter2secret"));
    }

    [Test]
    public void Production_without_rabbitmq_refuses_to_start_unless_in_memory_is_chosen()
    {
        var refused = Assert.Throws<MessagingConfigurationException>(() => Build([], "Production"));
        Assert.That(refused!.Message, Does.Contain("RabbitMq:Uri").And.Contain("Messaging:Transport=InMemory"));

        Assert.DoesNotThrow(() => Build(new() { ["Messaging:Transport"] = "InMemory" }, "Production"));
    }

    [Test]
    public void Unknown_transport_is_an_error()
    {
        var failure = Assert.Throws<MessagingConfigurationException>(() => Build(new() { ["Messaging:Transport"] = "Kafka" }));

        Assert.That(failure!.Message, Does.Contain("Messaging:Transport").And.Contain("RabbitMq"));
    }

    [Test]
    public void Missing_manifest_stops_start_naming_the_file()
    {
        var path = Path.Combine(Path.GetTempPath(), "no-such-dir", "stripe-app.json");

        var failure = Assert.Throws<ManifestException>(() => Build(new() { ["Manifest:Path"] = path }));

        Assert.That(failure!.Message, Does.Contain(path));
    }

    [Test]
    public void Invalid_manifest_stops_start_naming_the_file_and_field()
    {
        var path = Path.Combine(Path.GetTempPath(), $"manifest-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{ "id": "x", "version": "1", "name": "x", "icon": "", "permissions": [ { "permission": "event_read" } ] }""");
        try
        {
            var failure = Assert.Throws<ManifestException>(() => Build(new() { ["Manifest:Path"] = path }));

            Assert.That(failure!.Message, Does.Contain(path).And.Contain("permissions[0].purpose"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static WebApplication Build(Dictionary<string, string?> settings, string environment = "Testing", bool withDefaultSecret = true) =>
        SyncWorkerApp.Build([], builder =>
        {
            builder.Environment.EnvironmentName = environment;
            builder.Logging.ClearProviders();
            var configuration = new Dictionary<string, string?> { ["Manifest:Path"] = Manifest };
            if (withDefaultSecret)
            {
                configuration["Stripe:WebhookSecrets:0"] = "whsec_valid_test_secret_000";
            }

            foreach (var (key, value) in settings)
            {
                configuration[key] = value;
            }

            builder.Configuration.AddInMemoryCollection(configuration);
            builder.WebHost.UseUrls("http://127.0.0.1:0");
        });

    private static async Task StartAsync(Dictionary<string, string?> settings, bool withDefaultSecret = true)
    {
        await using var app = Build(settings, withDefaultSecret: withDefaultSecret);
        await app.StartAsync();
        await app.StopAsync();
    }
}
