using Microsoft.Extensions.Configuration;
using RabbitMQ.Client;
using SyncWorker.Contracts;
using SyncWorker.Messaging;
using SyncWorker.Testing;

namespace SyncWorker.Operations.Tests.Backfill;

/// <summary>
/// The upgrade from a ledger that earlier versions kept in a quorum queue, in a private two-node cluster, with runs connected
/// to the node that does not lead the queue: there a quorum queue takes back what a reader held a moment after the
/// reader's channel closed, and its message count lags behind, so a run that imports right after a dry run read the queue
/// may find it looking short or empty.
/// </summary>
[TestFixture]
public sealed class BackfillQuorumTests
{
    private static readonly DateTimeOffset Now = new(2026, 8, 10, 0, 0, 0, TimeSpan.Zero);

    private RabbitMqCluster _cluster = null!;

    [OneTimeSetUp]
    public async Task StartClusterAsync() => _cluster = await RabbitMqCluster.LaunchAsync(2);

    [OneTimeTearDown]
    public async Task StopClusterAsync() => await _cluster.DisposeAsync();

    [Test]
    public async Task A_dry_run_followed_at_once_by_a_real_run_imports_the_whole_old_quorum_ledger_and_feeds_each_event_once()
    {
        var vhost = await _cluster.CreateVirtualHostAsync();
        using var stripe = new StripeEventsApi();
        var events = Enumerable.Range(0, 150).Select(_ => StripeEventsApi.Event("customer.created.json")).ToArray();
        stripe.ServePages(events[..100], events[100..]);

        // An earlier version fed the first 100 and kept its ledger in a quorum queue led by node 1. The dry run connects to
        // node 2, the real runs to node 1, as runs do that pick any node of RabbitMq:Uri and RabbitMq:Hosts.
        var fedBefore = events[..100];
        await using (var connection = await _cluster.Nodes[0].ConnectAsync(vhost))
        {
            await LegacyLedgerQueue.SeedAsync(connection, fedBefore.Select(e => (e.Id, e.Type, (string?)null, Now.AddDays(-1))), QueueType.Quorum);
        }

        var viaFollower = Configuration(stripe, _cluster.Nodes[1].AmqpUri(vhost));
        var viaLeader = Configuration(stripe, _cluster.Nodes[0].AmqpUri(vhost));

        for (var round = 0; round < 3; round++)
        {
            var dryRun = await CliHarness.RunAsync(viaFollower, new FixedTime(Now), "backfill", "--since", "5d", "--dry-run", "--json");
            Assert.That(dryRun.ExitCode, Is.Zero, $"round {round}: {dryRun}");
            Assert.That(JsonCount(dryRun, "toFeed"), Is.EqualTo(round == 0 ? 50 : 0), $"round {round} (dry run): {dryRun.Error}");

            var run = await CliHarness.RunAsync(viaLeader, new FixedTime(Now), "backfill", "--since", "5d", "--json");
            Assert.That(run.ExitCode, Is.Zero, $"round {round}: {run}");
            Assert.That(JsonCount(run, "fed"), Is.EqualTo(round == 0 ? 50 : 0), $"round {round}: {run.Error}");
            Assert.That(JsonCount(run, "alreadyFed"), Is.EqualTo(round == 0 ? 100 : events.Length), $"round {round}: {run.Error}");
        }

        var intake = await _cluster.Nodes[0].DrainAsync(vhost, Topology.IntakeQueue);
        Assert.That(
            intake.Select(m => m.BasicProperties.MessageId),
            Is.EquivalentTo(events[100..].Select(e => MessageIds.ForStripeEvent(e.Id).ToString())),
            "each event fed once, none the old ledger named");
        Assert.That(await LegacyLedgerQueue.StoreEntriesAsync(viaLeader), Has.Count.EqualTo(events.Length));
    }

    private static IConfiguration Configuration(StripeEventsApi stripe, Uri node) =>
        new ConfigurationBuilder()
            .AddConfiguration(stripe.Configuration(node))
            .AddInMemoryCollection(new Dictionary<string, string?> { [RabbitMqClusterSettings.QueueTypeKey] = "quorum" })
            .Build();

    private static int JsonCount(CliRun run, string property)
    {
        using var document = System.Text.Json.JsonDocument.Parse(run.Output);
        return document.RootElement.GetProperty(property).GetInt32();
    }
}
