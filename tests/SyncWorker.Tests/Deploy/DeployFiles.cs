using System.Text.Json;
using System.Text.Json.Nodes;
using YamlDotNet.RepresentationModel;

namespace SyncWorker.Tests.Deploy;

/// <summary>A PromQL expression of a dashboard panel or an alert rule, and where it is (for failure messages).</summary>
internal sealed record DeployExpression(string Where, string Expression);

/// <summary>An alerting rule of <c>deploy/prometheus/alerts.yml</c>, read field by field.</summary>
internal sealed record AlertRule(string Alert, string Expression, string? For, IReadOnlyDictionary<string, string> Labels, IReadOnlyDictionary<string, string> Annotations);

/// <summary>The files under <c>deploy/</c> and <c>docs/</c> that the tests check, read from the repository.</summary>
internal static class DeployFiles
{
    public const string DashboardPath = "deploy/grafana/syncworker-dashboard.json";
    public const string AlertsPath = "deploy/prometheus/alerts.yml";
    public const string PrometheusConfigPath = "deploy/prometheus/prometheus.yml";
    public const string RunbooksPath = "docs/RUNBOOKS.md";

    public static JsonObject Dashboard() =>
        JsonNode.Parse(File.ReadAllText(WorkerHost.RepositoryFile(DashboardPath)), documentOptions: new JsonDocumentOptions { AllowTrailingCommas = false })!.AsObject();

    /// <summary>Every panel, rows' nested panels included (rows themselves excluded).</summary>
    public static IEnumerable<JsonObject> Panels(JsonObject dashboard)
    {
        foreach (var node in dashboard["panels"]!.AsArray())
        {
            var panel = node!.AsObject();
            if ((string?)panel["type"] == "row")
            {
                foreach (var nested in panel["panels"]?.AsArray() ?? [])
                {
                    yield return nested!.AsObject();
                }
            }
            else
            {
                yield return panel;
            }
        }
    }

    /// <summary>The <c>expr</c> of every target of every panel.</summary>
    public static IEnumerable<DeployExpression> PanelExpressions(JsonObject dashboard) =>
        from panel in Panels(dashboard)
        from target in panel["targets"]?.AsArray() ?? []
        let expr = (string?)target!["expr"]
        where expr is not null
        select new DeployExpression($"panel '{panel["title"]}' ({target["refId"]})", expr);

    public static YamlMappingNode Yaml(string relativePath)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(WorkerHost.RepositoryFile(relativePath));
        stream.Load(reader);
        Assert.That(stream.Documents, Has.Count.EqualTo(1), $"{relativePath} holds one YAML document");
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }

    /// <summary>The rules of every group of the alert rules file; a rule without <c>alert</c> (a recording rule) is kept with an empty name.</summary>
    public static IReadOnlyList<AlertRule> AlertRules()
    {
        var rules = new List<AlertRule>();
        foreach (var group in Sequence(Yaml(AlertsPath), "groups").Cast<YamlMappingNode>())
        {
            foreach (var rule in Sequence(group, "rules").Cast<YamlMappingNode>())
            {
                rules.Add(new AlertRule(
                    Scalar(rule, "alert") ?? "",
                    Scalar(rule, "expr") ?? "",
                    Scalar(rule, "for"),
                    Map(rule, "labels"),
                    Map(rule, "annotations")));
            }
        }

        return rules;
    }

    public static IEnumerable<DeployExpression> AlertExpressions() =>
        AlertRules().Select(rule => new DeployExpression($"alert {rule.Alert}", rule.Expression));

    public static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? ((YamlScalarNode)value).Value : null;

    public static YamlSequenceNode Sequence(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlSequenceNode sequence
            ? sequence
            : throw new AssertionException($"'{key}' is missing or not a list");

    public static IReadOnlyDictionary<string, string> Map(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlMappingNode map
            ? map.Children.ToDictionary(pair => ((YamlScalarNode)pair.Key).Value!, pair => ((YamlScalarNode)pair.Value).Value ?? "", StringComparer.Ordinal)
            : new Dictionary<string, string>();
}
