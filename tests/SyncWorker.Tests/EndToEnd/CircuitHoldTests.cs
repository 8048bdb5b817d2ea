using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Polly.CircuitBreaker;
using RabbitMQ.Client;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Hosting;
using SyncWorker.Testing;
using WireMock;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Tests.EndToEnd;

/// <summary>
/// An open circuit does not churn the broker: while it is open the target's messages wait in its queue (a delivery per
/// consumer slot waits in process, unacknowledged) and one trial goes per break. On quorum queues with the deploy
/// definitions' delivery limit, circuits that open and close many times and pauses and resumes never push a message into
/// <c>syncworker.poison</c>.
/// </summary>
[NonParallelizable]
public sealed class CircuitHoldTests
{
    private const string Completed = "checkout.session.completed.json";
    private static readonly string SigningSecret = "whsec_" + Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
    private RabbitMqNode _node = null!;
    private WireMockServer _target = null!;
    private int _successesAllowed;
    private readonly ConcurrentDictionary<string, int> _delivered = new(StringComparer.Ordinal);
    private int _attempts;

    [OneTimeSetUp]
    public async Task StartBrokerAsync() => _node = await RabbitMqNode.LaunchAsync();

    [OneTimeTearDown]
    public async Task StopBrokerAsync() => await _node.DisposeAsync();

