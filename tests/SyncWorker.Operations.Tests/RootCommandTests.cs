namespace SyncWorker.Operations.Tests;

/// <summary>
/// The executable's one command line: the worker by default (or <c>serve</c>), the verbs, <c>--help</c>, and a mistyped
/// verb refused. The worker is a stand-in here that records the host arguments it was given.
/// </summary>
[TestFixture]
public sealed class RootCommandTests
{
    private static readonly string[] Verbs = ["serve", "dead-letters", "targets", "backfill", "status"];

    [TestCase]
    [TestCase("--urls", "http://127.0.0.1:5099")]
    [TestCase("--environment", "Production")]
    [TestCase("RabbitMq:Uri=amqp://guest:guest@localhost:5672/", "Worker:Role=Receiver")]
    [TestCase("--urls=http://127.0.0.1:5099", "--Logging:LogLevel:Default=Debug")]
    [TestCase("/urls", "http://127.0.0.1:5099")]
    public async Task Host_arguments_start_the_worker_with_every_argument(params string[] args)
    {
        var (run, served) = await RunAsync(args);

        Assert.That(run.ExitCode, Is.EqualTo(Served), run.ToString());
        Assert.That(served, Is.EqualTo(args), "the worker gets the command line unchanged");
        Assert.That(run.Output + run.Error, Is.Empty);
    }

    [TestCase("dead-letters", "list")]
    [TestCase("dead-letters", "replay")]
    [TestCase("targets", "pause")]
    [TestCase("backfill")]
    [TestCase("status")]
    public async Task Verbs_run_as_verbs_not_the_worker(params string[] verb)
    {
        var (run, served) = await RunAsync([.. verb, "--help"]);

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(served, Is.Null);
        Assert.That(run.Output, Does.Contain("Usage:").And.Contain(string.Join(' ', verb)));
    }

    [Test]
    public async Task Serve_starts_the_worker_with_the_arguments_after_it()
    {
        var (run, served) = await RunAsync("serve", "--urls", "http://127.0.0.1:5099", "Worker:Role=Forwarder");

        Assert.That(run.ExitCode, Is.EqualTo(Served), run.ToString());
        Assert.That(served, Is.EqualTo(new[] { "--urls", "http://127.0.0.1:5099", "Worker:Role=Forwarder" }));
    }

    [TestCase("--help")]
    [TestCase("-h")]
    [TestCase("-?")]
    public async Task Help_lists_serve_and_every_verb_with_a_line_each_and_starts_nothing(string help)
    {
        var (run, served) = await RunAsync(help);

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(served, Is.Null, "--help must not start the worker");
        var lines = run.Output.Split('\n');
        foreach (var verb in Verbs)
        {
            Assert.That(lines.Count(l => l.TrimStart().StartsWith(verb + " ", StringComparison.Ordinal)), Is.EqualTo(1), $"one line for {verb}:\n{run.Output}");
        }

        Assert.That(run.Output, Does.Contain("--urls").And.Contain("Key=Value"), "says how host arguments reach the worker");
    }

    [Test]
    public async Task Serve_help_describes_the_worker_and_starts_nothing()
    {
        var (run, served) = await RunAsync("serve", "--help");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(served, Is.Null);
        Assert.That(run.Output, Does.Contain("serve").And.Contain("--urls"));
    }

    [TestCase("dead-leters", "dead-letters")]
    [TestCase("deadletters", "dead-letters")]
    [TestCase("target", "targets")]
    [TestCase("stauts", "status")]
    [TestCase("backfil", "backfill")]
    [TestCase("server", "serve")]
    [TestCase("replay", "dead-letters replay")]
    [TestCase("pause", "targets pause")]
    public async Task A_bare_word_that_is_not_a_verb_exits_2_with_the_usage_and_the_nearest_verb(string word, string nearest)
    {
        var (run, served) = await RunAsync(word, "list");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(served, Is.Null, "a mistyped verb must not start a second worker");
        Assert.That(run.Error, Does.StartWith($"error: '{word}' is not a SyncWorker command."));
        Assert.That(run.Error, Does.Contain($"Did you mean '{nearest}'?"));
        Assert.That(run.Error, Does.Contain("Usage:").And.Contain("dead-letters").And.Contain("serve"), "the usage");
        Assert.That(run.Output, Is.Empty);
    }

    private const int Served = 42;

    private static async Task<(CliRun Run, string[]? Served)> RunAsync(params string[] args)
    {
        string[]? served = null;
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await OperationsCli.RunAsync(
            args,
            CliHarness.Configuration(null),
            CliHarness.Console(output),
            error,
            TimeProvider.System,
            hostArgs =>
            {
                served = hostArgs;
                return Task.FromResult(Served);
            },
            CancellationToken.None);
        return (new CliRun(exit, output.ToString(), error.ToString()), served);
    }
}
