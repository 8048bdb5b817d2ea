using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using RabbitMQ.Client;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Hosting;
using SyncWorker.Forwarding.Ledger;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Messaging;
using SyncWorker.Store;
using SyncWorker.Store.Hosting;
using SyncWorker.Store.Ledger;
using SyncWorker.Testing;

namespace SyncWorker.Forwarding.Tests.Hosting;

/// <summary>
/// <see cref="ForwardingGauges"/> sampling a private RabbitMQ node: the poison queue's and the intake error queue's gauges,
/// failed samples (counted, their series dropped), and the deliveries waiting for a redelivery per target, from a SQLite
/// delivery ledger.
/// </summary>
[TestFixture]
public sealed class ForwardingGaugesTests
{
    private const string PoisonGauge = "syncworker.poison.messages";
    private const string IntakeGauge = "syncworker.intake.messages";
    private const string IntakeDeadLettersGauge = "syncworker.intake.dead_letters";

    [Test]
    public async Task Poison_gauge_is_absent_without_the_queue_and_reports_its_depth_once_found_and_the_intake_dead_letters_are_counted()
    {
        await using var node = await RabbitMqNode.LaunchAsync();
        var vhost = await node.CreateVirtualHostAsync();
        await using var harness = await GaugeHarness.StartAsync(node, vhost, new FulfillmentOptions());

        await harness.SampleAsync();
        Assert.That(harness.Values.ContainsKey(PoisonGauge), Is.False, "no syncworker.poison queue: the gauge reports nothing");
        Assert.That(harness.Values.GetValueOrDefault(IntakeDeadLettersGauge, -1), Is.Zero, "syncworker.intake_error, declared by SyncWorker, is empty");
        Assert.That(harness.Values.GetValueOrDefault(IntakeGauge, -1), Is.Zero, "the intake is sampled");

        await FillAsync(node, vhost, Topology.PoisonQueue, 3, new Dictionary<string, object?> { ["x-queue-type"] = "quorum" });
        await harness.SampleAsync();
        Assert.That(harness.Values.ContainsKey(PoisonGauge), Is.False, "not looked for again before the interval");

        harness.Time.Advance(ForwardingGauges.PoisonLookInterval);
        await harness.SampleAsync();
        Assert.That(harness.Values.GetValueOrDefault(PoisonGauge, -1), Is.EqualTo(3), "found, then sampled: the 3 poison messages");

        // Two events the dispatcher gave up on.
        await FillAsync(node, vhost, Topology.IntakeErrorQueue, 2, arguments: null);
        await harness.SampleAsync();
        Assert.That(harness.Values.GetValueOrDefault(IntakeDeadLettersGauge, -1), Is.EqualTo(2), "the 2 events in syncworker.intake_error");
        Assert.That(await Eventually.TrueAsync(() => node.ChannelErrors(vhost).Count == 1, TimeSpan.FromSeconds(10)), Is.True,
            "one channel error: the first look for the missing poison queue; " + string.Join("\n", node.ChannelErrors(vhost)));
    }

    [Test]
    public async Task A_failed_sample_is_counted_and_its_series_dropped_until_a_sample_succeeds_again()
    {
        await using var node = await RabbitMqNode.LaunchAsync();
        var vhost = await node.CreateVirtualHostAsync();
        var options = new FulfillmentOptions
        {
            Targets = [new TargetOptions { Name = "wms", Url = "https://wms.example.com/hooks", Events = ["checkout.session.completed"], Mode = "live" }],
        };
        await using var harness = await GaugeHarness.StartAsync(node, vhost, options);

        await harness.SampleAsync();
        Assert.That(harness.Depths.Keys, Is.SupersetOf(new[] { "wms/ready", "wms/dead_lettered", "wms/retry_waiting" }), "every series of the target");
        Assert.That(harness.Failures, Is.Empty);

        // Someone deletes the target's error queue.
        await using (var connection = await node.ConnectAsync(vhost))
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeleteAsync(Topology.TargetErrorQueue("wms"), ifUnused: false, ifEmpty: false);
        }

        await harness.SampleAsync();
        Assert.That(harness.Failures.GetValueOrDefault(Topology.TargetErrorQueue("wms")), Is.EqualTo(1), "the failed sample is counted");
        Assert.That(harness.Depths.Keys, Does.Not.Contain("wms/dead_lettered"), "its series is dropped, not left stale");
        Assert.That(harness.Depths.Keys, Does.Contain("wms/ready"), "the others stay");

