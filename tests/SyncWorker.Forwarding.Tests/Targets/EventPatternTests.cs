using SyncWorker.Forwarding.Targets;

namespace SyncWorker.Forwarding.Tests.Targets;

[TestFixture]
public sealed class EventPatternTests
{
    [TestCase("checkout.session.completed", "checkout.session.completed", true)]
    [TestCase("checkout.session.completed", "checkout.session.expired", false)]
    [TestCase("checkout.session.completed", "checkout.session.completed.extra", false)]
    [TestCase("checkout.session.completed", "Checkout.Session.Completed", false)]
    [TestCase("checkout.session.completed", "xcheckout.session.completed", false)]
    public void An_exact_pattern_matches_only_that_type(string pattern, string eventType, bool matches)
    {
        var compiled = new EventPattern(pattern);

        Assert.That(compiled.IsWildcard, Is.False);
        Assert.That(compiled.Matches(eventType), Is.EqualTo(matches));
    }

    [TestCase("checkout.session.*", "checkout.session.completed", true)]
    [TestCase("checkout.session.*", "checkout.session.async_payment_succeeded", true)]
    [TestCase("checkout.session.*", "checkout.sessions.completed", false)]
    [TestCase("checkout.session.*", "customer.created", false)]
    [TestCase("checkout.session.*", "checkout.session", false)]
    [TestCase("charge.*", "charge.refund.updated", true)]
    [TestCase("charge.*", "charge.succeeded", true)]
    [TestCase("charge.*", "charges.succeeded", false)]
    [TestCase("charge.*", "customer.charge.succeeded", false)]
    [TestCase("charge.*", "chargexsucceeded", false)]
    [TestCase("*", "checkout.session.completed", true)]
    [TestCase("*", "v1.billing.meter.error_report_triggered", true)]
    [TestCase("*.created", "customer.created", true)]
    [TestCase("*.created", "customer.updated", false)]
    public void A_star_matches_any_run_of_characters_dots_included_and_nothing_else_is_special(string pattern, string eventType, bool matches)
    {
        var compiled = new EventPattern(pattern);

        Assert.That(compiled.IsWildcard, Is.True);
        Assert.That(compiled.Matches(eventType), Is.EqualTo(matches));
    }

    [Test]
    public void Surrounding_whitespace_is_ignored()
    {
        var compiled = new EventPattern("  charge.*  ");

        Assert.That(compiled.Text, Is.EqualTo("charge.*"));
        Assert.That(compiled.Matches("charge.refunded"), Is.True);
    }

    [TestCase("")]
    [TestCase("   ")]
    public void An_empty_pattern_is_refused(string pattern)
    {
        Assert.That(() => new EventPattern(pattern), Throws.InstanceOf<ArgumentException>());
    }
}
