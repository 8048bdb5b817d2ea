namespace SyncWorker.Manifest.Tests;

public class PermissionPolicyTests
{
    private static readonly EventPermissionTable Table = EventPermissionTable.LoadEmbedded();

    private static PermissionPolicy RepoPolicy() => new(ManifestLoader.Load(RepoPaths.RepoManifest), Table);

    private static PermissionPolicy FixturePolicy(string fileName) =>
        new(ManifestLoader.Load(RepoPaths.FixtureManifest(fileName)), Table);

    [TestCase("checkout.session.completed")]
    [TestCase("checkout.session.async_payment_succeeded")]
    [TestCase("payment_intent.succeeded")]
    [TestCase("charge.refunded")]
    [TestCase("customer.created")]
    [TestCase("account.application.authorized")]
    [TestCase("account.application.deauthorized")]
    public void Repository_manifest_receives(string eventType)
    {
        var decision = RepoPolicy().Evaluate(eventType);

        Assert.That(decision.IsAllowed, Is.True, decision.Detail);
        Assert.That(decision.Reason, Is.EqualTo(PermissionDenialReason.None));
        Assert.That(decision.EventType, Is.EqualTo(eventType));
    }

    [Test]
    public void Checkout_session_completed_is_allowed_by_checkout_session_read()
    {
        var decision = RepoPolicy().Evaluate("checkout.session.completed");

        Assert.That(decision.IsAllowed, Is.True);
        Assert.That(decision.PermissionsThatWouldAllow, Is.EqualTo(new[] { "event_read", "checkout_session_read" }));
        Assert.That(
            decision.Detail,
            Is.EqualTo("The manifest grants event_read and checkout_session_read, so this app receives 'checkout.session.completed'."));
    }

    [Test]
    public void Invoice_paid_is_not_granted_to_the_repository_manifest_and_the_detail_lists_the_alternatives()
    {
        var policy = RepoPolicy();

        var decision = policy.Evaluate("invoice.paid");

        Assert.That(decision.IsAllowed, Is.False);
        Assert.That(decision.Reason, Is.EqualTo(PermissionDenialReason.PermissionNotGranted));
        Assert.That(
            decision.PermissionsThatWouldAllow,
            Is.EqualTo(new[] { "event_read", "credit_note_read", "invoice_read", "quote_read" }));
        Assert.That(
            decision.Detail,
            Is.EqualTo(
                "The manifest does not grant a permission that lets this app receive 'invoice.paid': "
                + $"add event_read and one of credit_note_read, invoice_read, quote_read to the app manifest ({Path.GetFileName(policy.Manifest.SourcePath)})."));
    }

    [Test]
    public void Invoice_paid_is_allowed_for_the_dub_manifest_which_grants_invoice_read()
    {
        var decision = FixturePolicy("dubinc_dub.stripe-app.json").Evaluate("invoice.paid");

        Assert.That(decision.IsAllowed, Is.True, decision.Detail);
        Assert.That(decision.Detail, Does.Contain("invoice_read"));
    }

    [Test]
    public void Dub_manifest_receives_checkout_session_completed()
    {
        var decision = FixturePolicy("dubinc_dub.stripe-app.json").Evaluate("checkout.session.completed");

        Assert.That(decision.IsAllowed, Is.True, decision.Detail);
    }

    [Test]
    public void Unknown_event_type_is_refused_fail_closed()
    {
        var decision = RepoPolicy().Evaluate("foo.bar");

        Assert.That(decision.IsAllowed, Is.False);
        Assert.That(decision.Reason, Is.EqualTo(PermissionDenialReason.UnknownEventType));
        Assert.That(decision.PermissionsThatWouldAllow, Is.Empty);
        Assert.That(
            decision.Detail,
            Is.EqualTo(
                "'foo.bar' is not in SyncWorker's event-permission table, so it is refused (fail closed). "
                + "If Stripe added this event type, add a row to src/SyncWorker.Manifest/Data/event-permissions.tsv."));
    }

    [Test]
    public void Event_types_are_case_sensitive()
    {
        Assert.That(RepoPolicy().Evaluate("Checkout.Session.Completed").Reason, Is.EqualTo(PermissionDenialReason.UnknownEventType));
    }

    [Test]
    public void Unverified_derived_event_type_is_refused_even_when_the_guessed_permission_is_granted()
    {
        // Dub grants event_read and connected_account_read, the unverified guess for capability.updated.
        var decision = FixturePolicy("dubinc_dub.stripe-app.json").Evaluate("capability.updated");

        Assert.That(decision.IsAllowed, Is.False);
        Assert.That(decision.Reason, Is.EqualTo(PermissionDenialReason.UnverifiedEventType));
        Assert.That(decision.PermissionsThatWouldAllow, Is.Empty);
        Assert.That(decision.Detail, Does.Contain("'capability.updated' is refused (fail closed)"));
        Assert.That(decision.Detail, Does.Contain("connected_account_read"));
        Assert.That(decision.Detail, Does.Contain("derived:object-permissions-table-guess(unverified)"));
    }

    [TestCase("billing.meter.created")]
    [TestCase("sigma.scheduled_query_run.created")]
    [TestCase("ping")]
    public void Derived_event_types_that_are_not_same_object_type_are_refused_as_unverified(string eventType)
    {
        var decision = RepoPolicy().Evaluate(eventType);

        Assert.That(decision.Reason, Is.EqualTo(PermissionDenialReason.UnverifiedEventType), decision.Detail);
        Assert.That(decision.Detail, Does.Contain($"'{eventType}'"));
    }

