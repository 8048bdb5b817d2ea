namespace SyncWorker.Tests.Deploy;

/// <summary>The PromQL reader that the deploy-file tests rely on finds what an expression refers to, and refuses what it cannot read.</summary>
public sealed class PromQlTests
{
    [Test]
    public void Finds_metric_names_matchers_functions_and_grouping_labels()
    {
        var read = PromQl.Read("""
            histogram_quantile(0.99, sum by (target, le) (rate(syncworker_delivery_receipt_to_delivery_seconds_bucket{target=~"$target", job="syncworker"}[$__rate_interval])))
            / on (target) group_left max without (instance) (max_over_time(syncworker_target_paused[1h:1m] offset 5m)) > bool 1e-3
            """);

        Assert.That(read.Selectors.Select(s => s.Metric), Is.EqualTo(new[] { "syncworker_delivery_receipt_to_delivery_seconds_bucket", "syncworker_target_paused" }));
        Assert.That(read.Selectors[0].Matchers, Is.EqualTo(new[] { new LabelMatcher("target", "=~", "$target"), new LabelMatcher("job", "=", "syncworker") }));
        Assert.That(read.Selectors[1].Matchers, Is.Empty);
        Assert.That(read.Functions, Is.EqualTo(new[] { "histogram_quantile", "sum", "rate", "max", "max_over_time" }));
        Assert.That(read.GroupingLabels, Is.EqualTo(new[] { "target", "le", "target", "instance" }));
    }

    [Test]
    public void Keywords_strings_durations_and_variables_are_not_metric_names()
    {
        var read = PromQl.Read("""
            up{job="syncworker"} == 0 or probe_success{job='a "quoted" or'} == 0 unless vector(1) and ${other}
            """);

        Assert.That(read.Selectors.Select(s => s.Metric), Is.EqualTo(new[] { "up", "probe_success" }));
        Assert.That(read.Selectors[1].Matchers.Single().Value, Is.EqualTo("a \"quoted\" or"));
    }

    [Test]
    public void A_misspelt_metric_is_reported_as_it_is_written()
    {
        var read = PromQl.Read("sum(rate(syncworker_webhook_received_total[5m]))");

        Assert.That(read.Selectors.Single().Metric, Is.EqualTo("syncworker_webhook_received_total"));
    }

    [TestCase("sum(rate(x[5m])", TestName = "Unbalanced parenthesis")]
    [TestCase("x{job=\"a\"", TestName = "Unclosed matcher")]
    [TestCase("x{job=a}", TestName = "Unquoted matcher value")]
    [TestCase("{job=\"a\"}", TestName = "Matcher without a metric name")]
    [TestCase("x[5m", TestName = "Unclosed range")]
    [TestCase("x; y", TestName = "Unknown character")]
    public void Refuses_what_it_cannot_read(string expression) =>
        Assert.That(() => PromQl.Read(expression), Throws.TypeOf<FormatException>());
}
