using Microsoft.Extensions.Configuration;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Forwarding.Targets;

namespace SyncWorker.Forwarding.Tests.Orders;

[TestFixture]
public sealed class StripeApiOptionsValidationTests
{
    private const string TestKey = "sk_test_validation-only-not-a-real-key";
    private const string LiveKey = "rk_live_validation-only-not-a-real-key";

    [TestCase(TestKey)]
    [TestCase(LiveKey)]
    public void A_secret_or_restricted_key_and_the_default_base_are_valid(string key)
    {
        Assert.That(StripeApiOptionsValidation.Validate(new StripeApiOptions { ApiKey = key }), Is.Empty);
    }

    [TestCase("")]
    [TestCase("   ")]
    public void A_missing_key_names_the_key_and_what_to_set(string key)
    {
        var errors = StripeApiOptionsValidation.Validate(new StripeApiOptions { ApiKey = key });

        Assert.That(errors, Is.EqualTo(new[]
        {
            "Stripe:ApiKey (or Stripe:ApiKeys:Live and Stripe:ApiKeys:Test, a key per mode) is required when a target uses Format order: " +
            "set it to a secret key (sk_…) or restricted key (rk_…) with checkout_session_read.",
        }));
    }

    [TestCase("pk_live_publishable-not-a-real-key")]
    [TestCase("whsec_signing-secret-not-a-real-one")]
    public void A_key_that_cannot_read_sessions_is_refused_without_echoing_it(string key)
    {
        var errors = StripeApiOptionsValidation.Validate(new StripeApiOptions { ApiKey = key }).ToArray();

        Assert.That(errors, Has.Length.EqualTo(1));
        Assert.That(errors[0], Does.StartWith("Stripe:ApiKey").And.Contain("sk_").And.Contain("rk_"));
        Assert.That(errors[0], Does.Not.Contain(key));
    }

    [Test]
    public void A_key_with_whitespace_is_refused_without_echoing_it()
    {
        const string key = "sk_test_pasted with-a-space";

        var errors = StripeApiOptionsValidation.Validate(new StripeApiOptions { ApiKey = key }).ToArray();

        Assert.That(errors, Has.Length.EqualTo(1));
        Assert.That(errors[0], Does.StartWith("Stripe:ApiKey").And.Contain("whitespace"));
        Assert.That(errors[0], Does.Not.Contain("pasted"));
    }

    [TestCase("")]
    [TestCase("api.stripe.com")]
    [TestCase("/v1")]
    [TestCase("ftp://api.stripe.com")]
    public void ApiBase_must_be_an_absolute_http_url(string apiBase)
    {
        var errors = StripeApiOptionsValidation.Validate(new StripeApiOptions { ApiKey = TestKey, ApiBase = apiBase });

        Assert.That(errors, Is.EqualTo(new[]
        {
            "Stripe:ApiBase must be an absolute http(s) URL; leave it unset for Stripe's API (https://api.stripe.com).",
        }));
    }

    [TestCase("http://127.0.0.1:12111")]
    [TestCase("https://stripe-proxy.internal.example/")]
    public void ApiBase_may_point_elsewhere(string apiBase)
    {
        Assert.That(StripeApiOptionsValidation.Validate(new StripeApiOptions { ApiKey = TestKey, ApiBase = apiBase }), Is.Empty);
    }

    [Test]
    public void Without_order_targets_nothing_is_required()
    {
        var validation = new StripeApiOptionsValidation(Configuration(
            ("Fulfillment:Targets:0:Name", "archive"),
            ("Fulfillment:Targets:0:Format", "event"),
            ("Fulfillment:Targets:0:Mode", "live")));

        var result = validation.Validate(null, new StripeApiOptions());

        Assert.That(result.Succeeded, Is.True, result.FailureMessage);
    }

    [Test]
    public void A_target_without_Format_is_an_order_target_and_needs_the_key()
    {
        var validation = new StripeApiOptionsValidation(Configuration(
            ("Fulfillment:Targets:0:Name", "warehouse"),
            ("Fulfillment:Targets:0:Mode", "live")));

        var result = validation.Validate(null, new StripeApiOptions());

        Assert.That(result.Failed, Is.True);
        Assert.That(result.Failures, Is.EqualTo(new[] { StripeApiOptionsValidation.ApiKeyRequired }));
    }

