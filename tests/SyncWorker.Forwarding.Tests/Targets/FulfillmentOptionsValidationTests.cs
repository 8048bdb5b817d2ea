using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Options;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Manifest;

namespace SyncWorker.Forwarding.Tests.Targets;

[TestFixture]
public sealed class FulfillmentOptionsValidationTests
{
    private const string Key = "Fulfillment:Targets:0";
    private const string Label = "Fulfillment:Targets:0 ('warehouse')";
    private const string LiveKey = "sk_live_validation-only-not-a-real-key";
    private const string TestKey = "sk_test_validation-only-not-a-real-key";

    private static readonly Lazy<AppManifest> LazyRepoManifest = new(() => ManifestLoader.Load(TargetTestData.RepoManifestPath));
    private static readonly Lazy<PermissionPolicy> LazyPolicy = new(() => new PermissionPolicy(RepoManifest, EventPermissionTable.LoadEmbedded()));

    private static AppManifest RepoManifest => LazyRepoManifest.Value;

    private static PermissionPolicy Policy => LazyPolicy.Value;

    /// <summary>A valid live order target of the repository's manifest.</summary>
    private static TargetOptions Valid(string name = "warehouse") => new()
    {
        Name = name,
        Url = "https://fulfillment.example.com/webhooks/stripe-orders",
        Mode = "live",
        Events = ["checkout.session.completed", "checkout.session.async_payment_succeeded"],
        Format = TargetOptions.OrderFormat,
        SigningSecret = TargetTestData.SigningSecret,
    };

    private static ValidateOptionsResult Validate(string apiKey, params TargetOptions[] targets) =>
        Validate(Environments.Development, RepoManifest, apiKey, targets);

    private static ValidateOptionsResult Validate(string environment, AppManifest manifest, string apiKey, params TargetOptions[] targets)
    {
        var policy = ReferenceEquals(manifest, RepoManifest) ? Policy : new PermissionPolicy(manifest, EventPermissionTable.LoadEmbedded());
        var validation = new FulfillmentOptionsValidation(
            manifest, policy, Options.Create(new StripeApiOptions { ApiKey = apiKey }), new HostingEnvironment { EnvironmentName = environment });
        return validation.Validate(Options.DefaultName, new FulfillmentOptions { Targets = [.. targets] });
    }

    /// <summary>The errors for one target sending to <paramref name="url"/>, with a manifest whose connect-src lists it.</summary>
    private static string[] ErrorsFor(string environment, string url, string mode)
    {
        var target = Valid();
        target.Url = url;
        target.Mode = mode;
        var manifest = TargetTestData.Manifest([url], "checkout_session_read");
        return Validate(environment, manifest, mode == "live" ? LiveKey : TestKey, target).Failures?.ToArray() ?? [];
    }

    private static string[] Errors(params TargetOptions[] targets) => Errors(LiveKey, targets);

    private static string[] Errors(string apiKey, params TargetOptions[] targets) =>
        Validate(apiKey, targets).Failures?.ToArray() ?? [];

    private static string[] Errors(Action<TargetOptions> change)
    {
        var target = Valid();
        change(target);
        return Errors(target);
    }

    [Test]
    public void One_valid_target_passes()
    {
        var result = Validate(LiveKey, Valid());

        Assert.That(result.Succeeded, Is.True, () => string.Join(Environment.NewLine, result.Failures ?? []));
    }

    [Test]
    public void No_targets_pass_without_an_api_key()
    {
        Assert.That(Validate("", []).Succeeded, Is.True);
    }

    [Test]
    public void Valid_targets_of_every_kind_pass_together()
    {
        var archive = Valid("archive");
        archive.Format = TargetOptions.EventFormat;
        archive.Url = "http://localhost:9090/fulfillment/archive";
        archive.Events = ["charge.*", "customer.created", "*"];
        archive.Accounts = [TargetTestData.Merchant];
        archive.Mode = "Live";

        Assert.That(Errors(Valid(), archive), Is.Empty);
    }

    [TestCase("")]
    [TestCase("   ")]
    public void A_missing_name_is_named_by_its_key_with_an_example(string name)
    {
        Assert.That(Errors(t => t.Name = name), Is.EqualTo(new[]
        {
            $"{Key}:Name is required: a short unique name such as 'warehouse' (lower-case letters, digits, dashes); it names the target's queue.",
        }));
    }

