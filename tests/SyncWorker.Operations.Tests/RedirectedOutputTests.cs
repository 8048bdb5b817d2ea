using Spectre.Console;
using SyncWorker.Operations.Tests.Backfill;
using SyncWorker.Testing;

namespace SyncWorker.Operations.Tests;

/// <summary>
/// Every verb with a table, its output redirected (a pipe, a file, a CI log) and on a narrow terminal: each identifier
/// (event, delivery, account, target, queue) appears whole on one line, so <c>| grep evt_…</c> finds it.
/// </summary>
[TestFixture]
public sealed class RedirectedOutputTests
{
    private static readonly DateTimeOffset Now = DeadLetterSpec.DefaultFailedAt.AddHours(2);

    private const string LongTarget = "warehouse-central-europe-frankfurt";

    private static readonly string[] Targets = [LongTarget, "dropship"];

    private RabbitMqNode _node = null!;
    private VirtualHostPool _virtualHosts = null!;

    [OneTimeSetUp]
    public async Task StartBrokerAsync()
    {
        _node = await RabbitMqNode.LaunchAsync();
        _virtualHosts = new VirtualHostPool(_node);
        await _virtualHosts.FillAsync(4);
    }

    [OneTimeTearDown]
    public async Task StopBrokerAsync() => await _node.DisposeAsync();

    /// <summary>Dead letters with identifiers as long as Stripe's and the forwarder's are.</summary>
    private static DeadLetterSpec[] DeadLetters() =>
    [
        new(LongTarget, "evt_1QAbcDEFghiJKLmnoPQRstuV", Account: "acct_1Qx7ExampleMrch01",
            Reason: "Delivering order cs_live_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ (order.paid) to target 'warehouse-central-europe-frankfurt' failed after 5 attempts; last: 503 Service Unavailable."),
        new(LongTarget, "evt_1QBcdEFGhijKLMnopQRSuvwX", EventType: "checkout.session.async_payment_succeeded", Account: "acct_1Qx7OtherMerchant02",
            Reason: "Target 'warehouse-central-europe-frankfurt' refused order cs_live_b2 (order.paid): 422 Unprocessable Entity.", Status: 422, Permanent: true),
        new("dropship", "evt_1QCdeFGHijkLMNopqRSTvwxY", Action: "order.refunded", EventType: "charge.refunded", Account: "acct_1Qx7ThirdMerchant03"),
    ];

    private static IEnumerable<string> Identifiers(DeadLetterSpec d) => [d.EventId, d.DeliveryId, d.Account, d.EventType];

    [Test]
    public async Task Dead_letters_list_redirected_shows_every_identifier_whole()
    {
        var vhost = await _virtualHosts.TakeAsync();
        var deadLetters = DeadLetters();
        await DeadLetterSeed.SeedAsync(_node, vhost, deadLetters);

        var run = await RunRedirectedAsync(vhost, "dead-letters", "list");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        AssertWhole(run, deadLetters.SelectMany(Identifiers).Append(LongTarget).Append("syncworker.target." + LongTarget + "_error"));
    }

    [Test]
    public async Task Targets_list_status_and_replay_redirected_show_every_identifier_whole()
    {
        var vhost = await _virtualHosts.TakeAsync();
        await DeadLetterSeed.SeedAsync(_node, vhost, DeadLetters());
        string[] names = [LongTarget, "syncworker.target." + LongTarget, "dropship", "syncworker.target.dropship"];

        var targets = await RunRedirectedAsync(vhost, "targets", "list");
        Assert.That(targets.ExitCode, Is.Zero, targets.ToString());
        AssertWhole(targets, names);

        var status = await RunRedirectedAsync(vhost, "status");
        Assert.That(status.ExitCode, Is.Zero, status.ToString());
        AssertWhole(status, [LongTarget, "dropship"]);

        var replay = await RunRedirectedAsync(vhost, "dead-letters", "replay", "--all");
        Assert.That(replay.ExitCode, Is.Zero, replay.ToString());
        AssertWhole(replay, [LongTarget, "dropship"]);
    }

    [Test]
    public async Task Backfill_dry_run_redirected_shows_every_event_id_whole()
    {
        var vhost = await _virtualHosts.TakeAsync();
        using var stripe = new StripeEventsApi();
        var events = new[]
        {
            StripeEventsApi.Event("checkout.session.completed.json"),
            StripeEventsApi.Event("charge.refunded.json"),
            StripeEventsApi.Event("customer.created.json"),
        };
        stripe.ServePages(events);

        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await OperationsCli.RunAsync(
            ["backfill", "--since", "5d", "--dry-run"], stripe.Configuration(_node.AmqpUri(vhost)), RedirectedConsole(output), error,
            new FixedTime(new DateTimeOffset(2026, 8, 10, 0, 0, 0, TimeSpan.Zero)), CancellationToken.None);
        var run = new CliRun(exit, output.ToString(), error.ToString());

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        AssertWhole(run, events.Select(e => e.Id).Concat(events.Select(e => e.Type)));
    }

    [Test]
    public async Task Dead_letters_list_on_a_narrow_terminal_keeps_identifiers_whole()
    {
        var vhost = await _virtualHosts.TakeAsync();
        var deadLetters = DeadLetters();
        await DeadLetterSeed.SeedAsync(_node, vhost, deadLetters);
        using var output = new StringWriter();
        using var error = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new TerminalOutput(output, width: 60),
            Interactive = InteractionSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Ansi = AnsiSupport.No,
        });

        var exit = await OperationsCli.RunAsync(
            ["dead-letters", "list"], CliHarness.Configuration(_node.AmqpUri(vhost), Targets), console, error, new FixedTime(Now), CancellationToken.None);
        var run = new CliRun(exit, output.ToString(), error.ToString());

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        AssertWhole(run, deadLetters.SelectMany(Identifiers));
    }

    /// <summary>Each identifier on some line of standard output, whole: what <c>grep</c> would find.</summary>
    private static void AssertWhole(CliRun run, IEnumerable<string> identifiers)
    {
        var lines = run.Output.Split('\n');
        Assert.Multiple(() =>
        {
            foreach (var id in identifiers)
            {
                Assert.That(lines.Any(line => line.Contains(id, StringComparison.Ordinal)), Is.True, $"'{id}' whole on one line of:\n{run.Output}");
            }

            Assert.That(run.Output, Does.Not.Contain("\u001b["), "no terminal escape sequences in redirected output");
        });
    }

    /// <summary>The console Spectre makes for standard output that is not a terminal: its default width (80).</summary>
    private static IAnsiConsole RedirectedConsole(StringWriter output) =>
        AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });

    private async Task<CliRun> RunRedirectedAsync(string vhost, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await OperationsCli.RunAsync(
            args, CliHarness.Configuration(_node.AmqpUri(vhost), Targets), RedirectedConsole(output), error, new FixedTime(Now), CancellationToken.None);
        return new CliRun(exit, output.ToString(), error.ToString());
    }
}
