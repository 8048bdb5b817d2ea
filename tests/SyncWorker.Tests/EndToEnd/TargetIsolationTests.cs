using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Hosting;
using SyncWorker.Testing;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Tests.EndToEnd;

/// <summary>
/// Targets do not disturb each other or the broker: a target whose endpoint never becomes ready is reported while the
/// others consume, pause and resume, and an instance that receives webhooks stays ready; queue sampling and pause checks
/// cause no channel errors in the broker's log.
/// </summary>
[NonParallelizable]
public sealed class TargetIsolationTests
{
    private const string Completed = "checkout.session.completed.json";
    private const string AdminToken = "target-isolation-admin-token-0001";
    private static readonly string SigningSecret = "whsec_" + Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
    private RabbitMqNode _node = null!;
    private WireMockServer _target = null!;

    [OneTimeSetUp]
    public async Task StartBrokerAsync() => _node = await RabbitMqNode.LaunchAsync();

    [OneTimeTearDown]
    public async Task StopBrokerAsync() => await _node.DisposeAsync();

    [SetUp]
    public void StartTarget()
    {
        _target = WireMockServer.Start();
        _target.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
    }

    [TearDown]
    public void StopTarget()
    {
        _target.Stop();
        _target.Dispose();
    }

    [Test]
    public async Task Ten_unpaused_targets_run_twenty_seconds_without_one_channel_error_in_the_broker_log()
    {
        // The detector finds a channel error when there is one: a passive declare of a missing queue, on a vhost of its own.
        var probe = await _node.CreateVirtualHostAsync();
        await using (var connection = await _node.ConnectAsync(probe))
        await using (var channel = await connection.CreateChannelAsync())
        {
            Assert.ThrowsAsync<RabbitMQ.Client.Exceptions.OperationInterruptedException>(async () => await channel.QueueDeclarePassiveAsync("no-such-queue"));
        }

        Assert.That(await Eventually.TrueAsync(() => _node.ChannelErrors(probe).Count == 1, TimeSpan.FromSeconds(10)), Is.True,
            "the broker logs a failed passive declare as a channel error, and the test finds it");

        // As the deploy definitions set it up: the poison queue exists.
        var vhost = await _node.CreateVirtualHostAsync();
        await using (var connection = await _node.ConnectAsync(vhost))
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeclareAsync(Topology.PoisonQueue, durable: true, exclusive: false, autoDelete: false);
        }