    [TestCase("Warehouse")]
    [TestCase("-warehouse")]
    [TestCase("ware_house")]
    [TestCase("ware.house")]
    [TestCase("warehouse eu")]
    [TestCase("a123456789012345678901234567890123456789012345678")]
    public void An_invalid_name_is_named_with_the_rule(string name)
    {
        var errors = Errors(t => t.Name = name);

        Assert.That(errors, Has.Length.EqualTo(1));
        Assert.That(errors[0], Does.StartWith($"{Key}:Name '{name}' is not allowed: use 1 to 48 lower-case letters, digits and dashes"));
        Assert.That(errors[0], Does.Contain("syncworker.target.<name>"));
    }

    [TestCase("w")]
    [TestCase("9-lives")]
    [TestCase("a12345678901234567890123456789012345678901234567")]
    public void Names_at_the_edges_of_the_rule_pass(string name)
    {
        Assert.That(Errors(t => t.Name = name), Is.Empty);
    }

    [Test]
    public void An_order_target_with_refunds_but_not_payments_is_refused_and_one_with_both_or_an_event_target_passes()
    {
        var errors = Errors(t => t.Events = ["charge.refunded", "charge.dispute.*"]);
        Assert.That(errors, Has.One.Contains("subscribes to refunds or disputes but not to checkout.session.completed").And.Contain("Fulfillment:Targets:0:Events"));

        Assert.That(Errors(t => t.Events = ["checkout.session.*", "charge.refunded", "charge.dispute.*"]), Is.Empty);
        Assert.That(Errors(t => { t.Events = ["charge.refunded"]; t.Format = TargetOptions.EventFormat; }), Is.Empty);
    }

    [Test]
    public void A_duplicate_name_names_both_keys()
    {
        var errors = Errors(Valid(), Valid("archive"), Valid());

        Assert.That(errors, Is.EqualTo(new[]
        {
            "Fulfillment:Targets:2:Name 'warehouse' is already used by Fulfillment:Targets:0: target names must be unique.",
        }));
    }

    [Test]
    public void A_missing_url_is_named_with_an_example()
    {
        Assert.That(Errors(t => t.Url = ""), Is.EqualTo(new[]
        {
            $"{Key}:Url is required: the partner's endpoint, for example https://fulfillment.example.com/webhooks/stripe-orders.",
        }));
    }

    [TestCase("/webhooks/stripe-orders")]
    [TestCase("fulfillment.example.com/webhooks/stripe-orders")]
    [TestCase("ftp://fulfillment.example.com/webhooks/stripe-orders")]
    [TestCase("file:///webhooks/stripe-orders")]
    public void A_relative_or_non_http_url_is_refused(string url)
    {
        Assert.That(Errors(t => t.Url = url), Is.EqualTo(new[]
        {
            $"{Key}:Url must be an absolute http or https URL, for example https://fulfillment.example.com/webhooks/stripe-orders (the value given is not shown).",
        }));
    }

    [TestCase("https://elsewhere.example/webhooks/stripe-orders", "https://elsewhere.example/webhooks/stripe-orders")]
    [TestCase("https://fulfillment.example.com/webhooksevil", "https://fulfillment.example.com/webhooksevil")]
    [TestCase("https://fulfillment.example.com/webhooks/../admin", "https://fulfillment.example.com/admin")]
    [TestCase("http://fulfillment.example.com/webhooks/stripe-orders", "http://fulfillment.example.com/webhooks/stripe-orders")]
    public void A_url_outside_connect_src_names_the_target_its_url_and_the_manifest(string url, string shown)
    {
        var errors = Errors(t => t.Url = url);

        Assert.That(errors, Is.EqualTo(new[]
        {
            $"{Label} sends to {shown} (Fulfillment:Targets:0:Url), which the manifest {RepoManifest.SourcePath} does not allow: " +
            "add that URL, or a folder URL ending in '/' above it, to ui_extension.content_security_policy.connect-src " +
            "(merchants' data goes nowhere the manifest does not list), or correct the target's Url.",
        }));
        Assert.That(RepoManifest.SourcePath, Does.EndWith(Path.Combine("manifest", "stripe-app.json")));
    }

    // A Url with user-info is refused without echoing the credential, and the message points at Headers instead.
    [TestCase("https://partner:s3cr3t-token@fulfillment.example.com/webhooks/stripe-orders")]
    [TestCase("ftp://partner:s3cr3t-token@fulfillment.example.com/webhooks/stripe-orders")]
    public void A_url_with_credentials_is_refused_without_echoing_them(string url)
    {
        var errors = Errors(t => t.Url = url);

        Assert.That(errors, Has.Length.EqualTo(1));
        Assert.That(errors[0], Does.StartWith(Key));
        Assert.That(errors[0], Does.Not.Contain("s3cr3t-token"));
        Assert.That(errors[0], Does.Contain("Headers"));
    }