        await harness.SampleAsync();
        Assert.That(harness.Failures.GetValueOrDefault(Topology.TargetErrorQueue("wms")), Is.EqualTo(1), "a queue no longer known is not asked about");

        harness.Time.Advance(ForwardingGauges.DeclareRetryInterval);
        await harness.SampleAsync();
        Assert.That(harness.Depths.GetValueOrDefault("wms/dead_lettered", -1), Is.Zero, "declared again, sampled again");
    }

    [Test]
    public async Task Retry_waiting_is_counted_per_target_in_the_ledger_at_most_once_a_minute_not_read_from_the_shared_delay_queues()
    {
        await using var node = await RabbitMqNode.LaunchAsync();
        var vhost = await node.CreateVirtualHostAsync();
        var options = new FulfillmentOptions
        {
            Targets =
            [
                new TargetOptions { Name = "wms", Url = "https://wms.example.com/hooks", Events = ["checkout.session.completed"], Mode = "live" },
                new TargetOptions { Name = "erp", Url = "https://erp.example.com/hooks", Events = ["checkout.session.completed"], Mode = "live" },
                new TargetOptions { Name = "audit", Url = "https://audit.example.com/hooks", Events = ["checkout.session.completed"], Mode = "live" },
            ],
        };
        await using var harness = await GaugeHarness.StartAsync(node, vhost, options);
        // Seven deliveries of whatever targets wait in a shared delay queue: no target's number.
        await FillAsync(node, vhost, Topology.DelayQueue(5), 7, QueueArguments.DelayQueue(QueueType.Classic, TimeSpan.FromHours(1)));
        await RowAsync(harness.Ledger, "wms", "cs_g1", DeliveryState.Retrying);
        await RowAsync(harness.Ledger, "wms", "cs_g2", DeliveryState.Retrying);
        await RowAsync(harness.Ledger, "wms", "cs_g3", DeliveryState.Delivered);
        await RowAsync(harness.Ledger, "erp", "cs_g1", DeliveryState.Waiting);
        await RowAsync(harness.Ledger, "erp", "cs_g2", DeliveryState.DeadLettered);

        await harness.SampleAsync();
        Assert.That((harness.Depths["wms/retry_waiting"], harness.Depths["erp/retry_waiting"], harness.Depths["audit/retry_waiting"]), Is.EqualTo((2L, 1L, 0L)));

        await RowAsync(harness.Ledger, "erp", "cs_g3", DeliveryState.Retrying);
        harness.Time.Advance(ForwardingGauges.SampleInterval);
        await harness.SampleAsync();
        Assert.That(harness.Depths["erp/retry_waiting"], Is.EqualTo(1), "the ledger is not counted again within the minute");

        harness.Time.Advance(ForwardingGauges.LedgerCountInterval);
        await harness.SampleAsync();
        Assert.That(harness.Depths["erp/retry_waiting"], Is.EqualTo(2), "counted again after a minute");
        Assert.That(harness.Failures, Is.Empty);
    }

    private static async Task RowAsync(SqlDeliveryLedger ledger, string target, string order, DeliveryState state)
    {
        var claim = new DeliveryClaim(DeliveryKey.ForOrder(target, order, "order.paid"), "evt_" + order, $"msg_{target}_{order}");
        await ledger.ClaimAsync(claim, "forwarder-a", TimeSpan.FromMinutes(5), force: false, CancellationToken.None);
        await ledger.FinishAsync(claim.Key.Value, "forwarder-a", state, 503, "x", attempts: [], CancellationToken.None);
    }

    /// <summary>Gauges on a private node, sampled by hand with a fake clock, and what they report.</summary>
    private sealed class GaugeHarness : IAsyncDisposable
    {
        private readonly ServiceProvider _provider;
        private readonly MeterListener _listener;
        private readonly ForwardingGauges _gauges;

        private GaugeHarness(ServiceProvider provider, MeterListener listener, ForwardingGauges gauges)
        {
            Ledger = provider.GetRequiredService<SqlDeliveryLedger>();
            _provider = provider;
            _listener = listener;
            _gauges = gauges;
        }

        public FakeTimeProvider Time { get; private init; } = null!;

        /// <summary>The forwarders' ledger (SQLite, migrated), as the gauges read it.</summary>
        public SqlDeliveryLedger Ledger { get; }

        private string Folder { get; init; } = null!;

        public ConcurrentDictionary<string, long> Values { get; } = new(StringComparer.Ordinal);

        public ConcurrentDictionary<string, long> Depths { get; } = new(StringComparer.Ordinal);

        public ConcurrentDictionary<string, long> Failures { get; } = new(StringComparer.Ordinal);

        public static async Task<GaugeHarness> StartAsync(RabbitMqNode node, string vhost, FulfillmentOptions options)
        {
            var uri = node.AmqpUri(vhost).ToString();
            Assert.That(RabbitMqEndpoint.TryParse(uri, out var endpoint, out var problem), Is.True, problem);
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["RabbitMq:Uri"] = uri }).Build();
            var transport = new MessagingTransport(endpoint, "gauges-test") { Nodes = RabbitMqClusterSettings.ReadNodes(configuration, endpoint!) };
            var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
            var services = new ServiceCollection();
            services.AddMetrics();
            services.AddSingleton<TimeProvider>(time);
            services.AddSingleton(new BrokerAdmin(transport));
            // The store as a forwarder has it: migrated, watched, and the ledger in use (DeliveryLedgerGate).
            var folder = Path.Combine(Path.GetTempPath(), "syncworker-gauges", Guid.NewGuid().ToString("N")[..8]);
            services.AddLogging();
            services.AddSingleton(StoreSettings.Resolve(
                new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Store:DataDirectory"] = folder }).Build(), AppContext.BaseDirectory));
            services.AddSingleton<StoreMigrator>();
            services.AddSingleton<StoreMonitor>();
            services.AddSingleton<SqlDeliveryLedger>();
            services.AddSingleton<IDeliveryLedger>(sp => sp.GetRequiredService<SqlDeliveryLedger>());
            services.AddSingleton<DeliveryLedgerGate>();
            var provider = services.BuildServiceProvider();
            var monitor = provider.GetRequiredService<StoreMonitor>();
            await monitor.StartAsync(CancellationToken.None);
            await monitor.FirstReady.WaitAsync(TimeSpan.FromSeconds(30));
            var meters = provider.GetRequiredService<IMeterFactory>();
            var targets = new TargetRegistry(Options.Create(options));
            var supervisor = new TargetEndpointSupervisor(
                provider, targets, new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance), NullLogger<TargetEndpointSupervisor>.Instance);
            var listener = new MeterListener();
            var gauges = new ForwardingGauges(meters, targets, new TargetCircuitStates(), supervisor, provider, NullLogger<ForwardingGauges>.Instance);
            var harness = new GaugeHarness(provider, listener, gauges) { Time = time, Folder = folder };

            // What the bus's endpoints and the dispatcher declare in the worker; the gauges sample them once known.
            var admin = provider.GetRequiredService<BrokerAdmin>();
            await admin.EnsureEndpointQueueAsync(Topology.IntakeQueue, CancellationToken.None);
            foreach (var route in targets.Routes)
            {
                await admin.EnsureEndpointQueueAsync(route.QueueName, CancellationToken.None);
            }

            listener.InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, meters))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => harness.Record(instrument.Name, value, tags));
            listener.Start();
            return harness;
        }

        public async Task SampleAsync()
        {
            await _gauges.SampleAsync(_provider.GetRequiredService<BrokerAdmin>(), CancellationToken.None);
            Values.Clear();
            Depths.Clear();
            _listener.RecordObservableInstruments();
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Dispose();
            _gauges.Dispose();
            await _provider.GetRequiredService<StoreMonitor>().StopAsync(CancellationToken.None);
            await _provider.DisposeAsync();
            if (Directory.Exists(Folder))
            {
                Directory.Delete(Folder, recursive: true);
            }
        }

        private void Record(string instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var labels = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var tag in tags)
            {
                labels[tag.Key] = tag.Value as string;
            }

            switch (instrument)
            {
                case "syncworker.queue.messages":
                    Depths[$"{labels["target"]}/{labels["state"]}"] = value;
                    break;
                case "syncworker.queue.sample_failures":
                    Failures.AddOrUpdate(labels["queue"]!, value, (_, n) => n + value);
                    break;
                default:
                    Values[instrument] = value;
                    break;
            }
        }
    }

    /// <summary>Declares <paramref name="queue"/> and puts <paramref name="count"/> small messages in it.</summary>
    private static async Task FillAsync(RabbitMqNode node, string vhost, string queue, int count, IDictionary<string, object?>? arguments)
    {
        await using var connection = await node.ConnectAsync(vhost);
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, arguments: arguments);
        for (var i = 0; i < count; i++)
        {
            await channel.BasicPublishAsync(string.Empty, queue, new ReadOnlyMemory<byte>([1, 2, 3]));
        }
    }
}
