using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SyncWorker.Hosting;
using SyncWorker.Manifest;
using SyncWorker.Messaging;
using SyncWorker.Webhooks.Receiving;

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

    [TestCase("live", null, false, false)]
    [TestCase("test", null, true, false)]
    [TestCase("test", "true", true, false)]
    [TestCase("live", "false", false, false)]
    [TestCase("sandbox", null, true, true)]
    [TestCase("Sandbox", null, true, true)]
    [TestCase(null, "true", true, false)]
    public void A_webhook_secrets_Mode_says_what_it_authenticates(string? mode, string? testOnly, bool expectTestOnly, bool expectSandbox)
    {
        var settings = new Dictionary<string, string?> { ["Stripe:WebhookSecrets:1:Secret"] = "whsec_valid_mode_secret_001" };
        if (mode is not null)
        {
            settings["Stripe:WebhookSecrets:1:Mode"] = mode;
        }

        if (testOnly is not null)
        {
            settings["Stripe:WebhookSecrets:1:TestOnly"] = testOnly;
        }

        using var app = Build(settings);
        var secret = app.Services.GetRequiredService<IOptions<StripeOptions>>().Value.WebhookSecrets[1];

        Assert.That((secret.TestOnly, secret.Sandbox), Is.EqualTo((expectTestOnly, expectSandbox)));
    }

    [TestCase("live", "true", "Stripe:WebhookSecrets:1 has Mode live and TestOnly true, which contradict each other", "set Stripe:WebhookSecrets:1:Mode to test")]
    [TestCase("test", "false", "Stripe:WebhookSecrets:1 has Mode test and TestOnly false, which contradict each other", "Remove Stripe:WebhookSecrets:1:TestOnly")]
    [TestCase("sandbox", "true", "Stripe:WebhookSecrets:1 has Mode sandbox and TestOnly true: remove Stripe:WebhookSecrets:1:TestOnly", "set Stripe:WebhookSecrets:1:Mode to test instead")]
    [TestCase("sandbox", "false", "Stripe:WebhookSecrets:1 has Mode sandbox and TestOnly false: remove Stripe:WebhookSecrets:1:TestOnly", "never authenticates live events")]
    [TestCase("staging", null, "Stripe:WebhookSecrets:1:Mode must be live, test or sandbox (got 'staging')", "sandbox for the secret of your app's managed sandbox's endpoint")]
    public void A_Mode_that_contradicts_TestOnly_or_is_unknown_fails_start_naming_the_key_and_the_fix(string mode, string? testOnly, string expected, string fix)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Stripe:WebhookSecrets:1:Secret"] = "whsec_valid_mode_secret_001",
            ["Stripe:WebhookSecrets:1:Mode"] = mode,
        };
        if (testOnly is not null)
        {
            settings["Stripe:WebhookSecrets:1:TestOnly"] = testOnly;
        }

        var failure = Assert.ThrowsAsync<OptionsValidationException>(() => StartAsync(settings));

        var message = failure!.Failures.FirstOrDefault(f => f.Contains(expected, StringComparison.Ordinal));
        Assert.That(message, Is.Not.Null, string.Join('\n', failure.Failures));
        Assert.That(message, Does.Contain(fix));
        Assert.That(string.Join('\n', failure.Failures), Does.Not.Contain("whsec_valid_mode_secret_001"), "never echo a secret");
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