    [Test]
    public void A_missing_mode_says_it_has_no_default()
    {
        Assert.That(Errors(t => t.Mode = null), Is.EqualTo(new[]
        {
            $"{Key}:Mode must be 'live' or 'test' and has no default: a live target receives only live-mode events, a test target only test-mode events.",
        }));
    }

    [TestCase("")]
    [TestCase("production")]
    [TestCase("livemode")]
    public void An_invalid_mode_is_quoted(string mode)
    {
        Assert.That(Errors(t => t.Mode = mode), Is.EqualTo(new[]
        {
            $"{Key}:Mode must be 'live' or 'test' (got '{mode}'): a live target receives only live-mode events, a test target only test-mode events.",
        }));
    }

    [TestCase("LIVE", LiveKey)]
    [TestCase("Test", TestKey)]
    public void Mode_is_case_insensitive(string mode, string apiKey)
    {
        var target = Valid();
        target.Mode = mode;

        Assert.That(Errors(apiKey, target), Is.Empty);
    }

    [Test]
    public void Empty_events_are_named_with_examples()
    {
        Assert.That(Errors(t => t.Events = []), Is.EqualTo(new[]
        {
            $"{Key}:Events is empty: list the event types the target wants, for example checkout.session.completed and checkout.session.async_payment_succeeded, or checkout.session.*.",
        }));
    }

    [Test]
    public void A_blank_event_entry_is_named_by_its_index()
    {
        Assert.That(Errors(t => t.Events = ["checkout.session.completed", " "]), Is.EqualTo(new[] { $"{Key}:Events:1 is empty." }));
    }

    [Test]
    public void An_event_the_manifest_does_not_permit_names_the_permissions_that_would_allow_it()
    {
        var errors = Errors(t => t.Events = ["checkout.session.completed", "invoice.paid"]);

        Assert.That(errors, Has.Length.EqualTo(1));
        Assert.That(errors[0], Does.StartWith($"{Label} subscribes to 'invoice.paid' ({Key}:Events:1), which the app can never receive: "));
        Assert.That(errors[0], Does.Contain("event_read").And.Contain("invoice_read").And.Contain("credit_note_read").And.Contain("quote_read"));
        Assert.That(errors[0], Does.Contain("stripe-app.json"));
        // The same permissions the policy reports, so a row added to the table shows up here too.
        Assert.That(Policy.Evaluate("invoice.paid").PermissionsThatWouldAllow, Is.Not.Empty);
        foreach (var permission in Policy.Evaluate("invoice.paid").PermissionsThatWouldAllow)
        {
            Assert.That(errors[0], Does.Contain(permission));
        }
    }

    [Test]
    public void An_event_type_not_in_the_table_is_refused()
    {
        var errors = Errors(t => t.Events = ["checkout.session.teleported"]);

        Assert.That(errors, Has.Length.EqualTo(1));
        Assert.That(errors[0], Does.StartWith($"{Label} subscribes to 'checkout.session.teleported' ({Key}:Events:0), which the app can never receive: "));
        Assert.That(errors[0], Does.Contain("not in SyncWorker's event-permission table"));
    }

    [TestCase("invoice.*")]
    [TestCase("checkout.sessions.*")]
    public void A_wildcard_matching_no_permitted_type_names_the_manifest(string pattern)
    {
        Assert.That(Errors(t => t.Events = ["checkout.session.completed", pattern]), Is.EqualTo(new[]
        {
            $"{Label} subscribes to '{pattern}' ({Key}:Events:1), which matches no event type the manifest {RepoManifest.SourcePath} permits: " +
            "grant the permission those events need in the manifest, or remove the pattern.",
        }));
    }

    [TestCase("checkout.session.*")]
    [TestCase("charge.*")]
    [TestCase("customer.*")]
    [TestCase("*")]
    public void A_wildcard_matching_a_permitted_type_passes(string pattern)
    {
        // An event target: an order target subscribed to charge.* must also get its orders' payments (tested above).
        Assert.That(Errors(t => { t.Events = [pattern]; t.Format = TargetOptions.EventFormat; }), Is.Empty);
    }

    [TestCase("json")]
    [TestCase("Order")]
    [TestCase("")]
    public void An_invalid_format_is_quoted(string format)
    {
        Assert.That(Errors(t => t.Format = format), Is.EqualTo(new[]
        {
            $"{Key}:Format must be 'order' (the order document) or 'event' (the raw Stripe event); got '{format}'.",
        }));
    }

