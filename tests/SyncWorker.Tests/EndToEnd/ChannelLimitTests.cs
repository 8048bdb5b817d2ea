using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using SyncWorker.Forwarding.Hosting;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Testing;

namespace SyncWorker.Tests.EndToEnd;

/// <summary>
/// Each target's consumer holds a channel of the forwarder's bus connection, and a broker grants a connection at most its
/// <c>channel_max</c>: a worker with more targets than fit says which are not consumed and why, and the admin API refuses
/// one more, rather than MassTransit endpoints failing with a channel error nobody reads.
/// </summary>
[NonParallelizable]
public sealed class ChannelLimitTests
{
    private const string WriteToken = "ops-write-token-0123456789abcdef";
    private static readonly string EncryptionKey = Convert.ToBase64String(Enumerable.Range(7, 32).Select(i => (byte)i).ToArray());
    private RabbitMqNode _node = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        // 16 channels per connection: room for 12 targets (4 kept for the intake endpoint, MassTransit's own and spare).
        _node = await RabbitMqNode.LaunchAsync("channels-" + Guid.NewGuid().ToString("N")[..8], tls: null, ["channel_max = 16"]);
    }

    [OneTimeTearDown]
    public async Task StopAsync() => await _node.DisposeAsync();

    [Test]
    public async Task Targets_beyond_the_brokers_channel_max_are_reported_with_the_fix_and_the_api_refuses_one_more()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        var settings = new Dictionary<string, string?>
        {
            ["RabbitMq:Uri"] = _node.AmqpUri(vhost).ToString(),
            ["Store:EncryptionKey"] = EncryptionKey,
            ["Admin:Tokens:0:Token"] = WriteToken,
            ["Admin:Tokens:0:Scope"] = "write",
            ["Admin:Tokens:0:Name"] = "ops-write",
            ["Manifest:Path"] = TestManifest.WithConnectSrc(["http://127.0.0.1:9/fulfillment/"]),
        };
        const int Targets = 14;
        for (var i = 0; i < Targets; i++)
        {
            settings[$"Fulfillment:Targets:{i}:Name"] = $"partner-{i:D2}";
            settings[$"Fulfillment:Targets:{i}:Url"] = $"http://127.0.0.1:9/fulfillment/partner-{i:D2}";
            settings[$"Fulfillment:Targets:{i}:Events:0"] = "checkout.session.*";
            settings[$"Fulfillment:Targets:{i}:Mode"] = "live";
            settings[$"Fulfillment:Targets:{i}:Format"] = "event";
            settings[$"Fulfillment:Targets:{i}:SigningSecret"] = "whsec_" + Convert.ToBase64String(new byte[32]);
        }

        await using var worker = await WorkerHost.StartAsync(settings);
        var supervisor = worker.Services.GetRequiredService<TargetEndpointSupervisor>();
        var names = Enumerable.Range(0, Targets).Select(i => $"partner-{i:D2}").ToArray();

        Assert.That(await Eventually.TrueAsync(
            () => names.Count(supervisor.IsConsuming) == 12 && supervisor.NotReadyTargets().Count == 2, TimeSpan.FromSeconds(60)), Is.True,
            $"12 targets consume and 2 are reported; consuming {names.Count(supervisor.IsConsuming)}, reported {supervisor.NotReadyTargets().Count}");
        var reported = supervisor.NotReadyTargets();
        Assert.Multiple(() =>
        {
            Assert.That(reported.Values, Has.All.Contains("the broker grants 16 channels per connection")
                .And.Contains("room for 12 targets").And.Contains("channel_max in rabbitmq.conf to at least 18"));
            Assert.That(reported.Keys.Where(supervisor.IsConsuming), Is.Empty);
        });

        // The admin status the operators read says the same.
        using var statusRequest = new HttpRequestMessage(HttpMethod.Get, "/admin/status");
        statusRequest.Headers.Authorization = new AuthenticationHeaderValue("Bearer", WriteToken);
        using var status = await worker.Admin.SendAsync(statusRequest);
        var statusText = await status.Content.ReadAsStringAsync();
        Assert.That(status.StatusCode, Is.EqualTo(HttpStatusCode.OK), statusText);
        Assert.That(statusText, Does.Contain("channel_max in rabbitmq.conf to at least 18"));

        using var request = new HttpRequestMessage(HttpMethod.Post, "/admin/targets")
        {
            Content = JsonContent.Create(new JsonObject
            {
                ["name"] = "one-more",
                ["url"] = "http://127.0.0.1:9/fulfillment/one-more",
                ["events"] = new JsonArray("checkout.session.completed"),
                ["mode"] = "live",
                ["format"] = "event",
                ["allAccounts"] = true,
            }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", WriteToken);
        using var refused = await worker.Admin.SendAsync(request);
        var problem = await refused.Content.ReadAsStringAsync();
        Assert.Multiple(() =>
        {
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Conflict), problem);
            Assert.That(problem, Does.Contain("No room for another target").And.Contain("the broker grants 16 channels per connection")
                .And.Contain("RabbitMq:ChannelMax"));
        });
        Assert.That(worker.Services.GetRequiredService<TargetRegistry>().Find("one-more"), Is.Null, "nothing was created");
    }
}
