using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Health;
using SyncWorker.Forwarding.Hosting;
using SyncWorker.Store.Ledger;
using SyncWorker.Testing;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Tests.EndToEnd;

/// <summary>
/// Disable after failing over a real RabbitMQ node: a target whose attempts in the ledger have failed for 72 h is disabled
/// by the monitor (run by hand rather than waiting for its timer), stops being consumed while its queue fills, the
/// operations webhook is told once, and <c>POST /admin/targets/wms/enable</c> resumes it: what queued goes out exactly once.
/// </summary>
[NonParallelizable]
public sealed class TargetDisableTests
{
    private const string WriteToken = "ops-write-token-0123456789abcdef";
    private static readonly string SigningSecret = "whsec_" + Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)(i + 7)).ToArray());
    private RabbitMqNode _node = null!;
    private WireMockServer _target = null!;
    private WireMockServer _ops = null!;

    [OneTimeSetUp]
    public async Task StartBrokerAsync() => _node = await RabbitMqNode.LaunchAsync();

    [OneTimeTearDown]
    public async Task StopBrokerAsync() => await _node.DisposeAsync();

    [SetUp]
    public void StartPeers()
    {
        _target = WireMockServer.Start();
        _target.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).RespondWith(Response.Create().WithStatusCode(503));
        _ops = WireMockServer.Start();
        _ops.Given(Request.Create().WithPath("/ops/*").UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
    }

    [TearDown]
    public void StopPeers()
    {
        _target.Stop();
        _target.Dispose();
        _ops.Stop();
        _ops.Dispose();
    }

    [Test]
    public async Task A_target_failing_for_its_hours_is_disabled_keeps_queueing_and_enable_delivers_what_queued_exactly_once()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await WorkerHost.StartAsync(new Dictionary<string, string?>
        {
            ["RabbitMq:Uri"] = _node.AmqpUri(vhost).ToString(),
            ["Manifest:Path"] = TestManifest.WithConnectSrc(_target.Url + "/fulfillment/", _ops.Url + "/ops/"),
            ["Fulfillment:Targets:0:Name"] = "wms",
            ["Fulfillment:Targets:0:Url"] = _target.Url + "/fulfillment/wms",
            ["Fulfillment:Targets:0:Events:0"] = "checkout.session.*",
            ["Fulfillment:Targets:0:Mode"] = "live",
            ["Fulfillment:Targets:0:Format"] = "event",
            ["Fulfillment:Targets:0:SigningSecret"] = SigningSecret,
            ["Fulfillment:Targets:0:Retry:MaxRetryAttempts"] = "0",
            ["Fulfillment:Targets:0:Redelivery:Enabled"] = "false",
            ["Fulfillment:Targets:0:DisableAfterHours"] = "72",
            ["Notifications:Url"] = _ops.Url + "/ops/syncworker",
            ["Notifications:SigningSecret"] = SigningSecret,
            ["Admin:Tokens:0:Token"] = WriteToken,
            ["Admin:Tokens:0:Scope"] = "write",
            ["Admin:Tokens:0:Name"] = "ops-write",
        });
        var supervisor = worker.Services.GetRequiredService<TargetEndpointSupervisor>();
        Assert.That(await Eventually.TrueAsync(() => supervisor.IsConsuming("wms"), TimeSpan.FromSeconds(60)), Is.True);

        // A real failure now, and (durable input) a failed attempt of the same target recorded 72.5 h ago.
        using (var response = await worker.PostSignedAsync(StripeEvents.WithId("checkout.session.completed.json", StripeEvents.NewEventId())))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(async () => await _node.MessageCountAsync(vhost, Topology.TargetErrorQueue("wms")) == 1, TimeSpan.FromSeconds(30)), Is.True);
        var ledger = worker.Services.GetRequiredService<SqlDeliveryLedger>();
        var old = DeliveryKey.ForEvent("wms", "evt_1OldFailureExample00001");
        await ledger.ClaimAsync(new DeliveryClaim(old, "evt_1OldFailureExample00001", "msg_old"), "test", TimeSpan.FromMinutes(5), false, CancellationToken.None);
        await ledger.RecordAttemptAsync(old.Value,
            new DeliveryAttemptRecord(1, "test", DateTimeOffset.UtcNow - TimeSpan.FromHours(72.5), TimeSpan.FromMilliseconds(30), "failed", 503, null), CancellationToken.None);

        var monitor = worker.Services.GetRequiredService<TargetHealthMonitor>();
        // The forwarder's finish of the real attempt is written to the ledger in a batch: evaluate until it is there.
        var disabled = new List<string>();
        Assert.That(await Eventually.TrueAsync(async () => (disabled = [.. await monitor.EvaluateAsync(CancellationToken.None)]).Count > 0, TimeSpan.FromSeconds(30)), Is.True,
            string.Join("; ", (await worker.Services.GetRequiredService<SyncWorker.Store.Targets.SqlTargetHealth>().FailingAsync(DateTimeOffset.UtcNow.AddDays(-5), CancellationToken.None)).Select(f => f.ToString())));
        Assert.That(disabled, Is.EqualTo(new[] { "wms" }));
        Assert.That(await Eventually.TrueAsync(async () => await ConsumersAsync(vhost, Topology.TargetQueue("wms")) == 0, TimeSpan.FromSeconds(30)), Is.True, "the forwarder stopped consuming");
        Assert.That(supervisor.IsDisabled("wms"), Is.True);
        Assert.That(supervisor.IsPaused("wms"), Is.False, "disabled, not paused");
        Assert.That(_ops.LogEntries.Count, Is.EqualTo(1), "one notification");

        // The partner is back, but the target stays disabled: its deliveries queue and nothing is attempted.
        _target.Reset();
        _target.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var id = StripeEvents.NewEventId();
            ids.Add(id);
            using var response = await worker.PostSignedAsync(StripeEvents.WithId("checkout.session.completed.json", id));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(async () => await _node.MessageCountAsync(vhost, Topology.TargetQueue("wms")) == 5, TimeSpan.FromSeconds(30)), Is.True, "deliveries keep queueing");
        Assert.That(_target.LogEntries, Is.Empty, "a disabled target receives nothing");
        Assert.That(await monitor.EvaluateAsync(CancellationToken.None), Is.Empty, "disabled once");

        using (var request = new HttpRequestMessage(HttpMethod.Post, "/admin/targets/wms/enable"))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", WriteToken);
            using var response = await worker.Admin.SendAsync(request);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.That(body.RootElement.GetProperty("wasDisabled").GetBoolean(), Is.True);
        }

        Assert.That(await Eventually.TrueAsync(async () => await _node.MessageCountAsync(vhost, Topology.TargetQueue("wms")) == 0 && _target.LogEntries.Count >= 5, TimeSpan.FromSeconds(30)), Is.True, "enabled: the queue drains");
        var delivered = _target.LogEntries.Select(entry => JsonDocument.Parse(entry.RequestMessage!.Body!).RootElement.GetProperty("id").GetString()).ToList();
        Assert.That(delivered, Is.EquivalentTo(ids), "each queued delivery exactly once");
        Assert.That(supervisor.IsDisabled("wms"), Is.False);
        Assert.That(await monitor.EvaluateAsync(CancellationToken.None), Is.Empty, "the failing window starts at the enable");
        Assert.That(_ops.LogEntries.Count, Is.EqualTo(1));
    }

    private async Task<uint> ConsumersAsync(string vhost, string queue)
    {
        await using var connection = await _node.ConnectAsync(vhost);
        await using var channel = await connection.CreateChannelAsync();
        return (await channel.QueueDeclarePassiveAsync(queue)).ConsumerCount;
    }
}
