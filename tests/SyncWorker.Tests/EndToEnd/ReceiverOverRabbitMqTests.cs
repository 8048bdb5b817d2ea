using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using RabbitMQ.Client;
using SyncWorker.Contracts;
using SyncWorker.Messaging;
using SyncWorker.Testing;

namespace SyncWorker.Tests.EndToEnd;

/// <summary>Signed webhooks over HTTP into a real RabbitMQ node; each test gets a brand-new virtual host.</summary>
[NonParallelizable]
public sealed class ReceiverOverRabbitMqTests
{
    private const string Completed = "checkout.session.completed.json";
    private RabbitMqNode _node = null!;

    [OneTimeSetUp]
    public async Task StartBrokerAsync() => _node = await RabbitMqNode.LaunchAsync();

    [OneTimeTearDown]
    public async Task StopBrokerAsync() => await _node.DisposeAsync();

    [Test]
    public async Task Every_acknowledged_event_is_in_the_durable_intake_queue_of_a_brand_new_vhost_with_its_raw_payload()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await WorkerHost.StartAsync(new() { ["RabbitMq:Uri"] = _node.AmqpUri(vhost).ToString(), ["Worker:Role"] = "Receiver" });

        // The first request arrives as soon as the worker listens: the topology must already be there.
        var sent = new ConcurrentDictionary<string, string>();
        await Parallel.ForEachAsync(Enumerable.Range(0, 200), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, ct) =>
        {
            var id = StripeEvents.NewEventId();
            var body = StripeEvents.WithId(Completed, id);
            using var response = await worker.PostSignedAsync(body, ct);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync(ct));
            sent[id] = body;
        });

        var messages = await _node.DrainAsync(vhost, Topology.IntakeQueue);

        Assert.That(messages, Has.Count.EqualTo(sent.Count));
        foreach (var message in messages)
        {
            // MassTransit's raw JSON: the message itself is the body, its type and id are in the AMQP properties.
            using var envelope = JsonDocument.Parse(message.Body);
            var payload = envelope.RootElement;
            var eventId = payload.GetProperty("eventId").GetString()!;
            Assert.Multiple(() =>
            {
                Assert.That(sent.ContainsKey(eventId), Is.True, $"{eventId} was not sent");
                Assert.That(payload.GetProperty("payload").GetString(), Is.EqualTo(sent[eventId]), "raw payload intact");
                Assert.That(message.BasicProperties.MessageId, Is.EqualTo(MessageIds.ForStripeEvent(eventId).ToString()));
                Assert.That(message.BasicProperties.Persistent, Is.True, "persistent delivery mode");
                Assert.That(message.BasicProperties.ContentType, Is.EqualTo(RabbitMqStripeEventPublisher.ContentType));
                Assert.That(
                    Encoding.UTF8.GetString((byte[])message.BasicProperties.Headers![RabbitMqStripeEventPublisher.MessageTypeHeader]!),
                    Is.EqualTo("urn:message:SyncWorker.Contracts:StripeEventReceived"));
                Assert.That(
                    Encoding.UTF8.GetString((byte[])message.BasicProperties.Headers![MassTransitStripeEventPublisher.StripeEventIdHeader]!),
                    Is.EqualTo(eventId));
            });
        }

        Assert.That(messages.Select(m => m.BasicProperties.MessageId).Distinct().Count(), Is.EqualTo(sent.Count));
    }

    [Test]
    public async Task The_same_event_twice_is_answered_200_twice_and_both_copies_carry_one_message_id()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await WorkerHost.StartAsync(new() { ["RabbitMq:Uri"] = _node.AmqpUri(vhost).ToString(), ["Worker:Role"] = "Receiver" });
        var body = StripeEvents.WithId(Completed, StripeEvents.NewEventId());

        using var first = await worker.PostSignedAsync(body);
        using var second = await worker.PostSignedAsync(body);

        Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var messages = await _node.DrainAsync(vhost, Topology.IntakeQueue);
        Assert.That(messages, Has.Count.EqualTo(2));
        Assert.That(messages.Select(m => m.BasicProperties.MessageId).Distinct().Count(), Is.EqualTo(1));
    }

    [Test]
    public async Task An_event_no_queue_takes_is_answered_503_not_200()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await WorkerHost.StartAsync(new() { ["RabbitMq:Uri"] = _node.AmqpUri(vhost).ToString(), ["Worker:Role"] = "Receiver" });
        using (var before = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId())))
        {
            Assert.That(before.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        // Someone deletes the intake queue: the exchange now routes nowhere, and the broker returns the mandatory publish.
        await using (var connection = await _node.ConnectAsync(vhost))
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeleteAsync(Topology.IntakeQueue);
        }

        using var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId()));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), await response.Content.ReadAsStringAsync());
        Assert.That(response.Headers.RetryAfter?.Delta, Is.Not.Null);
    }

    [Test]
    public async Task While_the_broker_blocks_publishers_nothing_is_answered_200()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await WorkerHost.StartAsync(new()
        {
            ["RabbitMq:Uri"] = _node.AmqpUri(vhost).ToString(),
            ["Worker:Role"] = "Receiver",
            ["Webhooks:PublishTimeoutSeconds"] = "2",
        });
        using (var warm = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId())))
        {
            Assert.That(warm.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        // A memory alarm makes RabbitMQ stop reading from publishing connections: no confirmation can come.
        await _node.CtlAsync(["set_vm_memory_high_watermark", "0"]);
        try
        {
            using var blocked = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId()));
            Assert.That(blocked.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), await blocked.Content.ReadAsStringAsync());
        }
        finally
        {
            await _node.CtlAsync(["set_vm_memory_high_watermark", "0.4"]);
        }

        var recovered = await PostUntilOkAsync(worker, TimeSpan.FromSeconds(60));
        Assert.That(recovered, Is.Not.Null, "after the alarm clears, events are accepted again");
    }

    [Test]
    public async Task A_request_aborted_mid_publish_fails_no_other_request_and_is_counted_as_client_aborted()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await WorkerHost.StartAsync(new()
        {
            ["RabbitMq:Uri"] = _node.AmqpUri(vhost).ToString(),
            ["Worker:Role"] = "Receiver",
            // Long enough that no publish times out while the broker holds them (below).
            ["Webhooks:PublishTimeoutSeconds"] = "30",
        });
        using (var warm = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId())))
        {
            Assert.That(warm.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the shared channel is open");
        }

        await _node.CtlAsync(["purge_queue", "-p", vhost, Topology.IntakeQueue]);

        // A memory alarm holds every publish on the broker (no confirmation comes) while a quarter of the clients give up.
        const int Requests = 64;
        var ids = Enumerable.Range(0, Requests).Select(_ => StripeEvents.NewEventId()).ToArray();
        var aborts = ids.Select(_ => new CancellationTokenSource()).ToArray();
        var answers = new Task<HttpResponseMessage>[Requests];
        var publishing = 0;
        using var publishes = new ActivityListener
        {
            ShouldListenTo = source => source.Name == SyncWorkerTelemetry.Activities.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStarted = activity =>
            {
                if (activity.OperationName == RabbitMqStripeEventPublisher.PublishActivityName)
                {
                    Interlocked.Increment(ref publishing);
                }
            },
        };
        ActivitySource.AddActivityListener(publishes);
        await _node.CtlAsync(["set_vm_memory_high_watermark", "0"]);
        try
        {
            for (var i = 0; i < Requests; i++)
            {
                answers[i] = worker.PostSignedAsync(StripeEvents.WithId(Completed, ids[i]), aborts[i].Token);
            }

            var blocked = await Eventually.TrueAsync(
                async () => (await _node.CtlAsync(["list_connections", "-p", vhost, "state"])).Contains("blocked", StringComparison.Ordinal),
                TimeSpan.FromSeconds(20));
            Assert.That(blocked, Is.True, "the broker blocks the publishing connection");
            var allPublishing = await Eventually.TrueAsync(() => Volatile.Read(ref publishing) >= Requests, TimeSpan.FromSeconds(30));
            Assert.That(allPublishing, Is.True, $"every request reached its publish ({publishing} of {Requests})");
            Assert.That(answers.Count(a => a.IsCompleted), Is.Zero, "every request is still waiting for its confirmation");
            for (var i = 0; i < Requests; i += 4)
            {
                await aborts[i].CancelAsync();
            }

            // The worker sees every abort before the broker lets the other publishes through (asserted below).
            await Eventually.TrueAsync(async () => ClientAborted(await MetricsAsync(worker)) >= Requests / 4, TimeSpan.FromSeconds(20));
        }
        finally
        {
            await _node.CtlAsync(["set_vm_memory_high_watermark", "0.4"]);
        }

        var statuses = new HttpStatusCode?[Requests];
        for (var i = 0; i < Requests; i++)
        {
            try
            {
                using var response = await answers[i];
                statuses[i] = response.StatusCode;
            }
            catch (OperationCanceledException) when (aborts[i].IsCancellationRequested)
            {
                statuses[i] = null;
            }
            catch (HttpRequestException)
            {
                statuses[i] = 0; // no answer at all
            }
            catch (TaskCanceledException)
            {
                statuses[i] = 0; // no answer within the client's timeout
            }
        }

        var aborted = ClientAborted(await MetricsAsync(worker));
        var notAborted = Enumerable.Range(0, Requests).Where(i => i % 4 != 0).ToList();
        var answered200 = Enumerable.Range(0, Requests).Where(i => statuses[i] == HttpStatusCode.OK).Select(i => ids[i]).ToList();
        var queued = (await _node.DrainAsync(vhost, Topology.IntakeQueue))
            .Select(m => Encoding.UTF8.GetString((byte[])m.BasicProperties.Headers![MassTransitStripeEventPublisher.StripeEventIdHeader]!))
            .ToHashSet();
        TestContext.Out.WriteLine(
            $"item 1: {Requests} requests, {Requests / 4} aborted by their client; {answered200.Count} answered 200, " +
            $"{statuses.Count(s => s is not null && s != HttpStatusCode.OK)} other answers; {aborted} counted client_aborted; {queued.Count} events in the intake queue " +
            $"({queued.Count(id => ids.Where((_, i) => i % 4 == 0).Contains(id))} of them aborted requests, published all the same)");
        Assert.Multiple(() =>
        {
            Assert.That(notAborted.Select(i => statuses[i]), Is.All.EqualTo(HttpStatusCode.OK), "every request not aborted is answered 200");
            Assert.That(answered200.Where(id => !queued.Contains(id)), Is.Empty, "every event answered 200 is in the queue");
            Assert.That(aborted, Is.EqualTo(Requests / 4), "each aborted request counted once (syncworker_webhooks_received_total, outcome client_aborted)");
        });
    }

    private static async Task<string> MetricsAsync(WorkerHost worker)
    {
        using var response = await worker.Client.GetAsync(new Uri("/metrics", UriKind.Relative));
        return await response.Content.ReadAsStringAsync();
    }

    private static double ClientAborted(string metrics)
    {
        var match = System.Text.RegularExpressions.Regex.Match(
            metrics, @"^syncworker_webhooks_received_total\{[^}]*outcome=""client_aborted""[^}]*\} (\S+)", System.Text.RegularExpressions.RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }

    /// <summary>Posts new events until one is accepted; returns its id, or null at the deadline.</summary>
    internal static async Task<string?> PostUntilOkAsync(WorkerHost worker, TimeSpan deadline)
    {
        var until = DateTime.UtcNow + deadline;
        while (DateTime.UtcNow < until)
        {
            var id = StripeEvents.NewEventId();
            using var response = await worker.PostSignedAsync(StripeEvents.WithId(Completed, id));
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return id;
            }

            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), "only 200 or 503 while the broker recovers");
            await Task.Delay(500);
        }

        return null;
    }
}
