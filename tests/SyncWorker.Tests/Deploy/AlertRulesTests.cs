using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace SyncWorker.Tests.Deploy;

/// <summary>
/// <c>deploy/prometheus/alerts.yml</c> is a Prometheus rule file whose alerts each have a severity, a summary, a
/// description and a runbook in <c>docs/RUNBOOKS.md</c>; <c>prometheus.yml</c> loads it and defines the jobs it uses.
/// </summary>
public sealed partial class AlertRulesTests
{
    private static readonly string[] RequiredAlerts =
    [
        "SyncWorkerDeadLettersPresent", "SyncWorkerDeliveriesWaitingTooLong", "SyncWorkerCircuitOpenLong",
        "SyncWorkerRefusedWebhooksSpiking", "SyncWorkerReceiverNotReady",
    ];

    private static readonly string[] RunbookSections = ["What it means", "How to confirm", "What to do", "When to escalate"];

    [Test]
    public void Parses_as_rule_groups_of_complete_alerting_rules()
    {
        var root = DeployFiles.Yaml(DeployFiles.AlertsPath);
        var groups = DeployFiles.Sequence(root, "groups").Cast<YamlMappingNode>().ToList();
        var rules = DeployFiles.AlertRules();

        Assert.Multiple(() =>
        {
            Assert.That(groups, Is.Not.Empty);
            Assert.That(groups.Select(g => DeployFiles.Scalar(g, "name")), Is.Unique.And.All.Not.Null.And.All.Not.Empty);
            Assert.That(rules.Select(r => r.Alert), Is.Unique.And.All.Not.Empty, "alerting rules only, each named once");
            foreach (var rule in rules)
            {
                Assert.That(rule.Expression, Is.Not.Empty, rule.Alert);
                Assert.That(rule.For, Does.Match("^([0-9]+(ms|s|m|h|d|w|y))+$"), $"{rule.Alert}: for");
                Assert.That(rule.Labels.GetValueOrDefault("severity"), Is.AnyOf("critical", "warning", "info"), $"{rule.Alert}: labels.severity");
                Assert.That(rule.Annotations.GetValueOrDefault("summary"), Is.Not.Null.And.Not.Empty, $"{rule.Alert}: annotations.summary");
                Assert.That(rule.Annotations.GetValueOrDefault("description"), Is.Not.Null.And.Not.Empty, $"{rule.Alert}: annotations.description");
                Assert.That(rule.Annotations.GetValueOrDefault("runbook_url"), Does.StartWith("https://"), $"{rule.Alert}: annotations.runbook_url");
            }
        });
    }

    [Test]
    public void Has_the_alerts_the_issue_asks_for() =>
        Assert.That(DeployFiles.AlertRules().Select(r => r.Alert), Is.SupersetOf(RequiredAlerts));

    [Test]
    public void Every_expression_reads_as_PromQL_with_known_functions()
    {
        var unknown = DeployFiles.AlertExpressions()
            .SelectMany(e => PromQl.Read(e.Expression).Functions.Select(f => (e.Where, Function: f)))
            .Where(f => !PromQl.Functions.Contains(f.Function) && !PromQl.Aggregations.Contains(f.Function))
            .Select(f => $"{f.Where}: {f.Function}");

        Assert.That(unknown, Is.Empty);
    }

    [Test]
    public void Annotations_use_only_labels_the_expression_keeps()
    {
        var problems = new List<string>();
        foreach (var rule in DeployFiles.AlertRules())
        {
            var read = PromQl.Read(rule.Expression);
            var aggregates = read.Functions.Any(PromQl.Aggregations.Contains);
            foreach (Match used in LabelReference().Matches(string.Join('\n', rule.Annotations.Values)))
            {
                var label = used.Groups["label"].Value;
                var kept = read.GroupingLabels.Contains(label) || (!aggregates && label is "instance" or "job");
                if (!kept)
                {
                    problems.Add($"{rule.Alert}: $labels.{label} is not kept by the expression");
                }
            }
        }

        Assert.That(problems, Is.Empty);
    }

    [Test]
    public void Every_runbook_url_points_at_the_alerts_own_section_of_the_runbooks()
    {
        var anchors = RunbookHeadings().Select(Slug).ToHashSet(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var rule in DeployFiles.AlertRules())
        {
            var url = new Uri(rule.Annotations["runbook_url"]);
            var anchor = url.Fragment.TrimStart('#');
            if (!url.AbsolutePath.EndsWith("/" + DeployFiles.RunbooksPath, StringComparison.Ordinal))
            {
                problems.Add($"{rule.Alert}: {url} is not {DeployFiles.RunbooksPath}");
            }

            if (anchor != Slug(rule.Alert))
            {
                problems.Add($"{rule.Alert}: anchor #{anchor} is not the alert's name");
            }

            if (!anchors.Contains(anchor))
            {
                problems.Add($"{rule.Alert}: no heading of {DeployFiles.RunbooksPath} has the anchor #{anchor}");
            }
        }

        Assert.That(problems, Is.Empty);
    }

