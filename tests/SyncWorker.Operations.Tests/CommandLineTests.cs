namespace SyncWorker.Operations.Tests;

/// <summary>Usage and configuration errors: reported before any broker is contacted (none runs here).</summary>
[TestFixture]
public sealed class CommandLineTests
{
    /// <summary>Nothing listens there: a verb that got as far as connecting would exit 1, not 2 or 78.</summary>
    private static readonly Uri Unreachable = new("amqp://ops:s3cr3t-pa55@127.0.0.1:1/");

    [Test]
    public async Task Replay_without_event_or_all_is_a_usage_error()
    {
        var run = await CliHarness.RunAsync(CliHarness.Configuration(Unreachable, CliHarness.Targets), "dead-letters", "replay");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Error, Does.Contain("--event evt_").And.Contain("--all"));
        Assert.That(run.Output, Is.Empty);
    }

    [TestCase("--event", "evt_1A", "--all")]
    [TestCase("--event", "ch_1A")]
    [TestCase("--all", "--limit", "5")]
    public async Task Replay_with_conflicting_or_malformed_options_is_a_usage_error(params string[] options)
    {
        var run = await CliHarness.RunAsync(
            CliHarness.Configuration(Unreachable, CliHarness.Targets), ["dead-letters", "replay", .. options]);

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Error, Does.StartWith("error: "));
    }

    [TestCase("dead-letters", "list", "--target", "nowhere")]
    [TestCase("dead-letters", "replay", "--all", "--target", "nowhere")]
    [TestCase("targets", "pause", "nowhere")]
    [TestCase("targets", "resume", "nowhere")]
    public async Task Unknown_target_is_a_usage_error_naming_the_configured_targets(params string[] args)
    {
        var run = await CliHarness.RunAsync(CliHarness.Configuration(Unreachable, CliHarness.Targets), args);

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Error, Does.Contain("Unknown target 'nowhere'"));
        Assert.That(run.Error, Does.Contain("Fulfillment:Targets:N:Name): warehouse, dropship, archive."));
    }

    [TestCase("targets", "pause")]
    [TestCase("dead-letters")]
    [TestCase("dead-letters", "purge")]
    [TestCase("dead-letters", "list", "--limit", "0")]
    [TestCase("dead-letters", "list", "--limit", "many")]
    public async Task Missing_or_wrong_arguments_are_usage_errors_that_point_to_help(params string[] args)
    {
        var run = await CliHarness.RunAsync(CliHarness.Configuration(Unreachable, CliHarness.Targets), args);

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Error, Does.StartWith("error: "));
        Assert.That(run.Output, Is.Empty);
    }

    [Test]
    public async Task Help_lists_the_verbs_and_succeeds()
    {
        var run = await CliHarness.RunAsync(CliHarness.Configuration(null), "dead-letters", "--help");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Output, Does.Contain("list").And.Contain("replay"));
    }

    [TestCase("dead-letters", "list")]
    [TestCase("dead-letters", "replay", "--all")]
    [TestCase("targets", "list")]
    [TestCase("targets", "pause", "warehouse")]
    public async Task Missing_RabbitMq_Uri_exits_78_naming_the_key(params string[] args)
    {
        var run = await CliHarness.RunAsync(CliHarness.Configuration(null, CliHarness.Targets), args);

        Assert.That(run.ExitCode, Is.EqualTo(78), run.ToString());
        Assert.That(run.Error, Does.Contain("RabbitMq:Uri is not set").And.Contain("RabbitMq__Uri="));
    }

    [Test]
    public async Task Invalid_RabbitMq_Uri_exits_78_without_showing_the_password()
    {
        var configuration = CliHarness.Configuration(new Uri("http://ops:s3cr3t-pa55@rabbit.internal/"), CliHarness.Targets);

        var run = await CliHarness.RunAsync(configuration, "targets", "list");

        Assert.That(run.ExitCode, Is.EqualTo(78), run.ToString());
        Assert.That(run.Error, Does.Contain("RabbitMq:Uri"));
        Assert.That(run.Error + run.Output, Does.Not.Contain("s3cr3t-pa55"));
    }

    [Test]
    public async Task No_configured_targets_exits_78_naming_the_key()
    {
        var run = await CliHarness.RunAsync(CliHarness.Configuration(Unreachable), "targets", "list");

        Assert.That(run.ExitCode, Is.EqualTo(78), run.ToString());
        Assert.That(run.Error, Does.Contain("Fulfillment:Targets:0:Name"));
    }

    [Test]
    public async Task Unreachable_broker_exits_1_without_showing_the_password()
    {
        var run = await CliHarness.RunAsync(CliHarness.Configuration(Unreachable, CliHarness.Targets), "targets", "list");

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error, Does.Contain("Could not connect to RabbitMQ at amqp://ops:***@127.0.0.1:1/"));
        Assert.That(run.Error + run.Output, Does.Not.Contain("s3cr3t-pa55"));
    }
}
