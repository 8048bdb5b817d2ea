using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Hosting;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Messaging;
using SyncWorker.Testing;

namespace SyncWorker.Forwarding.Tests.Hosting;

/// <summary><see cref="ForwardingGauges"/> sampling a private RabbitMQ node: the poison queue's and the intake error queue's gauges.</summary>
[TestFixture]
public sealed class ForwardingGaugesTests
{
    private const string PoisonGauge = "syncworker.poison.messages";
    private const string IntakeGauge = "syncworker.intake.messages";
    private const string IntakeDeadLettersGauge = "syncworker.intake.dead_letters";

    [Test]
    public async Task Poison_gauge_is_absent_without_the_queue_and_reports_its_depth_once_it_exists_and_the_intake_dead_letters_are_counted()
    {
        await using var node = await RabbitMqNode.LaunchAsync();
        var vhost = await node.CreateVirtualHostAsync();
        var uri = node.AmqpUri(vhost).ToString();
        Assert.That(RabbitMqEndpoint.TryParse(uri, out var endpoint, out var problem), Is.True, problem);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["RabbitMq:Uri"] = uri }).Build();
        var transport = new MessagingTransport(endpoint, "gauges-test") { Nodes = RabbitMqClusterSettings.ReadNodes(configuration, endpoint!) };

        var services = new ServiceCollection();
        services.AddMetrics();
        services.AddSingleton(new BrokerAdmin(transport));
        await using var provider = services.BuildServiceProvider();
        var meters = provider.GetRequiredService<IMeterFactory>();
        var targets = new TargetRegistry(Options.Create(new FulfillmentOptions()));
        var supervisor = new TargetEndpointSupervisor(
            provider, targets, new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance), NullLogger<TargetEndpointSupervisor>.Instance);

        var values = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, meters) && instrument.Name is PoisonGauge or IntakeGauge or IntakeDeadLettersGauge)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => values[instrument.Name] = value);
        listener.Start();

        using var gauges = new ForwardingGauges(
            meters, targets, new TargetCircuitStates(), supervisor, provider, NullLogger<ForwardingGauges>.Instance);
        await gauges.StartAsync(CancellationToken.None);
        try
        {
            // The intake gauge appears after the first sample, which reads the poison queue first.
            var sampled = await Eventually.TrueAsync(() =>
            {
                listener.RecordObservableInstruments();
                return values.ContainsKey(IntakeGauge);
            }, TimeSpan.FromSeconds(30));
            Assert.That(sampled, Is.True, "a first sample");
            Assert.That(values.ContainsKey(PoisonGauge), Is.False, "no syncworker.poison queue: the gauge reports nothing");
            Assert.That(values.GetValueOrDefault(IntakeDeadLettersGauge, -1), Is.Zero, "no syncworker.intake_error queue yet: no dead letters");

            await FillAsync(node, vhost, Topology.PoisonQueue, 3, new Dictionary<string, object?> { ["x-queue-type"] = "quorum" });

            var reported = await Eventually.TrueAsync(() =>
            {
                listener.RecordObservableInstruments();
                return values.TryGetValue(PoisonGauge, out var depth) && depth == 3;
            }, TimeSpan.FromSeconds(30));
            Assert.That(reported, Is.True, $"the gauge reports the 3 poison messages (last: {(values.TryGetValue(PoisonGauge, out var last) ? last : "none")})");

            // Two events the dispatcher gave up on.
            await FillAsync(node, vhost, Topology.IntakeErrorQueue, 2, arguments: null);

            var intakeReported = await Eventually.TrueAsync(() =>
            {
                listener.RecordObservableInstruments();
                return values.TryGetValue(IntakeDeadLettersGauge, out var depth) && depth == 2;
            }, TimeSpan.FromSeconds(30));
            Assert.That(intakeReported, Is.True, "the intake dead-letter gauge reports the 2 events in syncworker.intake_error");
        }
        finally
        {
            await gauges.StopAsync(CancellationToken.None);
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