    [TestCase("apps.install.created")]
    [TestCase("apps.install.updated")]
    [TestCase("apps.install.deleted")]
    public void The_App_Installs_API_events_are_received_with_event_read_for_the_install_registry(string eventType)
    {
        var decision = RepoPolicy().Evaluate(eventType);

        Assert.That(decision.IsAllowed, Is.True, decision.Detail);
        Assert.That(decision.Detail, Does.Contain("install registry"));
        Assert.That(RepoPolicy().PermittedEventTypes, Does.Contain(eventType));
    }

    [Test]
    public void Trusted_derived_event_type_is_allowed_when_one_of_its_permissions_is_granted()
    {
        var decision = FixturePolicy("dubinc_dub.stripe-app.json").Evaluate("invoice.overpaid");

        Assert.That(decision.IsAllowed, Is.True, decision.Detail);
        Assert.That(
            decision.PermissionsThatWouldAllow,
            Is.EqualTo(new[] { "event_read", "credit_note_read", "invoice_read", "quote_read" }));
    }

    [Test]
    public void Trusted_derived_event_type_is_refused_when_none_of_its_permissions_is_granted()
    {
        var decision = RepoPolicy().Evaluate("invoice.overpaid");

        Assert.That(decision.Reason, Is.EqualTo(PermissionDenialReason.PermissionNotGranted));
        Assert.That(decision.Detail, Does.Contain("add event_read and one of credit_note_read, invoice_read, quote_read"));
    }

    [Test]
    public void Single_alternative_is_named_without_one_of()
    {
        var decision = FixturePolicy("dubinc_dub.stripe-app.json").Evaluate("charge.refunded");

        Assert.That(decision.Reason, Is.EqualTo(PermissionDenialReason.PermissionNotGranted));
        Assert.That(decision.Detail, Does.Contain("add event_read and charge_read to "));
    }

    [TestCase("invoice.paid", TestName = "Without_event_read_invoice_paid_is_refused_although_invoice_read_is_granted")]
    [TestCase("checkout.session.completed")]
    [TestCase("account.application.authorized")]
    [TestCase("invoice.overpaid")]
    [TestCase("capability.updated")]
    [TestCase("foo.bar")]
    public void Without_event_read_everything_is_refused_with_EventReadNotGranted(string eventType)
    {
        // Shippo's example manifest grants invoice_read and invoice_write but not event_read.
        var policy = FixturePolicy("stripe-apps_shippo-best-rate.stripe-app.json");

        var decision = policy.Evaluate(eventType);

        Assert.That(decision.IsAllowed, Is.False);
        Assert.That(decision.Reason, Is.EqualTo(PermissionDenialReason.EventReadNotGranted));
        Assert.That(decision.Detail, Does.StartWith("The manifest does not grant event_read"));
        Assert.That(decision.Detail, Does.Contain($"'{eventType}'"));
        Assert.That(policy.PermittedEventTypes, Is.Empty);
    }

    [Test]
    public void Without_event_read_the_detail_says_to_add_event_read_and_the_event_permission()
    {
        var policy = FixturePolicy("stripe-apps_shippo-best-rate.stripe-app.json");

        var decision = policy.Evaluate("invoice.paid");

        Assert.That(
            decision.PermissionsThatWouldAllow,
            Is.EqualTo(new[] { "event_read", "credit_note_read", "invoice_read", "quote_read" }));
        Assert.That(
            decision.Detail,
            Does.EndWith($"add event_read and one of credit_note_read, invoice_read, quote_read to the app manifest ({Path.GetFileName(policy.Manifest.SourcePath)})."));
    }

    [Test]
    public void PermittedEventTypes_are_exactly_the_allowed_table_entries()
    {
        var policy = RepoPolicy();

        Assert.That(policy.PermittedEventTypes, Does.Contain("checkout.session.completed").And.Contain("charge.refunded"));
        Assert.That(policy.PermittedEventTypes, Does.Not.Contain("invoice.paid").And.Not.Contain("capability.updated"));
        Assert.Multiple(() =>
        {
            foreach (var rule in Table.Rules)
            {
                Assert.That(
                    policy.PermittedEventTypes.Contains(rule.EventType),
                    Is.EqualTo(policy.Evaluate(rule.EventType).IsAllowed),
                    rule.EventType);
            }
        });
    }

    [Test]
    public void Decisions_for_known_event_types_are_cached()
    {
        var policy = RepoPolicy();

        var first = policy.Evaluate("invoice.paid");
        var second = policy.Evaluate("invoice.paid");

        Assert.That(second, Is.SameAs(first));
    }

    [Test]
    public void Evaluate_does_not_allocate_for_known_event_types()
    {
        var policy = RepoPolicy();
        string[] eventTypes = ["checkout.session.completed", "invoice.paid", "capability.updated"];
        foreach (var eventType in eventTypes)
        {
            policy.Evaluate(eventType);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1_000; i++)
        {
            foreach (var eventType in eventTypes)
            {
                policy.Evaluate(eventType);
            }
        }

        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }

    [Test]
    public void Constructor_rejects_null_arguments()
    {
        var manifest = ManifestLoader.Load(RepoPaths.RepoManifest);

        Assert.Throws<ArgumentNullException>(() => _ = new PermissionPolicy(null!, Table));
        Assert.Throws<ArgumentNullException>(() => _ = new PermissionPolicy(manifest, null!));
        Assert.Throws<ArgumentNullException>(() => new PermissionPolicy(manifest, Table).Evaluate(null!));
    }
}