    [SetUp]
    public void StartTarget()
    {
        _successesAllowed = 0;
        _attempts = 0;
        _delivered.Clear();
        _target = WireMockServer.Start();
        _target.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).RespondWith(Response.Create().WithCallback(request =>
        {
            Interlocked.Increment(ref _attempts);
            if (Interlocked.Decrement(ref _successesAllowed) < 0)
            {
                Interlocked.Increment(ref _successesAllowed);
                return new ResponseMessage { StatusCode = 503 };
            }

            var id = JsonNode.Parse(request.Body!)!["id"]!.GetValue<string>();
            _delivered.AddOrUpdate(id, 1, (_, n) => n + 1);
            return new ResponseMessage { StatusCode = 200 };
        }));
    }

    [TearDown]
    public void StopTarget()
    {
        _target.Stop();
        _target.Dispose();
    }

    [Test]
    public async Task While_the_circuit_is_open_the_backlog_waits_in_the_queue_and_one_trial_goes_per_break()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await PauseAsync(vhost, "dead");
        var scheduled = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        using var listener = ListenToDeliveries("dead", scheduled);
        await using var worker = await StartWorkerAsync(vhost, breakSeconds: 5);
        var circuits = worker.Services.GetRequiredService<TargetCircuitStates>();
        await PostAsync(worker, 300);
        Assert.That(await Eventually.TrueAsync(async () => await ReadyAsync(vhost) == 300, TimeSpan.FromSeconds(60)), Is.True, "a backlog of 300");

        await ResumeAsync(vhost, "dead");
        Assert.That(await Eventually.TrueAsync(() => circuits.StateOf("dead") == CircuitState.Open, TimeSpan.FromSeconds(60)), Is.True, "the circuit opens");
        await Task.Delay(TimeSpan.FromSeconds(2));

        // Twenty seconds with the circuit open: four breaks of five seconds.
        var scheduledBefore = scheduled.GetValueOrDefault("retry_scheduled");
        var attemptsBefore = Volatile.Read(ref _attempts);
        await Task.Delay(TimeSpan.FromSeconds(20));
        var republished = scheduled.GetValueOrDefault("retry_scheduled") - scheduledBefore;
        var trials = Volatile.Read(ref _attempts) - attemptsBefore;
        var ready = await ReadyAsync(vhost);
        TestContext.Out.WriteLine($"In 20 s with the circuit open: {republished} republished to the delay queue, {trials} trial attempts, {ready} ready in the target queue");

        Assert.That(republished, Is.LessThanOrEqualTo(8), "deliveries are not taken and republished over and over (one trial per break, at most)");
        Assert.That(trials, Is.InRange(1, 8), "a trial delivery per break duration");
        Assert.That(ready, Is.GreaterThanOrEqualTo(300 - 16), "the backlog waits in the target's queue, but for the prefetch and the trials");

        // The target is back: everything arrives.
        Interlocked.Exchange(ref _successesAllowed, int.MaxValue / 2);
        Assert.That(await Eventually.TrueAsync(() => _delivered.Count == 300, TimeSpan.FromSeconds(120)), Is.True, $"delivered {_delivered.Count} of 300");
    }

    [Test]
    public async Task Circuits_opening_and_closing_and_pauses_and_resumes_never_push_messages_into_poison_on_quorum_queues()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        // The deploy definitions' policy with a delivery limit of 4 instead of 20: the same rule, met in fewer cycles.
        const int deliveryLimit = 4;
        await ApplyDefinitionsAsync(vhost, deliveryLimit);
        await PauseAsync(vhost, "dead");
        await using var worker = await StartWorkerAsync(vhost, breakSeconds: 1, queueType: "quorum");
        var circuits = worker.Services.GetRequiredService<TargetCircuitStates>();
        var supervisor = worker.Services.GetRequiredService<TargetEndpointSupervisor>();
        const int events = 60;
        await PostAsync(worker, events);
        Assert.That(await Eventually.TrueAsync(async () => await ReadyAsync(vhost) == events, TimeSpan.FromSeconds(60)), Is.True, "the backlog");

        // More cycles than the delivery limit: each resumes the target, lets its circuit open, closes it with one success
        // and opens it again, then pauses it with deliveries held. A delivery handed back by each stop would reach the
        // limit and be dead-lettered to syncworker.poison.
        const int cycles = deliveryLimit + 2;
        var opened = 0;
        for (var cycle = 0; cycle < cycles; cycle++)
        {
            await ResumeAsync(vhost, "dead");
            Assert.That(await Eventually.TrueAsync(() => supervisor.IsConsuming("dead"), TimeSpan.FromSeconds(30)), Is.True, $"cycle {cycle}: resumed");
            if (await Eventually.TrueAsync(() => circuits.StateOf("dead") == CircuitState.Open, TimeSpan.FromSeconds(30)))
            {
                opened++;
            }

            Interlocked.Exchange(ref _successesAllowed, 1);
            await Eventually.TrueAsync(() => Volatile.Read(ref _successesAllowed) == 0, TimeSpan.FromSeconds(10));
            await Eventually.TrueAsync(() => circuits.StateOf("dead") == CircuitState.Open, TimeSpan.FromSeconds(10));
            await PauseAsync(vhost, "dead");
            Assert.That(await Eventually.TrueAsync(() => !supervisor.IsConsuming("dead"), TimeSpan.FromSeconds(30)), Is.True, $"cycle {cycle}: paused");
        }

        Assert.That(opened, Is.EqualTo(cycles), "the circuit opened in every cycle");
        Assert.That(await _node.MessageCountAsync(vhost, Topology.PoisonQueue), Is.Zero, "nothing reached syncworker.poison while cycling");

        Interlocked.Exchange(ref _successesAllowed, int.MaxValue / 2);
        await ResumeAsync(vhost, "dead");
        Assert.That(await Eventually.TrueAsync(() => _delivered.Count == events, TimeSpan.FromSeconds(120)), Is.True, $"delivered {_delivered.Count} of {events}");
        Assert.That(await _node.MessageCountAsync(vhost, Topology.PoisonQueue), Is.Zero, "nothing in syncworker.poison");
        Assert.That(await CountAsync(vhost, Topology.TargetErrorQueue("dead")), Is.Zero, "nothing dead-lettered");
    }

    /// <summary>
    /// Why the forwarder never hands a delivery back on purpose: on this broker a message returned because its channel
    /// closed (as when a consumer stops with messages prefetched) counts towards the delivery limit like a requeue, while
    /// a fresh publish of it (what the delay queue does) starts from zero.
    /// </summary>
    [Test]
    public async Task The_broker_counts_a_hand_back_by_a_closed_channel_towards_the_delivery_limit_and_a_fresh_publish_from_zero()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var connection = await _node.ConnectAsync(vhost);
        await using (var setup = await connection.CreateChannelAsync())
        {
            await setup.QueueDeclareAsync("limited.dead", durable: true, exclusive: false, autoDelete: false);
            foreach (var queue in new[] { "handed-back", "republished" })
            {
                await setup.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, new Dictionary<string, object?>
                {
                    ["x-queue-type"] = "quorum",
                    ["x-delivery-limit"] = 2,
                    ["x-dead-letter-exchange"] = "",
                    ["x-dead-letter-routing-key"] = "limited.dead",
                });
                await setup.BasicPublishAsync(string.Empty, queue, new ReadOnlyMemory<byte>([1]));
            }
        }

        // Three times (the limit is 2): taken, then handed back by closing the channel / republished fresh and acknowledged.
        for (var i = 0; i < 3; i++)
        {
            await using (var channel = await connection.CreateChannelAsync())
            {
                Assert.That(await Eventually.TrueAsync(async () => await channel.BasicGetAsync("handed-back", autoAck: false) is not null, TimeSpan.FromSeconds(10)), Is.True,
                    $"delivered again ({i})");
                await channel.CloseAsync();
            }

            await using (var channel = await connection.CreateChannelAsync())
            {
                BasicGetResult? message = null;
                Assert.That(await Eventually.TrueAsync(async () => (message = await channel.BasicGetAsync("republished", autoAck: false)) is not null, TimeSpan.FromSeconds(10)), Is.True);
                await channel.BasicPublishAsync(string.Empty, "republished", message!.Body);
                await channel.BasicAckAsync(message.DeliveryTag, multiple: false);
            }
        }

        Assert.That(await Eventually.TrueAsync(async () => await CountAsync(vhost, "limited.dead") == 1, TimeSpan.FromSeconds(10)), Is.True,
            "the message handed back three times was dead-lettered at the delivery limit");
        Assert.That(await CountAsync(vhost, "handed-back"), Is.Zero);
        Assert.That(await CountAsync(vhost, "republished"), Is.EqualTo(1), "the one republished each time is still there");
    }

    /// <summary>
    /// The deploy definitions' policy for target queues (dead-lettering to the poison queue) with its delivery limit
    /// replaced by <paramref name="deliveryLimit"/>, and that queue.
    /// </summary>
    private async Task ApplyDefinitionsAsync(string vhost, int deliveryLimit)
    {
        using var definitions = JsonDocument.Parse(await File.ReadAllTextAsync(WorkerHost.RepositoryFile("deploy/rabbitmq/definitions.json")));
        var policy = definitions.RootElement.GetProperty("policies").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "syncworker-targets");
        Assert.That(policy.GetProperty("definition").GetProperty("delivery-limit").GetInt32(), Is.EqualTo(20));
        var definition = JsonNode.Parse(policy.GetProperty("definition").GetRawText())!.AsObject();
        definition["delivery-limit"] = deliveryLimit;
        await _node.CtlAsync(["set_policy", "-p", vhost, "--apply-to", "queues", "--priority", "10", "syncworker-targets",
            policy.GetProperty("pattern").GetString()!, definition.ToJsonString()]);
        await using var connection = await _node.ConnectAsync(vhost);
        await using var channel = await connection.CreateChannelAsync();
        await channel.ExchangeDeclareAsync(Topology.PoisonQueue, ExchangeType.Fanout, durable: true, autoDelete: false);
        await channel.QueueDeclareAsync(Topology.PoisonQueue, durable: true, exclusive: false, autoDelete: false,
            new Dictionary<string, object?> { ["x-queue-type"] = "quorum" });
        await channel.QueueBindAsync(Topology.PoisonQueue, Topology.PoisonQueue, string.Empty);
    }

    private async Task PauseAsync(string vhost, string target)
    {
        await using var connection = await _node.ConnectAsync(vhost);
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync(Topology.PausedMarker(target), durable: true, exclusive: false, autoDelete: false,
            new Dictionary<string, object?> { ["x-max-length"] = 0 });
    }

    private async Task ResumeAsync(string vhost, string target)
    {
        await using var connection = await _node.ConnectAsync(vhost);
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeleteAsync(Topology.PausedMarker(target), ifUnused: false, ifEmpty: false);
    }

    private Task<uint> ReadyAsync(string vhost) => CountAsync(vhost, Topology.TargetQueue("dead"));

    /// <summary>Ready messages of a queue; 0 when it does not exist.</summary>
    private async Task<uint> CountAsync(string vhost, string queue)
    {
        try
        {
            return await _node.MessageCountAsync(vhost, queue);
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return 0;
        }
    }

    private static async Task PostAsync(WorkerHost worker, int count)
    {
        for (var i = 0; i < count; i++)
        {
            using var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId()));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }
    }

    /// <summary>Counts <c>syncworker.deliveries</c> of one target by outcome.</summary>
    private static MeterListener ListenToDeliveries(string target, ConcurrentDictionary<string, long> counts)
    {
        var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == SyncWorkerTelemetry.Name && instrument.Name == "syncworker.deliveries")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? name = null;
            string? outcome = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "target")
                {
                    name = tag.Value as string;
                }
                else if (tag.Key == "outcome")
                {
                    outcome = tag.Value as string;
                }
            }

            if (name == target && outcome is not null)
            {
                counts.AddOrUpdate(outcome, value, (_, n) => n + value);
            }
        });
        listener.Start();
        return listener;
    }

    private Task<WorkerHost> StartWorkerAsync(string vhost, int breakSeconds, string queueType = "classic")
    {
        const string key = "Fulfillment:Targets:0";
        var settings = new Dictionary<string, string?>
        {
            ["RabbitMq:Uri"] = _node.AmqpUri(vhost).ToString(),
            ["RabbitMq:QueueType"] = queueType,
            ["Manifest:Path"] = TestManifest.WithConnectSrc(_target.Url + "/fulfillment/"),
            [$"{key}:Name"] = "dead",
            [$"{key}:Url"] = $"{_target.Url}/fulfillment/dead",
            [$"{key}:Events:0"] = "checkout.session.*",
            [$"{key}:Mode"] = "live",
            [$"{key}:Format"] = "event",
            [$"{key}:SigningSecret"] = SigningSecret,
            [$"{key}:MaxConcurrency"] = "2",
            [$"{key}:Retry:MaxRetryAttempts"] = "0",
            [$"{key}:CircuitBreaker:MinimumThroughput"] = "2",
            [$"{key}:CircuitBreaker:FailureRatio"] = "0.5",
            [$"{key}:CircuitBreaker:SamplingDurationSeconds"] = "30",
            [$"{key}:CircuitBreaker:BreakDurationSeconds"] = breakSeconds.ToString(CultureInfo.InvariantCulture),
        };

        // Short waits, more of them than any delivery fails here, and a last one long enough that the schedule's total
        // (an hour) outlasts the test: nothing is dead-lettered for its schedule, by steps or by time.
        for (var i = 0; i < 29; i++)
        {
            settings[$"{key}:Redelivery:DelaysSeconds:{i}"] = "1";
        }

        settings[$"{key}:Redelivery:DelaysSeconds:29"] = "3600";

        return WorkerHost.StartAsync(settings);
    }
}