    [Test]
    public void A_live_order_target_with_a_test_key_is_refused()
    {
        var targets = new List<TargetOptions>
        {
            new() { Name = "archive", Mode = "live", Format = TargetOptions.EventFormat },
            new() { Name = "warehouse", Mode = "live" },
        };

        var errors = StripeApiOptionsValidation.Validate(new StripeApiOptions { ApiKey = TestKey }, targets).ToArray();

        Assert.That(errors, Has.Length.EqualTo(1));
        Assert.That(errors[0], Does.StartWith("Fulfillment:Targets:1 ('warehouse') is a live target").And.Contain("Stripe:ApiKey is a test-mode key"));
        Assert.That(errors[0], Does.Not.Contain(TestKey));
    }

    [Test]
    public void Live_and_test_order_targets_run_together_with_a_key_per_mode_and_the_old_key_serves_its_own_mode()
    {
        var targets = new List<TargetOptions> { new() { Name = "warehouse", Mode = "live" }, new() { Name = "staging", Mode = "test" } };

        Assert.That(StripeApiOptionsValidation.Validate(new StripeApiOptions { ApiKeys = new() { Live = LiveKey, Test = TestKey } }, targets), Is.Empty);
        Assert.That(StripeApiOptionsValidation.Validate(new StripeApiOptions { ApiKey = LiveKey, ApiKeys = new() { Test = TestKey } }, targets), Is.Empty, "Stripe:ApiKey serves live");
        var missing = StripeApiOptionsValidation.Validate(new StripeApiOptions { ApiKeys = new() { Live = LiveKey } }, targets).ToArray();
        Assert.That(missing, Has.Length.EqualTo(1));
        Assert.That(missing[0], Does.StartWith("Fulfillment:Targets:1 ('staging') is a test target").And.Contain("set Stripe:ApiKeys:Test to a test key"));
        Assert.That(missing[0], Does.Not.Contain("Stripe:ApiKey is"), "no Stripe:ApiKey to speak of");

        var options = new StripeApiOptions { ApiKey = LiveKey, ApiKeys = new() { Test = TestKey } };
        Assert.That(options.KeyFor(true), Is.EqualTo((LiveKey, "Stripe:ApiKey")));
        Assert.That(options.KeyFor(false), Is.EqualTo((TestKey, "Stripe:ApiKeys:Test")));
    }

    [Test]
    public void A_sandbox_secret_with_a_test_order_target_and_no_sandbox_key_is_refused_naming_Stripe_ApiKeys_Sandbox()
    {
        const string sandboxKey = "sk_test_sandbox-validation-only-not-a-real-key";
        var targets = new List<TargetOptions>
        {
            new() { Name = "warehouse", Mode = "live" },
            new() { Name = "staging", Mode = "test" },
            new() { Name = "staging-raw", Mode = "test", Format = TargetOptions.EventFormat },
        };
        var keys = new StripeApiKeys { Live = LiveKey, Test = TestKey };

        var errors = StripeApiOptionsValidation.Validate(
            new StripeApiOptions { ApiKeys = keys, SandboxWebhookSecrets = ["Stripe:WebhookSecrets:2"] }, targets).ToArray();

        Assert.That(errors, Has.Length.EqualTo(1));
        Assert.That(errors[0], Does.StartWith("Stripe:WebhookSecrets:2 is a secret tagged Mode sandbox, and Fulfillment:Targets:1 ('staging') is a test target with Format order")
            .And.Contain("Set Stripe:ApiKeys:Sandbox to the managed sandbox's secret key"));
        Assert.That(errors[0], Does.Not.Contain("staging-raw"), "an event target reads nothing from Stripe");
        Assert.That(errors[0], Does.Not.Contain(TestKey).And.Not.Contain(LiveKey));

        Assert.Multiple(() =>
        {
            Assert.That(StripeApiOptionsValidation.Validate(new StripeApiOptions { ApiKeys = keys }, targets), Is.Empty, "no sandbox secret, no sandbox key needed");
            Assert.That(StripeApiOptionsValidation.Validate(
                new StripeApiOptions { ApiKeys = new() { Live = LiveKey, Test = TestKey, Sandbox = sandboxKey }, SandboxWebhookSecrets = ["Stripe:WebhookSecrets:2"] }, targets),
                Is.Empty, "with the sandbox key");
            Assert.That(StripeApiOptionsValidation.Validate(
                new StripeApiOptions { ApiKeys = new() { Live = LiveKey }, SandboxWebhookSecrets = ["Stripe:WebhookSecrets:2"] }, [targets[0]]),
                Is.Empty, "no test order target: sandbox events read nothing from Stripe");
        });
    }

