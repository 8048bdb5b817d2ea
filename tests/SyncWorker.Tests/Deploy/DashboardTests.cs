namespace SyncWorker.Tests.Deploy;

/// <summary><c>deploy/grafana/syncworker-dashboard.json</c> is a Grafana dashboard model whose every panel queries Prometheus.</summary>
public sealed class DashboardTests
{
    private const string Datasource = "${DS_PROMETHEUS}";

    [Test]
    public void Parses_as_a_dashboard_with_a_uid_a_title_and_panels()
    {
        var dashboard = DeployFiles.Dashboard();

        Assert.Multiple(() =>
        {
            Assert.That((string?)dashboard["uid"], Is.Not.Null.And.Not.Empty);
            Assert.That((string?)dashboard["title"], Is.Not.Null.And.Not.Empty);
            Assert.That((int?)dashboard["schemaVersion"], Is.GreaterThanOrEqualTo(36));
            Assert.That(DeployFiles.Panels(dashboard).Count(), Is.GreaterThanOrEqualTo(12));
        });
    }

    [Test]
    public void Every_panel_queries_the_prometheus_variable_with_at_least_one_expression()
    {
        var problems = new List<string>();
        foreach (var panel in DeployFiles.Panels(DeployFiles.Dashboard()))
        {
            var title = (string?)panel["title"];
            if ((string?)panel["datasource"]?["uid"] != Datasource)
            {
                problems.Add($"panel '{title}': datasource is not {Datasource}");
            }

            var targets = panel["targets"]?.AsArray() ?? [];
            if (targets.Count == 0)
            {
                problems.Add($"panel '{title}': no targets");
            }

            foreach (var target in targets)
            {
                if (string.IsNullOrWhiteSpace((string?)target!["expr"]))
                {
                    problems.Add($"panel '{title}' ({target["refId"]}): no expr");
                }

                if ((string?)target["datasource"]?["uid"] is { } uid && uid != Datasource)
                {
                    problems.Add($"panel '{title}' ({target["refId"]}): datasource {uid}");
                }
            }

            if (targets.Select(t => (string?)t!["refId"]).Distinct().Count() != targets.Count)
            {
                problems.Add($"panel '{title}': repeated refId");
            }
        }

        Assert.That(problems, Is.Empty);
    }

    [Test]
    public void Every_expression_reads_as_PromQL_with_known_functions()
    {
        var unknown = DeployFiles.PanelExpressions(DeployFiles.Dashboard())
            .SelectMany(e => PromQl.Read(e.Expression).Functions.Select(f => (e.Where, Function: f)))
            .Where(f => !PromQl.Functions.Contains(f.Function) && !PromQl.Aggregations.Contains(f.Function))
            .Select(f => $"{f.Where}: {f.Function}");

        Assert.That(unknown, Is.Empty);
    }

    [Test]
    public void Panels_have_unique_ids_and_titles_and_fit_the_24_column_grid()
    {
        var dashboard = DeployFiles.Dashboard();
        var all = dashboard["panels"]!.AsArray().Select(p => p!.AsObject()).Concat(DeployFiles.Panels(dashboard)).Distinct().ToList();

        Assert.Multiple(() =>
        {
            Assert.That(all.Select(p => (int?)p["id"]), Is.Unique.And.All.Not.Null);
            Assert.That(DeployFiles.Panels(dashboard).Select(p => (string?)p["title"]), Is.Unique.And.All.Not.Empty);
            foreach (var panel in all)
            {
                var grid = panel["gridPos"]!;
                Assert.That((int)grid["x"]! + (int)grid["w"]!, Is.InRange(1, 24), $"panel '{panel["title"]}'");
                Assert.That((int)grid["h"]!, Is.GreaterThan(0), $"panel '{panel["title"]}'");
            }
        });
    }

    [Test]
    public void Has_the_prometheus_datasource_and_target_variables()
    {
        var variables = DeployFiles.Dashboard()["templating"]!["list"]!.AsArray().Select(v => v!.AsObject()).ToDictionary(v => (string)v["name"]!);

        Assert.That(variables, Contains.Key("DS_PROMETHEUS").And.ContainKey("target"));
        Assert.Multiple(() =>
        {
            Assert.That((string?)variables["DS_PROMETHEUS"]["type"], Is.EqualTo("datasource"));
            Assert.That((string?)variables["DS_PROMETHEUS"]["query"], Is.EqualTo("prometheus"));
            Assert.That((string?)variables["target"]["type"], Is.EqualTo("query"));
            Assert.That((string?)variables["target"]["datasource"]?["uid"], Is.EqualTo(Datasource));
            Assert.That((string?)variables["target"]["query"]?["query"], Is.EqualTo("label_values(syncworker_deliveries_total, target)"));
            Assert.That((bool?)variables["target"]["includeAll"], Is.True);
        });
    }

    [Test]
    public void Per_target_panels_filter_on_the_target_variable()
    {
        var unfiltered = DeployFiles.PanelExpressions(DeployFiles.Dashboard())
            .Where(e => PromQl.Read(e.Expression).Selectors.Any(s => s.Metric.StartsWith("syncworker_", StringComparison.Ordinal)
                && s.Metric != "syncworker_intake_messages" && !s.Metric.StartsWith("syncworker_webhooks_", StringComparison.Ordinal)
                && !s.Matchers.Contains(new LabelMatcher("target", "=~", "$target"))))
            .Select(e => e.Where);

        Assert.That(unfiltered, Is.Empty, "every per-target series follows the Target selector");
    }

    [Test]
    public void Covers_what_the_issue_asks_for()
    {
        var metrics = DeployFiles.PanelExpressions(DeployFiles.Dashboard())
            .SelectMany(e => PromQl.Read(e.Expression).Selectors.Select(s => s.Metric))
            .ToHashSet(StringComparer.Ordinal);

        Assert.That(metrics, Is.SupersetOf(new[]
        {
            "syncworker_webhooks_received_total", "syncworker_webhooks_duration_seconds_bucket", "syncworker_deliveries_total",
            "syncworker_delivery_attempts_total", "syncworker_delivery_receipt_to_delivery_seconds_bucket",
            "syncworker_delivery_created_to_delivery_seconds_bucket", "syncworker_deliveries_in_flight", "syncworker_queue_messages",
            "syncworker_intake_messages", "syncworker_target_circuit_open", "syncworker_target_paused", "probe_success", "up",
        }));
    }
}
