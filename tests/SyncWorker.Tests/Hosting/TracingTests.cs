using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using OpenTelemetry;
using OpenTelemetry.Trace;
using SyncWorker.Testing;
using SyncWorker.Tests.EndToEnd;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Tests.Hosting;

/// <summary>One trace from the webhook, through the broker, to the target call.</summary>
[NonParallelizable]
public sealed class TracingTests
{
    [Test]
    public async Task The_webhook_request_the_broker_hop_and_the_target_call_share_one_trace()
    {
        await using var node = await RabbitMqNode.LaunchAsync();
        var vhost = await node.CreateVirtualHostAsync();
        using var target = WireMockServer.Start();
        target.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
        var exported = new ConcurrentQueue<Activity>();
        var settings = new Dictionary<string, string?>
        {
            ["RabbitMq:Uri"] = node.AmqpUri(vhost).ToString(),
            // No OTLP endpoint here: the test's own exporter collects the spans.
            ["Telemetry:Tracing"] = "true",
            ["Manifest:Path"] = TestManifest.WithConnectSrc(target.Url + "/fulfillment/"),
            ["Fulfillment:Targets:0:Name"] = "traced",
            ["Fulfillment:Targets:0:Url"] = target.Url + "/fulfillment/traced",
            ["Fulfillment:Targets:0:Events:0"] = "checkout.session.*",
            ["Fulfillment:Targets:0:Mode"] = "live",
            ["Fulfillment:Targets:0:Format"] = "event",
            ["Fulfillment:Targets:0:SigningSecret"] = "whsec_" + Convert.ToBase64String(new byte[32]),
        };
        await using var worker = await WorkerHost.StartAsync(settings, builder =>
            builder.Services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddProcessor(new SimpleActivityExportProcessor(new CollectingExporter(exported)))));

        using (var response = await worker.PostSignedAsync(StripeEvents.WithId("checkout.session.completed.json", StripeEvents.NewEventId())))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Activity? Server() => exported.FirstOrDefault(a => a.Kind == ActivityKind.Server && a.DisplayName.Contains("/webhooks/stripe", StringComparison.Ordinal));
        Activity? TargetCall() => exported.FirstOrDefault(a => a.Kind == ActivityKind.Client
            && a.GetTagItem("url.full") is string url && url.Contains("/fulfillment/traced", StringComparison.Ordinal));
        Assert.That(await Eventually.TrueAsync(() => Server() is not null && TargetCall() is not null, TimeSpan.FromSeconds(30)), Is.True,
            "spans seen: " + string.Join(", ", exported.Select(a => $"{a.Kind} {a.DisplayName}")));

        var traceId = Server()!.TraceId;
        Assert.That(TargetCall()!.TraceId, Is.EqualTo(traceId), "the target call belongs to the webhook's trace");
        // The receiver's publish (its own producer span) and MassTransit's consume of the intake queue, in the same trace.
        var publish = exported.FirstOrDefault(a => a.TraceId == traceId && a.Kind == ActivityKind.Producer
            && a.DisplayName == SyncWorker.Messaging.RabbitMqStripeEventPublisher.PublishActivityName);
        Assert.That(publish, Is.Not.Null, "the publish to syncworker.events is in the webhook's trace");
        Assert.That(exported.Any(a => a.TraceId == traceId && a.Source.Name == "MassTransit" && a.Kind == ActivityKind.Consumer
            && a.ParentSpanId == publish!.SpanId), Is.True, "MassTransit's consume of the intake message continues the publish span");
    }

    private sealed class CollectingExporter(ConcurrentQueue<Activity> sink) : BaseExporter<Activity>
    {
        public override ExportResult Export(in Batch<Activity> batch)
        {
            foreach (var activity in batch)
            {
                sink.Enqueue(activity);
            }

            return ExportResult.Success;
        }
    }
}