    [Test]
    public void Accounts_entries_must_be_account_ids()
    {
        var errors = Errors(t => t.Accounts = [TargetTestData.Merchant, "cus_Sx7ExampleCus01", ""]);

        Assert.That(errors, Is.EqualTo(new[]
        {
            $"{Key}:Accounts:1 must be a Stripe account id (acct_…); got 'cus_Sx7ExampleCus01'. Leave Accounts empty to serve every installing account.",
            $"{Key}:Accounts:2 must be a Stripe account id (acct_…); got ''. Leave Accounts empty to serve every installing account.",
        }));
    }

    [TestCase("", TestName = "an empty signing secret")]
    [TestCase("s3cr3t-value-typed-by-hand", TestName = "a signing secret without whsec_")]
    [TestCase("whsec_!!not*base64!!", TestName = "a signing secret that is not base64")]
    [TestCase("whsec_c2hvcnQta2V5LW9ubHk=", TestName = "a signing secret of 14 bytes")]
    public void A_bad_signing_secret_is_named_and_not_echoed(string secret)
    {
        var errors = Errors(t => t.SigningSecret = secret);

        Assert.That(errors, Has.Length.EqualTo(1));
        Assert.That(errors[0], Does.StartWith($"{Key}:SigningSecret ").And.Contain("whsec_ followed by the base64"));
        if (secret.Length > 0)
        {
            Assert.That(errors[0], Does.Not.Contain(secret));
            Assert.That(errors[0], Does.Not.Contain(secret.Replace("whsec_", "", StringComparison.Ordinal)));
        }
    }

    [TestCase("")]
    [TestCase("  ")]
    public void An_order_target_without_an_api_key_names_Stripe_ApiKey(string apiKey)
    {
        Assert.That(Errors(apiKey, Valid()), Is.EqualTo(new[]
        {
            "Stripe:ApiKey (or Stripe:ApiKeys:Live and Stripe:ApiKeys:Test, a key per mode) is required when a target uses Format order: " +
            "set it to a secret key (sk_…) or restricted key (rk_…) with checkout_session_read.",
        }));
    }

    [Test]
    public void A_live_order_target_with_a_test_key_is_refused_without_echoing_the_key()
    {
        var errors = Errors(TestKey, Valid());

        Assert.That(errors, Is.EqualTo(new[]
        {
            $"{Label} is a live target with Format order, but no key reads live Checkout Sessions (Stripe:ApiKey is a test-mode key): " +
            "set Stripe:ApiKeys:Live to a live key (sk_live_… or rk_live_…), or set the target's Mode to test.",
        }));
        Assert.That(errors[0], Does.Not.Contain(TestKey));
    }

    [Test]
    public void Event_format_targets_need_no_api_key()
    {
        var live = Valid();
        live.Format = TargetOptions.EventFormat;
        var test = Valid("warehouse-test");
        test.Format = TargetOptions.EventFormat;
        test.Mode = "test";

        Assert.That(Validate("", live, test).Succeeded, Is.True);
    }

    [Test]
    public void Several_errors_are_reported_together_each_with_its_own_key()
    {
        var broken = new TargetOptions
        {
            Name = "",
            Url = "ftp://fulfillment.example.com/webhooks/stripe-orders",
            Mode = null,
            Events = [],
            Format = "xml",
            Accounts = ["merchant-1"],
            SigningSecret = "",
        };
        var outside = Valid("archive");
        outside.Url = "https://elsewhere.example/hooks";
        outside.Events = ["invoice.*"];

        var errors = Errors("", Valid(), broken, outside);

        Assert.That(errors, Has.Length.EqualTo(10), () => string.Join(Environment.NewLine, errors));
        Assert.That(errors[0], Does.StartWith("Fulfillment:Targets:1:Name is required"));
        Assert.That(errors[1], Does.StartWith("Fulfillment:Targets:1:Url must be an absolute http or https URL"));
        Assert.That(errors[2], Does.StartWith("Fulfillment:Targets:1:Mode must be 'live' or 'test' and has no default"));
        Assert.That(errors[3], Does.StartWith("Fulfillment:Targets:1:Events is empty"));
        Assert.That(errors[4], Does.StartWith("Fulfillment:Targets:1:Format must be"));
        Assert.That(errors[5], Does.StartWith("Fulfillment:Targets:1:Accounts:0 must be a Stripe account id"));
        Assert.That(errors[6], Does.StartWith("Fulfillment:Targets:1:SigningSecret is empty"));
        Assert.That(errors[7], Does.StartWith("Fulfillment:Targets:2 ('archive') sends to https://elsewhere.example/hooks (Fulfillment:Targets:2:Url),"));
        Assert.That(errors[8], Does.StartWith("Fulfillment:Targets:2 ('archive') subscribes to 'invoice.*' (Fulfillment:Targets:2:Events:0)"));
        Assert.That(errors[9], Does.StartWith("Stripe:ApiKey (or Stripe:ApiKeys:Live and Stripe:ApiKeys:Test, a key per mode) is required"));
    }

