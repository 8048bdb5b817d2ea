using Microsoft.Extensions.Configuration;
using SyncWorker.Operations.Backfill;
using SyncWorker.Operations.Cli;

namespace SyncWorker.Operations.Tests.Backfill;

/// <summary>Usage and configuration errors of <c>backfill</c>: reported before Stripe or a broker is contacted (none runs here).</summary>
[TestFixture]
public sealed class BackfillCommandLineTests
{
    /// <summary>Nothing listens there: a run that got as far as connecting would exit 1, not 2 or 78.</summary>
    private static readonly Uri Unreachable = new("amqp://ops:s3cr3t-pa55@127.0.0.1:1/");

    private const string NowText = "2026-11-26T12:00:00Z";

    private static readonly DateTimeOffset Now = DateTimeOffset.Parse(NowText, System.Globalization.CultureInfo.InvariantCulture);

    [TestCase("90m", "2026-11-26T10:30:00Z")]
    [TestCase("36h", "2026-11-25T00:00:00Z")]
    [TestCase("3d", "2026-11-23T12:00:00Z")]
    [TestCase("30d", "2026-10-27T12:00:00Z")]
    [TestCase("2026-11-20T00:00:00Z", "2026-11-20T00:00:00Z")]
    [TestCase("2026-11-20T01:30:00+01:00", "2026-11-20T00:30:00Z")]
    [TestCase("2026-11-20T00:00:00.250Z", "2026-11-20T00:00:00.250Z")]
    [TestCase("2026-11-20T06:00:00", "2026-11-20T06:00:00Z")]
    [TestCase("2026-11-20", "2026-11-20T00:00:00Z")]
    public void Since_takes_ISO_8601_or_a_time_relative_to_now(string text, string expected) =>
        Assert.That(
            BackfillSince.Parse(text, Now),
            Is.EqualTo(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture)));

    [TestCase("40d", "Stripe keeps events for 30 days")]
    [TestCase("721h", "Stripe keeps events for 30 days")]
    [TestCase("2026-10-01T00:00:00Z", "Stripe keeps events for 30 days")]
    [TestCase("2026-11-27T00:00:00Z", "in the future")]
    [TestCase("0h", "whole number from 1")]
    [TestCase("yesterday", "neither an ISO 8601 time")]
    [TestCase("11/20/2026", "neither an ISO 8601 time")]
    [TestCase("3w", "neither an ISO 8601 time")]
    public void Since_out_of_range_or_malformed_is_a_usage_error_that_says_why(string text, string reason)
    {
        var error = Assert.Throws<CliException>(() => BackfillSince.Parse(text, Now));

        Assert.That(error!.ExitCode, Is.EqualTo(2));
        Assert.That(error.Message, Does.Contain(reason));
    }

    [Test]
    public async Task Since_older_than_30_days_exits_2_naming_Stripes_retention()
    {
        var run = await RunAsync(Configuration(), "backfill", "--since", "40d");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Error, Does.Contain("--since 40d is 40 days ago, but Stripe keeps events for 30 days only"));
        Assert.That(run.Output, Is.Empty);
    }

    [TestCase("backfill")]
    [TestCase("backfill", "--since")]
    [TestCase("backfill", "--since", "2d", "--account", "cus_123")]
    [TestCase("backfill", "--since", "2d", "--limit", "5")]
    public async Task Missing_or_wrong_arguments_are_usage_errors(params string[] args)
    {
        var run = await RunAsync(Configuration(), args);

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Error, Does.StartWith("error: "));
    }

    [Test]
    public async Task Missing_Stripe_ApiKey_exits_78_naming_the_key()
    {
        var run = await RunAsync(Configuration(apiKey: null), "backfill", "--since", "2d");

        Assert.That(run.ExitCode, Is.EqualTo(78), run.ToString());
        Assert.That(run.Error, Does.Contain("Stripe:ApiKey is not set").And.Contain("Stripe__ApiKey"));
    }

    [TestCase("pk_live_publishable-key-value-123")]
    [TestCase("whsec_webhook-secret-value-123")]
    public async Task A_key_that_cannot_list_events_exits_78_without_showing_it(string key)
    {
        var run = await RunAsync(Configuration(apiKey: key), "backfill", "--since", "2d");

        Assert.That(run.ExitCode, Is.EqualTo(78), run.ToString());
        Assert.That(run.Error, Does.Contain("Stripe:ApiKey is not a secret key (sk_…) or restricted key (rk_…)"));
        Assert.That(run.Error + run.Output, Does.Not.Contain(key));
    }

    [Test]
    public async Task Invalid_Stripe_ApiBase_exits_78_naming_the_key()
    {
        var configuration = StripeEventsApi.BackfillConfiguration(Unreachable, "ftp://stripe.example", StripeEventsApi.ApiKey);

        var run = await RunAsync(configuration, "backfill", "--since", "2d");

        Assert.That(run.ExitCode, Is.EqualTo(78), run.ToString());
        Assert.That(run.Error, Does.Contain("Stripe:ApiBase must be an absolute http(s) URL"));
    }

    [Test]
    public async Task Missing_RabbitMq_Uri_exits_78_naming_the_key()
    {
        var run = await RunAsync(
            StripeEventsApi.BackfillConfiguration(null, "http://127.0.0.1:1", StripeEventsApi.ApiKey), "backfill", "--since", "2d");

        Assert.That(run.ExitCode, Is.EqualTo(78), run.ToString());
        Assert.That(run.Error, Does.Contain("RabbitMq:Uri is not set"));
    }

    [Test]
    public async Task Invalid_Store_Provider_exits_78_naming_the_key_before_connecting()
    {
        var configuration = new ConfigurationBuilder()
            .AddConfiguration(Configuration())
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Store:Provider"] = "Oracle" })
            .Build();

        var run = await RunAsync(configuration, "backfill", "--since", "2d");

        Assert.That(run.ExitCode, Is.EqualTo(78), run.ToString());
        Assert.That(run.Error, Does.Contain("Store:Provider must be Sqlite or Postgres"));
    }

    [Test]
    public async Task Missing_manifest_exits_78_naming_Manifest_Path()
    {
        var configuration = StripeEventsApi.BackfillConfiguration(
            Unreachable, "http://127.0.0.1:1", StripeEventsApi.ApiKey, manifestPath: "no/such/stripe-app.json");

        var run = await RunAsync(configuration, "backfill", "--since", "2d");

        Assert.That(run.ExitCode, Is.EqualTo(78), run.ToString());
        Assert.That(run.Error, Does.Contain("Manifest:Path").And.Contain("no/such/stripe-app.json"));
    }

    [Test]
    public void A_relative_manifest_path_is_looked_for_in_the_working_directory_then_the_application_directory()
    {
        var root = Directory.CreateTempSubdirectory("syncworker-backfill-");
        try
        {
            var working = Directory.CreateDirectory(Path.Combine(root.FullName, "work")).FullName;
            var application = Directory.CreateDirectory(Path.Combine(root.FullName, "app", "manifest")).Parent!.FullName;
            File.WriteAllText(Path.Combine(application, "manifest", "stripe-app.json"), "{}");

            Assert.That(
                BackfillSettings.ResolveManifestPath("manifest/stripe-app.json", working, application),
                Is.EqualTo(Path.Combine(application, "manifest", "stripe-app.json")),
                "only in the application directory");

            Directory.CreateDirectory(Path.Combine(working, "manifest"));
            File.WriteAllText(Path.Combine(working, "manifest", "stripe-app.json"), "{}");
            Assert.That(
                BackfillSettings.ResolveManifestPath("manifest/stripe-app.json", working, application),
                Is.EqualTo(Path.Combine(working, "manifest", "stripe-app.json")),
                "the working directory first");

            Assert.That(
                BackfillSettings.ResolveManifestPath("other.json", working, application),
                Is.EqualTo(Path.Combine(working, "other.json")),
                "neither: the working-directory path, for the error message");
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Test]
    public async Task Help_describes_the_options()
    {
        var run = await RunAsync(Configuration(), "backfill", "--help");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Output, Does.Contain("--since").And.Contain("--account").And.Contain("--dry-run").And.Contain("--json"));
    }

    private static IConfiguration Configuration(string? apiKey = StripeEventsApi.ApiKey) =>
        StripeEventsApi.BackfillConfiguration(Unreachable, "http://127.0.0.1:1", apiKey);

    private static Task<CliRun> RunAsync(Microsoft.Extensions.Configuration.IConfiguration configuration, params string[] args) =>
        CliHarness.RunAsync(configuration, new FixedTime(Now), args);
}
