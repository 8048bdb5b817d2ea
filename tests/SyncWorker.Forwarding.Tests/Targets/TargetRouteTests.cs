using SyncWorker.Forwarding.Targets;
using static SyncWorker.Forwarding.Tests.Targets.TargetTestData;

namespace SyncWorker.Forwarding.Tests.Targets;

[TestFixture]
public sealed class TargetRouteTests
{
    private static TargetRoute Route(string mode = "live", string[]? events = null, string[]? accounts = null) =>
        new(Target(mode, events, accounts));

    [TestCase("checkout.session.completed", "checkout.session.completed", true)]
    [TestCase("checkout.session.completed", "checkout.session.async_payment_succeeded", false)]
    [TestCase("checkout.session.*", "checkout.session.async_payment_succeeded", true)]
    [TestCase("checkout.session.*", "charge.refunded", false)]
    [TestCase("charge.*", "charge.refund.updated", true)]
    [TestCase("*", "customer.created", true)]
    public void A_target_wants_the_event_types_it_subscribes_to(string pattern, string eventType, bool wanted)
    {
        Assert.That(Route(events: [pattern]).Wants(Event(eventType)), Is.EqualTo(wanted));
    }

    [Test]
    public void Any_one_of_several_patterns_is_enough()
    {
        var route = Route(events: ["checkout.session.completed", "charge.*"]);

        Assert.That(route.Wants(Event("checkout.session.completed")), Is.True);
        Assert.That(route.Wants(Event("charge.refund.updated")), Is.True);
        Assert.That(route.Wants(Event("customer.created")), Is.False);
        // Asked again (the answer per type is cached): the same answers.
        Assert.That(route.Wants(Event("charge.refund.updated")), Is.True);
        Assert.That(route.Wants(Event("customer.created")), Is.False);
    }

    [TestCase("live")]
    [TestCase("LIVE")]
    [TestCase("Live")]
    public void A_live_target_wants_live_events_and_never_test_events(string mode)
    {
        var route = Route(mode, events: ["*"]);

        Assert.That(route.Wants(Event("checkout.session.completed", livemode: true)), Is.True);
        Assert.That(route.Wants(Event("checkout.session.completed", livemode: false)), Is.False);
    }

    [TestCase("test")]
    [TestCase("TEST")]
    [TestCase("Test")]
    public void A_test_target_wants_test_events_and_never_live_events(string mode)
    {
        var route = Route(mode, events: ["*"]);

        Assert.That(route.Wants(Event("checkout.session.completed", livemode: false)), Is.True);
        Assert.That(route.Wants(Event("checkout.session.completed", livemode: true)), Is.False);
    }

    [Test]
    public void A_sandbox_event_is_a_test_mode_event_for_targets()
    {
        var sandbox = Event("checkout.session.completed", livemode: false) with { Sandbox = true };

        Assert.That(Route("test", events: ["*"]).Wants(sandbox), Is.True);
        Assert.That(Route("live", events: ["*"]).Wants(sandbox), Is.False);
    }

    [Test]
    public void A_target_with_accounts_wants_only_events_of_those_accounts()
    {
        var route = Route(accounts: [Merchant]);

        Assert.That(route.Wants(Event("checkout.session.completed", account: Merchant)), Is.True);
        Assert.That(route.Wants(Event("checkout.session.completed", account: OtherMerchant)), Is.False);
        Assert.That(route.Wants(Event("checkout.session.completed", account: null)), Is.False, "the platform's own event has no account");
    }

    [Test]
    public void A_target_without_accounts_wants_events_of_every_account_and_of_the_platform()
    {
        var route = Route(accounts: []);

        Assert.That(route.Wants(Event("checkout.session.completed", account: Merchant)), Is.True);
        Assert.That(route.Wants(Event("checkout.session.completed", account: OtherMerchant)), Is.True);
        Assert.That(route.Wants(Event("checkout.session.completed", account: null)), Is.True);
    }

    [Test]
    public void Mode_account_and_type_must_all_match()
    {
        var route = Route("live", events: ["checkout.session.*"], accounts: [Merchant]);

        Assert.That(route.Wants(Event("checkout.session.completed", livemode: true, account: Merchant)), Is.True);
        Assert.That(route.Wants(Event("checkout.session.completed", livemode: false, account: Merchant)), Is.False);
        Assert.That(route.Wants(Event("checkout.session.completed", livemode: true, account: OtherMerchant)), Is.False);
        Assert.That(route.Wants(Event("customer.created", livemode: true, account: Merchant)), Is.False);
    }

    [Test]
    public void The_registry_keeps_configuration_order_and_finds_targets_by_exact_name()
    {
        var first = Target();
        var second = Target("test");
        second.Name = "warehouse-test";
        var registry = new TargetRegistry(Microsoft.Extensions.Options.Options.Create(new FulfillmentOptions { Targets = [first, second] }));

        Assert.That(registry.Routes.Select(route => route.Name), Is.EqualTo(new[] { "warehouse", "warehouse-test" }));
        Assert.That(registry.Find("warehouse-test")?.QueueName, Is.EqualTo("syncworker.target.warehouse-test"));
        Assert.That(registry.Find("Warehouse"), Is.Null);
        Assert.That(registry.Find("gone"), Is.Null);
    }

    [TestCase("order", new[] { "checkout.session.completed" }, true)]
    [TestCase("order", new[] { "checkout.*.completed" }, true)]
    [TestCase("order", new[] { "checkout.session.completed", "checkout.session.async_payment_succeeded" }, false)]
    [TestCase("order", new[] { "checkout.session.completed", "checkout.session.async_payment_*" }, false)]
    [TestCase("order", new[] { "checkout.session.*" }, false)]
    [TestCase("order", new[] { "*" }, false)]
    [TestCase("order", new[] { "checkout.session.async_payment_succeeded" }, false)]
    [TestCase("order", new[] { "charge.refunded" }, false)]
    [TestCase("event", new[] { "checkout.session.completed" }, false)]
    public void An_order_target_that_gets_completions_but_not_async_payment_successes_misses_delayed_payments(string format, string[] events, bool misses)
    {
        var target = Target(events: events);
        target.Format = format;

        Assert.That(new TargetRoute(target).MissesDelayedPayments, Is.EqualTo(misses));
    }
}