    [TestCase("http://fulfillment.example.com/webhooks/stripe-orders", "fulfillment.example.com")]
    [TestCase("http://10.0.0.5:8080/webhooks/stripe-orders", "10.0.0.5:8080")]
    [TestCase("http://localhost.example.com/webhooks/stripe-orders", "localhost.example.com")]
    [TestCase("http://127.0.0.1.nip.io/webhooks/stripe-orders", "127.0.0.1.nip.io")]
    [TestCase("http://[fe80::1]/webhooks/stripe-orders", "[fe80::1]")]
    public void In_Production_a_live_target_over_plain_http_is_refused_naming_the_key_and_the_fix(string url, string shown)
    {
        var errors = ErrorsFor(Environments.Production, url, "live");

        Assert.That(errors, Is.EqualTo(new[]
        {
            $"{Key}:Url uses http://{shown}, but 'warehouse' is a live target (Mode live) and this is the Production environment: " +
            "live customer data goes over HTTPS only. Use the partner's https:// URL (listed in the manifest's connect-src), or " +
            $"set {Key}:Mode to test for a test-mode partner; in Production, http:// is allowed only to a loopback host " +
            "(localhost, 127.0.0.0/8, ::1).",
        }));
    }

    [TestCase("http://localhost:9090/fulfillment/orders")]
    [TestCase("http://LocalHost:9090/fulfillment/orders")]
    [TestCase("http://127.0.0.1:8080/fulfillment/orders")]
    [TestCase("http://127.10.20.30/fulfillment/orders")]
    [TestCase("http://[::1]:8080/fulfillment/orders")]
    public void In_Production_a_live_target_over_http_to_a_loopback_host_passes(string url)
    {
        Assert.That(ErrorsFor(Environments.Production, url, "live"), Is.Empty);
    }

    [Test]
    public void In_Production_a_test_mode_target_over_http_passes()
    {
        Assert.That(ErrorsFor(Environments.Production, "http://fulfillment.example.com/webhooks/stripe-orders", "test"), Is.Empty);
    }

    [TestCase("Development")]
    [TestCase("Staging")]
    public void Outside_Production_a_live_target_over_http_passes(string environment)
    {
        Assert.That(ErrorsFor(environment, "http://fulfillment.example.com/webhooks/stripe-orders", "live"), Is.Empty);
    }

    [Test]
    public void In_Production_a_live_target_over_https_passes()
    {
        Assert.That(ErrorsFor(Environments.Production, "https://fulfillment.example.com/webhooks/stripe-orders", "live"), Is.Empty);
    }

    [Test]
    public void More_targets_than_the_bus_connection_has_channels_for_is_refused_naming_the_key_and_the_brokers_setting()
    {
        Assert.That(SyncWorker.Messaging.RabbitMqEndpoint.TryParse("amqp://guest:guest@localhost:5672/", out var endpoint, out _), Is.True);
        var transport = new SyncWorker.Messaging.MessagingTransport(endpoint, "syncworker") { ChannelMax = 64 };
        var validation = new FulfillmentOptionsValidation(
            RepoManifest, Policy, Options.Create(new StripeApiOptions { ApiKey = LiveKey }), new HostingEnvironment { EnvironmentName = Environments.Development }, transport);

        var fits = validation.Validate(Options.DefaultName, new FulfillmentOptions { Targets = [.. Enumerable.Range(0, 60).Select(i => Valid($"t{i}"))] });
        var tooMany = validation.Validate(Options.DefaultName, new FulfillmentOptions { Targets = [.. Enumerable.Range(0, 61).Select(i => Valid($"t{i}"))] });

        Assert.Multiple(() =>
        {
            Assert.That(fits.Failed, Is.False, fits.FailureMessage);
            Assert.That(tooMany.Failures, Has.One.Contains("Fulfillment:Targets has 61 targets").And.Contains("RabbitMq:ChannelMax 64")
                .And.Contains("room for 60").And.Contains("channel_max").And.Contains("at least 65"));
        });
    }
}
