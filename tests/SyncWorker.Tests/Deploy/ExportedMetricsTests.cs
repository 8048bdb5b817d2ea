using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using SyncWorker.Testing;
using SyncWorker.Tests.EndToEnd;
using WireMock.Matchers;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Tests.Deploy;

/// <summary>
/// Every metric, label and label value that the Grafana dashboard and the Prometheus alert rules use is one a real
/// worker exports: a worker (role All) on a private RabbitMQ node delivers to a WireMock target that accepts one
/// event, refuses one (400, dead-lettered) and fails one once (503, retry scheduled, then delivered); one webhook is
/// refused for its signature. Then <c>/metrics</c> is scraped once the queue gauges have sampled the dead letter.
/// </summary>
[NonParallelizable]
public sealed partial class ExportedMetricsTests
{
    /// <summary>Series Prometheus itself makes (scrape health, blackbox probes), not the worker.</summary>
    private static readonly string[] PrometheusMade = ["probe_success", "up"];

    /// <summary>Target labels Prometheus attaches to every scraped series.</summary>
    private static readonly string[] PrometheusLabels = ["instance", "job"];

    private static readonly string SigningSecret = "whsec_" + Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());

    private PrometheusScrape _scrape = null!;

    [OneTimeSetUp]
    public async Task ScrapeARealWorkerAsync()
    {
        await using var node = await RabbitMqNode.LaunchAsync();
        using var target = WireMockServer.Start();
        var delivered = StripeEvents.NewEventId();
        var refused = StripeEvents.NewEventId();
        var retried = StripeEvents.NewEventId();
        target.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).AtPriority(10)
            .RespondWith(Response.Create().WithStatusCode(200));
        target.Given(Request.Create().WithPath("/fulfillment/*").UsingPost().WithBody(new WildcardMatcher($"*{refused}*"))).AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(400));
        target.Given(Request.Create().WithPath("/fulfillment/*").UsingPost().WithBody(new WildcardMatcher($"*{retried}*"))).AtPriority(1)
            .InScenario("retried").WillSetStateTo("failed once")
            .RespondWith(Response.Create().WithStatusCode(503));

        var vhost = await node.CreateVirtualHostAsync();
        // syncworker.poison exists where the deploy/rabbitmq definitions are loaded; one message in it, so its gauge is
        // exported as in such a deployment.
        await using (var connection = await node.ConnectAsync(vhost))
        await using (var channel = await connection.CreateChannelAsync(new RabbitMQ.Client.CreateChannelOptions(true, true)))
        {
            await channel.QueueDeclareAsync(SyncWorker.Contracts.Topology.PoisonQueue, durable: true, exclusive: false, autoDelete: false);
            await channel.BasicPublishAsync("", SyncWorker.Contracts.Topology.PoisonQueue, mandatory: true, new RabbitMQ.Client.BasicProperties { Persistent = true }, "{}"u8.ToArray());
        }

        await using var worker = await WorkerHost.StartAsync(new()
        {
            ["RabbitMq:Uri"] = node.AmqpUri(vhost).ToString(),
            ["Worker:Role"] = "All",
            ["Manifest:Path"] = TestManifest.WithConnectSrc(target.Url + "/fulfillment/"),
            ["Fulfillment:Targets:0:Name"] = "warehouse",
            ["Fulfillment:Targets:0:Url"] = target.Url + "/fulfillment/warehouse",
            ["Fulfillment:Targets:0:Events:0"] = "checkout.session.*",
            ["Fulfillment:Targets:0:Mode"] = "live",
            ["Fulfillment:Targets:0:Format"] = "event",
            ["Fulfillment:Targets:0:SigningSecret"] = SigningSecret,
            ["Fulfillment:Targets:0:Retry:MaxRetryAttempts"] = "0",
            ["Fulfillment:Targets:0:Redelivery:DelaysSeconds:0"] = "1",
            ["Fulfillment:Targets:0:Redelivery:Jitter"] = "0",
            ["Fulfillment:Targets:0:CircuitBreaker:MinimumThroughput"] = "100",
        });

        foreach (var id in new[] { delivered, refused, retried })
        {
            using var response = await worker.PostSignedAsync(StripeEvents.WithId("checkout.session.completed.json", id));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        using (var badSignature = await PostWithWrongSecretAsync(worker))
        {
            Assert.That(badSignature.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        }

        // Wait until every outcome happened and a queue-depth sample (every 10 s) saw the dead letter.
        PrometheusScrape? scrape = null;
        var complete = await Eventually.TrueAsync(async () =>
        {
            scrape = await ScrapeAsync(worker);
            return scrape.Value("syncworker_deliveries_total", ("outcome", "delivered")) >= 2
                && scrape.Value("syncworker_deliveries_total", ("outcome", "retry_scheduled")) >= 1
                && scrape.Value("syncworker_deliveries_total", ("outcome", "dead_lettered")) >= 1
                && scrape.Value("syncworker_queue_messages", ("state", "dead_lettered")) >= 1
                && scrape.Value("syncworker_poison_messages") >= 1;
        }, TimeSpan.FromSeconds(30));
        Assert.That(complete, Is.True, "delivered, retried and dead-lettered deliveries and a queue sample within 30 s:\n" + scrape?.Text);
        _scrape = scrape!;
        var saved = Path.Combine(TestContext.CurrentContext.WorkDirectory, "deploy-scrape.txt");
        await File.WriteAllTextAsync(saved, _scrape.Text);
        TestContext.AddTestAttachment(saved, "The /metrics answer the deploy files were checked against");
    }

    [Test]
    public void Every_metric_a_panel_or_an_alert_uses_is_exported_by_the_worker()
    {
        var used = AllExpressions()
            .SelectMany(e => PromQl.Read(e.Expression).Selectors.Select(s => (e.Where, s.Metric)))
            .Concat(TemplateVariableMetrics().Select(v => (v.Where, v.Metric)))
            .ToList();
        var missing = used.Where(u => !_scrape.Names.Contains(u.Metric)).ToList();

        Assert.That(used.Select(u => u.Metric).Distinct().Count(m => m.StartsWith("syncworker_", StringComparison.Ordinal)), Is.GreaterThanOrEqualTo(10),
            "the files use the worker's metrics");
        Assert.That(missing.Select(m => m.Metric).Distinct().Order(StringComparer.Ordinal), Is.EqualTo(PrometheusMade),
            "only Prometheus's own series (scrape health, blackbox probe) are not in the worker's scrape; not exported: "
            + string.Join("; ", missing.Where(m => !PrometheusMade.Contains(m.Metric)).Select(m => $"{m.Metric} in {m.Where}")));
    }

    [Test]
    public void Every_label_a_selector_matches_on_is_exported_with_its_metric()
    {
        var problems = new List<string>();
        var prometheusLabelsUsed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (where, expression) in AllExpressions())
        {
            foreach (var selector in PromQl.Read(expression).Selectors.Where(s => !PrometheusMade.Contains(s.Metric)))
            {
                var samples = _scrape.Of(selector.Metric).ToList();
                foreach (var matcher in selector.Matchers)
                {
                    if (PrometheusLabels.Contains(matcher.Label))
                    {
                        prometheusLabelsUsed.Add(matcher.Label);
                    }
                    else if (!samples.Any(s => s.Labels.ContainsKey(matcher.Label)))
                    {
                        problems.Add($"{where}: {selector.Metric} has no label '{matcher.Label}'");
                    }
                    else if (matcher.Operator == "=" && !matcher.Value.Contains('$', StringComparison.Ordinal)
                        && !samples.Any(s => s.Labels[matcher.Label] == matcher.Value))
                    {
                        problems.Add($"{where}: {selector.Metric} never has {matcher.Label}=\"{matcher.Value}\"");
                    }
                    else if (matcher.Operator == "=~" && LiteralAlternatives().IsMatch(matcher.Value))
                    {
                        problems.AddRange(matcher.Value.Split('|')
                            .Where(value => !samples.Any(s => s.Labels[matcher.Label] == value))
                            .Select(value => $"{where}: {selector.Metric} never has {matcher.Label}=\"{value}\""));
                    }
                }
            }
        }

        Assert.That(problems, Is.Empty);
        Assert.That(prometheusLabelsUsed, Is.SubsetOf(PrometheusLabels), "labels not in the scrape are only the ones Prometheus attaches");
    }

    [Test]
    public void Every_label_an_expression_groups_or_joins_on_is_exported_with_one_of_its_metrics()
    {
        var problems = new List<string>();
        foreach (var (where, expression) in AllExpressions())
        {
            var read = PromQl.Read(expression);
            var labels = read.Selectors
                .SelectMany(s => PrometheusMade.Contains(s.Metric) ? PrometheusLabels : _scrape.Of(s.Metric).SelectMany(sample => sample.Labels.Keys))
                .Concat(PrometheusLabels)
                .ToHashSet(StringComparer.Ordinal);
            problems.AddRange(read.GroupingLabels.Where(label => !labels.Contains(label)).Select(label => $"{where}: no metric of it has '{label}'"));
        }

        Assert.That(problems, Is.Empty);
    }

    [Test]
    public void The_target_variable_lists_the_configured_target()
    {
        var (_, metric, label) = TemplateVariableMetrics().Single(v => v.Where == "variable target");
        Assert.That(_scrape.Of(metric).Select(s => s.Labels.GetValueOrDefault(label)), Does.Contain("warehouse"));
    }

    private static IEnumerable<DeployExpression> AllExpressions() =>
        DeployFiles.PanelExpressions(DeployFiles.Dashboard()).Concat(DeployFiles.AlertExpressions());

    /// <summary>Metrics named by Grafana's <c>label_values(metric, label)</c> in query variables.</summary>
    private static IEnumerable<(string Where, string Metric, string Label)> TemplateVariableMetrics() =>
        from variable in DeployFiles.Dashboard()["templating"]!["list"]!.AsArray()
        where (string?)variable!["type"] == "query"
        let query = variable!["query"] is System.Text.Json.Nodes.JsonObject q ? (string?)q["query"] : (string?)variable["query"]
        let match = LabelValues().Match(query ?? "")
        select match.Success
            ? ($"variable {variable["name"]}", match.Groups["metric"].Value, match.Groups["label"].Value)
            : throw new AssertionException($"variable {variable["name"]}: cannot read '{query}'");

    private static async Task<PrometheusScrape> ScrapeAsync(WorkerHost worker)
    {
        using var response = await worker.Client.GetAsync(new Uri("/metrics", UriKind.Relative));
        response.EnsureSuccessStatusCode();
        return PrometheusScrape.Parse(await response.Content.ReadAsStringAsync());
    }

    private static Task<HttpResponseMessage> PostWithWrongSecretAsync(WorkerHost worker)
    {
        var bytes = Encoding.UTF8.GetBytes(StripeEvents.WithId("checkout.session.completed.json", StripeEvents.NewEventId()));
        var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/stripe") { Content = new ByteArrayContent(bytes) };
        request.Content.Headers.ContentType = new("application/json");
        request.Headers.TryAddWithoutValidation("Stripe-Signature",
            StripeEvents.SignatureHeader(bytes, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), "whsec_rotated_wrongly_0001"));
        return worker.Client.SendAsync(request);
    }

    [GeneratedRegex(@"^label_values\(\s*(?<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*(?<label>[a-zA-Z_][a-zA-Z0-9_]*)\s*\)$")]
    private static partial Regex LabelValues();

    [GeneratedRegex(@"^[a-z0-9_]+(\|[a-z0-9_]+)*$")]
    private static partial Regex LiteralAlternatives();
}
