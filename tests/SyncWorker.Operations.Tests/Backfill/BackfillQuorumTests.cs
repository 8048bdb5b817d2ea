using Microsoft.Extensions.Configuration;
using RabbitMQ.Client;
using SyncWorker.Contracts;
using SyncWorker.Messaging;
using SyncWorker.Operations.Backfill;
using SyncWorker.Testing;

namespace SyncWorker.Operations.Tests.Backfill;

/// <summary>
/// <c>backfill</c> on quorum queues in a private two-node cluster, connected to the node that does not lead the ledger:
/// there a quorum queue takes back what a reader held a moment after the reader's channel closed, and its message count
/// lags behind, so the next run may start while the ledger looks short or empty.
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
    public async Task Dry_runs_followed_at_once_by_real_runs_feed_each_event_once()
    {
        var vhost = await _cluster.CreateVirtualHostAsync();
        using var stripe = new StripeEventsApi();
        var events = Enumerable.Range(0, 150).Select(_ => StripeEventsApi.Event("customer.created.json")).ToArray();
        stripe.ServePages(events[..100], events[100..]);

        // The ledger's leader on node 1. The dry runs connect to node 2, the real runs to node 1, as runs do that pick any
        // node of RabbitMq:Uri and RabbitMq:Hosts.
        await using (var connection = await _cluster.Nodes[0].ConnectAsync(vhost))
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeclareAsync(
                BackfillLedger.LedgerQueue, durable: true, exclusive: false, autoDelete: false, BackfillLedger.LedgerArguments(QueueType.Quorum));
        }

        var viaFollower = Configuration(stripe, _cluster.Nodes[1].AmqpUri(vhost));
        var viaLeader = Configuration(stripe, _cluster.Nodes[0].AmqpUri(vhost));

        // Every run reads the whole ledger (holding its entries, then handing them back); the run right after must see it all.
        for (var round = 0; round < 8; round++)
        {
            var dryRun = await CliHarness.RunAsync(viaFollower, new FixedTime(Now), "backfill", "--since", "5d", "--dry-run", "--json");
            Assert.That(dryRun.ExitCode, Is.Zero, $"round {round}: {dryRun}");
            Assert.That(JsonCount(dryRun, "toFeed"), Is.EqualTo(round == 0 ? events.Length : 0), $"round {round} (dry run): {dryRun.Error}");

            var run = await CliHarness.RunAsync(viaLeader, new FixedTime(Now), "backfill", "--since", "5d", "--json");
            Assert.That(run.ExitCode, Is.Zero, $"round {round}: {run}");
            Assert.That(JsonCount(run, "fed"), Is.EqualTo(round == 0 ? events.Length : 0), $"round {round}: {run.Error}");
            Assert.That(JsonCount(run, "alreadyFed"), Is.EqualTo(round == 0 ? 0 : events.Length), $"round {round}: {run.Error}");
        }

        var intake = await _cluster.Nodes[0].DrainAsync(vhost, Topology.IntakeQueue);
        Assert.That(
            intake.Select(m => m.BasicProperties.MessageId),
            Is.EquivalentTo(events.Select(e => MessageIds.ForStripeEvent(e.Id).ToString())),
            "each event fed once");
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