    [Test]
    public void The_sandbox_key_serves_sandbox_events_only_and_no_other_key_serves_them()
    {
        const string sandboxKey = "rk_test_sandbox-validation-only-not-a-real-key";
        var options = new StripeApiOptions { ApiKey = "sk_unprefixed-validation-only", ApiKeys = new() { Test = TestKey, Sandbox = sandboxKey } };

        Assert.Multiple(() =>
        {
            Assert.That(options.KeyFor(Contracts.StripeEnvironment.Sandbox), Is.EqualTo((sandboxKey, "Stripe:ApiKeys:Sandbox")));
            Assert.That(options.KeyFor(Contracts.StripeEnvironment.Test), Is.EqualTo((TestKey, "Stripe:ApiKeys:Test")));
            Assert.That(options.KeyFor(Contracts.StripeEnvironment.Live), Is.EqualTo(("sk_unprefixed-validation-only", "Stripe:ApiKey")));
            Assert.That(new StripeApiOptions { ApiKey = "sk_unprefixed-validation-only", ApiKeys = new() { Test = TestKey } }.KeyFor(Contracts.StripeEnvironment.Sandbox),
                Is.Null, "neither Stripe:ApiKey nor the test key reads a sandbox");
        });
    }

    [TestCase("sk_live_sandbox-validation-not-a-real-key", "Stripe:ApiKeys:Sandbox is a live-mode key: it must be a test key")]
    [TestCase("pk_test_sandbox-validation-not-a-real-key", "Stripe:ApiKeys:Sandbox is not a secret key")]
    public void A_sandbox_key_of_live_mode_or_not_secret_is_refused_naming_its_setting(string key, string message)
    {
        var errors = StripeApiOptionsValidation.Validate(new StripeApiOptions { ApiKeys = new() { Test = TestKey, Sandbox = key } }).ToArray();

        Assert.That(errors, Has.Length.EqualTo(1));
        Assert.That(errors[0], Does.StartWith(message));
        Assert.That(errors[0], Does.Not.Contain(key));
    }

    [Test]
    public void The_sandbox_tagged_secrets_are_found_in_configuration_by_their_mode()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Stripe:WebhookSecrets:0"] = "whsec_plain",
            ["Stripe:WebhookSecrets:1:Secret"] = "whsec_test",
            ["Stripe:WebhookSecrets:1:TestOnly"] = "true",
            ["Stripe:WebhookSecrets:2:Secret"] = "whsec_sandbox",
            ["Stripe:WebhookSecrets:2:Mode"] = "Sandbox",
            ["Stripe:WebhookSecrets:3:Secret"] = "whsec_live",
            ["Stripe:WebhookSecrets:3:Mode"] = "live",
        }).Build();

        Assert.That(StripeApiOptionsValidation.SandboxSecretKeys(configuration), Is.EqualTo(new[] { "Stripe:WebhookSecrets:2" }));
    }

    [TestCase("Live", TestKey, "Stripe:ApiKeys:Live is a test-mode key: it must be a live key")]
    [TestCase("Test", LiveKey, "Stripe:ApiKeys:Test is a live-mode key: it must be a test key")]
    [TestCase("Test", "pk_test_not_secret", "Stripe:ApiKeys:Test is not a secret key")]
    public void A_per_mode_key_of_the_other_mode_or_not_secret_is_refused_naming_its_setting(string mode, string key, string message)
    {
        var options = new StripeApiOptions { ApiKeys = mode == "Live" ? new() { Live = key } : new() { Test = key } };

        var errors = StripeApiOptionsValidation.Validate(options).ToArray();

        Assert.That(errors, Has.Some.StartWith(message));
        Assert.That(errors, Has.None.Contain(key));
    }

    [Test]
    public void A_test_order_target_with_a_live_key_is_refused()
    {
        var targets = new List<TargetOptions> { new() { Name = "sandbox", Mode = "test" } };

        var errors = StripeApiOptionsValidation.Validate(new StripeApiOptions { ApiKey = LiveKey }, targets).ToArray();

        Assert.That(errors, Has.Length.EqualTo(1));
        Assert.That(errors[0], Does.StartWith("Fulfillment:Targets:0 ('sandbox') is a test target").And.Contain("live-mode key"));
    }

    [Test]
    public void Matching_modes_are_valid()
    {
        var targets = new List<TargetOptions> { new() { Name = "warehouse", Mode = "live" } };

        Assert.That(StripeApiOptionsValidation.Validate(new StripeApiOptions { ApiKey = LiveKey }, targets), Is.Empty);
    }

    private static IConfiguration Configuration(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)))
            .Build();
}
