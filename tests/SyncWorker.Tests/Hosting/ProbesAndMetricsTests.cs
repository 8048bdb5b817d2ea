using System.Net;
using SyncWorker.Testing;

namespace SyncWorker.Tests.Hosting;

/// <summary>Kubernetes-style probes and the Prometheus endpoint, against a real broker that goes away.</summary>
[NonParallelizable]
public sealed class ProbesAndMetricsTests
{
    private RabbitMqNode _node = null!;

    [OneTimeSetUp]
    public async Task StartBrokerAsync() => _node = await RabbitMqNode.LaunchAsync();

    [OneTimeTearDown]
    public async Task StopBrokerAsync() => await _node.DisposeAsync();

    [Test]
    public async Task Ready_follows_the_broker_while_live_stays_up()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await WorkerHost.StartAsync(new() { ["RabbitMq:Uri"] = _node.AmqpUri(vhost).ToString() });

        Assert.That(await Eventually.TrueAsync(async () => await StatusAsync(worker, "/health/ready") == HttpStatusCode.OK, TimeSpan.FromSeconds(30)), Is.True, "ready once connected");
        Assert.That(await StatusAsync(worker, "/health/live"), Is.EqualTo(HttpStatusCode.OK));

        await _node.StopAsync();
        try
        {
            Assert.That(await Eventually.TrueAsync(async () => await StatusAsync(worker, "/health/ready") == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(30)), Is.True, "not ready without a broker");
            Assert.That(await StatusAsync(worker, "/health/live"), Is.EqualTo(HttpStatusCode.OK), "still alive: restarting would not help");
        }
        finally
        {
            await _node.StartAsync();
        }

        Assert.That(await Eventually.TrueAsync(async () => await StatusAsync(worker, "/health/ready") == HttpStatusCode.OK, TimeSpan.FromSeconds(60)), Is.True, "ready again after the broker returns");
    }

    [Test]
    public async Task Metrics_are_prometheus_text_with_webhook_outcomes()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await WorkerHost.StartAsync(new() { ["RabbitMq:Uri"] = _node.AmqpUri(vhost).ToString(), ["Worker:Role"] = "Receiver" });
        using (var accepted = await worker.PostSignedAsync(StripeEvents.WithId("checkout.session.completed.json", StripeEvents.NewEventId())))
        {
            Assert.That(accepted.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        using (var ignored = await worker.PostSignedAsync(StripeEvents.Text("invoice.paid.json")))
        {
            Assert.That(ignored.StatusCode, Is.EqualTo(HttpStatusCode.OK), "answered 200, not queued");
        }

        using var response = await worker.Client.GetAsync(new Uri("/metrics", UriKind.Relative));
        var text = await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(text, Does.Contain("# TYPE syncworker_webhooks_received_total counter"));
        Assert.That(text, Does.Match(@"syncworker_webhooks_received_total\{[^}]*outcome=""accepted""[^}]*\} [1-9]"));
        Assert.That(text, Does.Match(@"syncworker_webhooks_received_total\{[^}]*outcome=""ignored""[^}]*reason=""permission-not-granted""[^}]*\} [1-9]"));
        Assert.That(text, Does.Contain("syncworker_webhooks_duration_seconds_bucket"));
        Assert.That(text, Does.Not.Contain("evt_"), "no event ids as labels");
        Assert.That(text, Does.Not.Contain("acct_"), "no account ids as labels");
    }

    private static async Task<HttpStatusCode> StatusAsync(WorkerHost worker, string path)
    {
        using var response = await worker.Client.GetAsync(new Uri(path, UriKind.Relative));
        return response.StatusCode;
    }
}