        var names = Enumerable.Range(1, 10).Select(i => $"t{i}").ToArray();
        var samples = new List<string>();
        await using (var worker = await StartWorkerAsync(vhost, "All", names))
        {
            using var listener = ListenToQueueGauge(worker, samples);
            using (var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId())))
            {
                Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            }

            Assert.That(await Eventually.TrueAsync(() => _target.LogEntries.Count == names.Length, TimeSpan.FromSeconds(60)), Is.True, "every target consumes");

            // Two queue samples and ten pause checks per target, at least.
            await Task.Delay(ForwardingGauges.SampleInterval * 2);
            listener.RecordObservableInstruments();
            var supervisor = worker.Services.GetRequiredService<TargetEndpointSupervisor>();
            Assert.That(names.Where(name => !supervisor.IsConsuming(name) || supervisor.IsPaused(name)), Is.Empty, "all ten consume, none is paused");
        }

        lock (samples)
        {
            Assert.That(samples, Does.Contain("t10/ready").And.Contain("t10/dead_lettered").And.Contain("t10/retry_waiting"), "queues were sampled");
        }

        var errors = _node.ChannelErrors(vhost);
        Assert.That(errors, Is.Empty, string.Join("\n", errors));
    }

    [Test]
    public async Task Without_the_poison_queue_the_only_channel_error_is_the_one_look_for_it()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using (var worker = await StartWorkerAsync(vhost, "All", ["a", "b"]))
        {
            Assert.That(await Eventually.TrueAsync(() => worker.Services.GetRequiredService<TargetEndpointSupervisor>().IsConsuming("b"), TimeSpan.FromSeconds(60)), Is.True);
            await Task.Delay(ForwardingGauges.SampleInterval * 2);
        }

        var errors = _node.ChannelErrors(vhost);
        Assert.That(errors, Has.Count.EqualTo(1), string.Join("\n", errors));
        Assert.That(errors[0], Does.Contain(Topology.PoisonQueue));
    }

    [TestCase("All", HttpStatusCode.OK)]
    [TestCase("Forwarder", HttpStatusCode.ServiceUnavailable)]
    public async Task A_target_whose_endpoint_never_becomes_ready_is_reported_and_the_others_keep_consuming_pausing_and_resuming(string role, HttpStatusCode readiness)
    {
        var vhost = await _node.CreateVirtualHostAsync();

        // The stuck target's queue exists with the other type (quorum; the worker declares classic), so its endpoint can
        // never start. It comes first: today's supervisor would wait for it and start no other.
        await using (var connection = await _node.ConnectAsync(vhost))
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeclareAsync(Topology.TargetQueue("stuck"), durable: true, exclusive: false, autoDelete: false,
                new Dictionary<string, object?> { ["x-queue-type"] = "quorum" });
        }

        await using var worker = await StartWorkerAsync(vhost, role, ["stuck", "healthy"], stuckEvents: "charge.*");
        var supervisor = worker.Services.GetRequiredService<TargetEndpointSupervisor>();
        Assert.That(await Eventually.TrueAsync(() => supervisor.IsConsuming("healthy"), TimeSpan.FromSeconds(60)), Is.True, "the healthy target consumes");
        if (role == "All")
        {
            await PostAsync(worker, 1);
            Assert.That(await Eventually.TrueAsync(() => _target.LogEntries.Count == 1, TimeSpan.FromSeconds(30)), Is.True, "and delivers");
        }

        var deadline = TargetEndpointSupervisor.ReadyDeadline + TimeSpan.FromSeconds(30);
        Assert.That(await Eventually.TrueAsync(() => supervisor.NotReady("stuck") is not null, deadline), Is.True, "the stuck target is reported");
        Assert.That(supervisor.NotReady("stuck"), Does.Contain(Topology.TargetQueue("stuck")));
        Assert.That(supervisor.NotReady("healthy"), Is.Null);

        // The health entry names it; an instance that receives stays ready, a forwarder-only one is not.
        using (var ready = await worker.Client.GetAsync(new Uri("/health/ready", UriKind.Relative)))
        {
            var body = await ready.Content.ReadAsStringAsync();
            Assert.That(ready.StatusCode, Is.EqualTo(readiness), body);
            using var document = JsonDocument.Parse(body);
            var entry = document.RootElement.GetProperty("checks").GetProperty("forwarding-targets");
            Assert.That(entry.GetProperty("description").GetString(), Does.Contain("stuck"), body);
            Assert.That(entry.GetProperty("status").GetString(), Is.EqualTo(role == "All" ? "Healthy" : "Degraded"), body);
        }

        // /admin/status (what the status verb reads) says so too.
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/admin/status"))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
            using var status = await worker.Admin.SendAsync(request);
            using var document = JsonDocument.Parse(await status.Content.ReadAsStringAsync());
            var targets = document.RootElement.GetProperty("targets").EnumerateArray().ToDictionary(t => t.GetProperty("name").GetString()!, t => t);
            Assert.That(targets["stuck"].GetProperty("notReady").GetString(), Does.Contain("not ready"));
            Assert.That(targets["healthy"].GetProperty("notReady").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(targets["healthy"].GetProperty("consuming").GetBoolean(), Is.True);
        }

        // The healthy target still pauses and resumes.
        await using (var connection = await _node.ConnectAsync(vhost))
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeclareAsync(Topology.PausedMarker("healthy"), durable: true, exclusive: false, autoDelete: false,
                new Dictionary<string, object?> { ["x-max-length"] = 0 });
            Assert.That(await Eventually.TrueAsync(() => supervisor.IsPaused("healthy") && !supervisor.IsConsuming("healthy"), TimeSpan.FromSeconds(30)), Is.True, "paused");
            await channel.QueueDeleteAsync(Topology.PausedMarker("healthy"), ifUnused: false, ifEmpty: false);
            Assert.That(await Eventually.TrueAsync(() => !supervisor.IsPaused("healthy") && supervisor.IsConsuming("healthy"), TimeSpan.FromSeconds(30)), Is.True, "resumed");
        }

        if (role == "All")
        {
            await PostAsync(worker, 1);
            Assert.That(await Eventually.TrueAsync(() => _target.LogEntries.Count == 2, TimeSpan.FromSeconds(30)), Is.True, "delivers after the resume");
        }

        Assert.That(supervisor.NotReady("stuck"), Is.Not.Null, "still reported");
    }

    private static async Task PostAsync(WorkerHost worker, int count)
    {
        for (var i = 0; i < count; i++)
        {
            using var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId()));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }
    }

    /// <summary>Collects the <c>target/state</c> series of <c>syncworker.queue.messages</c> the worker reports.</summary>
    private static MeterListener ListenToQueueGauge(WorkerHost worker, List<string> samples)
    {
        var meters = worker.Services.GetRequiredService<IMeterFactory>();
        var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, meters) && instrument.Name == "syncworker.queue.messages")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            string? target = null;
            string? state = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "target")
                {
                    target = tag.Value as string;
                }
                else if (tag.Key == "state")
                {
                    state = tag.Value as string;
                }
            }

            lock (samples)
            {
                samples.Add($"{target}/{state}");
            }
        });
        listener.Start();
        return listener;
    }

    private Task<WorkerHost> StartWorkerAsync(string vhost, string role, string[] targets, string stuckEvents = "checkout.session.*")
    {
        var settings = new Dictionary<string, string?>
        {
            ["RabbitMq:Uri"] = _node.AmqpUri(vhost).ToString(),
            ["Worker:Role"] = role,
            ["Admin:Token"] = AdminToken,
            ["Stripe:ApiKey"] = "sk_live_target_isolation_0000",
            ["Manifest:Path"] = TestManifest.WithConnectSrc(_target.Url + "/fulfillment/"),
        };
        for (var i = 0; i < targets.Length; i++)
        {
            var key = $"Fulfillment:Targets:{i}";
            settings[$"{key}:Name"] = targets[i];
            settings[$"{key}:Url"] = $"{_target.Url}/fulfillment/{targets[i]}";
            settings[$"{key}:Events:0"] = targets[i] == "stuck" ? stuckEvents : "checkout.session.*";
            settings[$"{key}:Mode"] = "live";
            settings[$"{key}:Format"] = "event";
            settings[$"{key}:SigningSecret"] = SigningSecret;
        }

        return WorkerHost.StartAsync(settings);
    }
}
