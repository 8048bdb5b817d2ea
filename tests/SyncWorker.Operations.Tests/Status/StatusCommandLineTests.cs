using Microsoft.Extensions.Configuration;
using SyncWorker.Operations.Cli;
using SyncWorker.Operations.Status;

namespace SyncWorker.Operations.Tests.Status;

/// <summary>Usage and configuration errors of <c>status</c>: reported before a broker or worker is contacted (none runs here).</summary>
[TestFixture]
public sealed class StatusCommandLineTests
{
    /// <summary>Nothing listens there: a run that got as far as connecting would exit 1, not 2 or 78.</summary>
    private const string Unreachable = "amqp://ops:s3cr3t-pa55@127.0.0.1:1/";

    private const string Token = "status-token-0123456789abcdefABCDEF";

    [TestCase("5", 5000)]
    [TestCase("5s", 5000)]
    [TestCase("1.5s", 1500)]
    [TestCase("1500ms", 1500)]
    [TestCase("2m", 120000)]
    [TestCase("1h", 3600000)]
    public void Interval_takes_a_duration(string text, int milliseconds) =>
        Assert.That(WatchInterval.Parse(text), Is.EqualTo(TimeSpan.FromMilliseconds(milliseconds)));

    [TestCase("500ms", "out of range")]
    [TestCase("0s", "out of range")]
    [TestCase("2h", "out of range")]
    [TestCase("soon", "takes a duration")]
    [TestCase("-5s", "takes a duration")]
    [TestCase("5 s", "takes a duration")]
    public void Interval_out_of_range_or_malformed_is_a_usage_error(string text, string reason)
    {
        var error = Assert.Throws<CliException>(() => WatchInterval.Parse(text));

        Assert.That(error!.ExitCode, Is.EqualTo(2));
        Assert.That(error.Message, Does.Contain(reason));
    }

    [TestCase("status", "--interval", "5s")]
    [TestCase("status", "--watch", "--interval", "0.2s")]
    [TestCase("status", "--worker", "ftp://10.0.0.5/")]
    [TestCase("status", "--worker", "10.0.0.5:8080")]
    [TestCase("status", "--worker", "http://10.0.0.5:8080/?debug=1")]
    [TestCase("status", "--watch", "--interval")]
    [TestCase("status", "--verbose")]
    public async Task Wrong_options_are_usage_errors(params string[] args)
    {
        var run = await CliHarness.RunAsync(Configuration(Token), args);

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Error, Does.StartWith("error: "));
        Assert.That(run.Output, Is.Empty);
    }

    [Test]
    public async Task A_worker_URL_with_a_password_is_refused_without_showing_it()
    {
        var run = await CliHarness.RunAsync(Configuration(Token), "status", "--worker", "http://ops:hunter2-secret@10.0.0.5:8080/?x=1");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Error, Does.Contain("http://***@10.0.0.5:8080/?x=1"));
        Assert.That(run.Error + run.Output, Does.Not.Contain("hunter2-secret"));
    }

    [Test]
    public async Task Workers_without_Admin_Token_exit_78_naming_the_key()
    {
        var run = await CliHarness.RunAsync(Configuration(null, "http://10.0.0.5:8080"), "status");

        Assert.That(run.ExitCode, Is.EqualTo(78), run.ToString());
        Assert.That(run.Error, Does.Contain("Admin:Token is not set").And.Contain("Admin__Token"));
    }

    [Test]
    public async Task A_malformed_configured_worker_exits_78_naming_the_key()
    {
        var run = await CliHarness.RunAsync(Configuration(Token, "http://10.0.0.5:8080", "nowhere"), "status");

        Assert.That(run.ExitCode, Is.EqualTo(78), run.ToString());
        Assert.That(run.Error, Does.Contain("Status:Workers:1 takes a worker's base URL"));
    }

    [Test]
    public async Task A_malformed_redelivery_delay_exits_78_naming_the_key()
    {
        var configuration = Configuration(Token);
        configuration["Fulfillment:Targets:0:Redelivery:DelaysSeconds:0"] = "five";

        var run = await CliHarness.RunAsync(configuration, "status");

        Assert.That(run.ExitCode, Is.EqualTo(78), run.ToString());
        Assert.That(run.Error, Does.Contain("Fulfillment:Targets:0:Redelivery:DelaysSeconds:0 is 'five'"));
    }

    [Test]
    public async Task Missing_RabbitMq_Uri_exits_78()
    {
        var configuration = Configuration(Token);
        configuration["RabbitMq:Uri"] = null;

        var run = await CliHarness.RunAsync(configuration, "status");

        Assert.That(run.ExitCode, Is.EqualTo(78), run.ToString());
        Assert.That(run.Error, Does.Contain("RabbitMq:Uri is not set"));
    }

    [Test]
    public async Task Unreachable_broker_exits_1_without_showing_a_secret()
    {
        var run = await CliHarness.RunAsync(Configuration(Token, "http://127.0.0.1:1"), "status", "--json");

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error, Does.Contain("Could not connect to RabbitMQ"));
        Assert.That(run.Output, Is.Empty);
        Assert.That(run.Error + run.Output, Does.Not.Contain("s3cr3t-pa55").And.Not.Contain(Token));
    }

    [Test]
    public async Task Help_describes_the_options()
    {
        var run = await CliHarness.RunAsync(Configuration(null), "status", "--help");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Output, Does.Contain("--watch").And.Contain("--interval").And.Contain("--worker").And.Contain("--json"));
    }

    private static IConfiguration Configuration(string? token, params string[] workers)
    {
        var configuration = CliHarness.Configuration(new Uri(Unreachable), CliHarness.Targets);
        configuration["Admin:Token"] = token;
        for (var i = 0; i < workers.Length; i++)
        {
            configuration[$"Status:Workers:{i}"] = workers[i];
        }

        return configuration;
    }
}