    [Test]
    public void Every_runbook_is_for_an_existing_alert_and_says_what_it_means_how_to_confirm_what_to_do_and_when_to_escalate()
    {
        var alerts = DeployFiles.AlertRules().Select(r => r.Alert).ToList();
        var sections = ReadRunbookSections();

        Assert.That(sections.Keys, Is.EquivalentTo(alerts), "one '## AlertName' section per alert");
        Assert.Multiple(() =>
        {
            foreach (var (alert, subheadings) in sections)
            {
                Assert.That(subheadings, Is.SupersetOf(RunbookSections), alert);
            }
        });
    }

    [Test]
    public void Prometheus_config_loads_the_rules_and_defines_the_jobs_they_use()
    {
        var config = DeployFiles.Yaml(DeployFiles.PrometheusConfigPath);
        var ruleFiles = DeployFiles.Sequence(config, "rule_files").Cast<YamlScalarNode>().Select(n => n.Value).ToList();
        var jobs = DeployFiles.Sequence(config, "scrape_configs").Cast<YamlMappingNode>()
            .ToDictionary(job => DeployFiles.Scalar(job, "job_name")!);
        var usedJobs = DeployFiles.AlertExpressions().Concat(DeployFiles.PanelExpressions(DeployFiles.Dashboard()))
            .SelectMany(e => PromQl.Read(e.Expression).Selectors)
            .SelectMany(s => s.Matchers.Where(m => m.Label == "job").Select(m => m.Value))
            .ToHashSet(StringComparer.Ordinal);

        Assert.Multiple(() =>
        {
            Assert.That(ruleFiles, Does.Contain("alerts.yml"));
            Assert.That(jobs.Keys, Is.SupersetOf(usedJobs), "every job an expression matches on is scraped");
            Assert.That(usedJobs, Is.EquivalentTo(new[] { "syncworker", "syncworker-ready" }));
            Assert.That(DeployFiles.Scalar(jobs["syncworker"], "metrics_path"), Is.EqualTo("/metrics"));
            Assert.That(DeployFiles.Scalar(jobs["syncworker-ready"], "metrics_path"), Is.EqualTo("/probe"), "a blackbox-exporter probe");
            var module = DeployFiles.Sequence((YamlMappingNode)jobs["syncworker-ready"][new YamlScalarNode("params")], "module").Cast<YamlScalarNode>().Single().Value;
            Assert.That(((YamlMappingNode)DeployFiles.Yaml("deploy/prometheus/blackbox.yml")[new YamlScalarNode("modules")]).Children.Keys
                .Cast<YamlScalarNode>().Select(k => k.Value), Does.Contain(module), "the probe's module is defined in blackbox.yml");
            var probed = DeployFiles.Sequence(jobs["syncworker-ready"], "static_configs").Cast<YamlMappingNode>()
                .SelectMany(c => DeployFiles.Sequence(c, "targets").Cast<YamlScalarNode>().Select(t => t.Value!)).ToList();
            Assert.That(probed, Is.Not.Empty.And.All.EndsWith("/health/ready"));
        });
    }

    /// <summary>The level-2 headings of RUNBOOKS.md and, for each, its level-3 headings.</summary>
    private static Dictionary<string, List<string>> ReadRunbookSections()
    {
        var sections = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        List<string>? current = null;
        foreach (var line in File.ReadLines(WorkerHost.RepositoryFile(DeployFiles.RunbooksPath)))
        {
            if (line.StartsWith("## ", StringComparison.Ordinal) && line[3..].Trim().StartsWith("SyncWorker", StringComparison.Ordinal))
            {
                current = [];
                sections.Add(line[3..].Trim(), current);
            }
            else if (line.StartsWith("## ", StringComparison.Ordinal))
            {
                current = null;
            }
            else if (line.StartsWith("### ", StringComparison.Ordinal))
            {
                current?.Add(line[4..].Trim());
            }
        }

        return sections;
    }

    private static IEnumerable<string> RunbookHeadings() =>
        File.ReadLines(WorkerHost.RepositoryFile(DeployFiles.RunbooksPath))
            .Select(line => HeadingLine().Match(line))
            .Where(match => match.Success)
            .Select(match => match.Groups["text"].Value.Trim());

    /// <summary>The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces as dashes.</summary>
    private static string Slug(string heading) =>
        NotSlugCharacter().Replace(heading.ToLowerInvariant(), "").Replace(' ', '-');

    [GeneratedRegex(@"^#{1,6} (?<text>.+)$")]
    private static partial Regex HeadingLine();

    [GeneratedRegex(@"[^\p{L}\p{Nd} _-]")]
    private static partial Regex NotSlugCharacter();

    [GeneratedRegex(@"\$labels\.(?<label>[a-zA-Z_][a-zA-Z0-9_]*)")]
    private static partial Regex LabelReference();
}
