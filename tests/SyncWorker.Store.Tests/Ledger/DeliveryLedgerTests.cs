using Microsoft.Extensions.Time.Testing;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Store.Tests.Ledger;

[TestFixture(StoreProvider.Sqlite)]
[TestFixture(StoreProvider.Postgres)]
public sealed class DeliveryLedgerTests(StoreProvider provider)
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 10, 0, 0, TimeSpan.Zero));
    private SqlDeliveryLedger _ledger = null!;

    [SetUp]
    public async Task SetUpAsync()
    {
        var settings = await StoreDatabases.NewAsync(provider);
        await new StoreMigrator(settings).MigrateAsync(CancellationToken.None);
        _ledger = new SqlDeliveryLedger(settings, _time);
    }

    [TearDown]
    public void DisposeLedger() => _ledger.Dispose();

    private static DeliveryClaim Paid(string order = "cs_test_a1", string target = "warehouse", string eventId = "evt_1") =>
        new(DeliveryKey.ForOrder(target, order, "order.paid"), eventId, "msg_" + order, "acct_1");

    [Test]
    public async Task A_new_delivery_is_claimed_in_flight_with_its_lease_and_what_it_is_about()
    {
        var result = await _ledger.ClaimAsync(Paid(), "forwarder-a", Lease, force: false, CancellationToken.None);

        Assert.That(result.Outcome, Is.EqualTo(ClaimOutcome.Claimed));
        var entry = result.Entry;
        Assert.That(entry.Key, Is.EqualTo("warehouse/order.paid/cs_test_a1"));
        Assert.That((entry.Target, entry.Subject, entry.Action, entry.ActionInstance, entry.Account), Is.EqualTo(("warehouse", "cs_test_a1", "order.paid", (string?)null, "acct_1")));
        Assert.That((entry.EventId, entry.WebhookId), Is.EqualTo(("evt_1", "msg_cs_test_a1")));
        Assert.That(entry.State, Is.EqualTo(DeliveryState.InFlight));
        Assert.That(entry.LeaseOwner, Is.EqualTo("forwarder-a"));
        Assert.That(entry.LeaseUntil, Is.EqualTo(_time.GetUtcNow() + Lease));
    }

    [Test]
    public async Task Deliveries_waiting_for_a_redelivery_are_counted_per_target_and_nothing_else_is()
    {
        async Task RowAsync(string target, string order, DeliveryState? state)
        {
            var claim = Paid(order, target);
            await _ledger.ClaimAsync(claim, "forwarder-a", Lease, false, CancellationToken.None);
            if (state is { } finished)
            {
                Assert.That(await _ledger.FinishAsync(claim.Key.Value, "forwarder-a", finished, 503, "x", attempts: [], CancellationToken.None), Is.True);
            }
        }

        await RowAsync("warehouse", "cs_count_1", DeliveryState.Retrying);
        await RowAsync("warehouse", "cs_count_2", DeliveryState.Retrying);
        await RowAsync("warehouse", "cs_count_3", DeliveryState.Waiting);
        await RowAsync("warehouse", "cs_count_4", DeliveryState.Delivered);
        await RowAsync("warehouse", "cs_count_5", null);
        await RowAsync("erp", "cs_count_1", DeliveryState.Retrying);
        await RowAsync("erp", "cs_count_2", DeliveryState.DeadLettered);
        await RowAsync("audit", "cs_count_1", DeliveryState.Delivered);

        var waiting = await _ledger.CountByTargetAsync(SqlDeliveryLedger.RedeliveryStates, CancellationToken.None);
        var retrying = await _ledger.CountByTargetAsync([DeliveryState.Retrying], CancellationToken.None);

        Assert.That(waiting, Is.EquivalentTo(new Dictionary<string, long> { ["warehouse"] = 3, ["erp"] = 1 }), "retrying and waiting rows; in flight, delivered and dead-lettered ones not");
        Assert.That(retrying, Is.EquivalentTo(new Dictionary<string, long> { ["warehouse"] = 2, ["erp"] = 1 }));
        Assert.That(await _ledger.CountByTargetAsync([], CancellationToken.None), Is.Empty);
    }

    [Test]
    public async Task A_delivered_row_is_never_claimed_again_and_each_repeat_is_counted()
    {
        await _ledger.ClaimAsync(Paid(), "forwarder-a", Lease, false, CancellationToken.None);
        Assert.That(await _ledger.FinishAsync("warehouse/order.paid/cs_test_a1", "forwarder-a", DeliveryState.Delivered, 200, null, attempts: [], CancellationToken.None), Is.True);

        var again = await _ledger.ClaimAsync(Paid(eventId: "evt_2"), "forwarder-b", Lease, false, CancellationToken.None);
        var third = await _ledger.ClaimAsync(Paid(eventId: "evt_3"), "forwarder-a", Lease, false, CancellationToken.None);

        Assert.That(again.Outcome, Is.EqualTo(ClaimOutcome.AlreadyDone));
        Assert.That(third.Outcome, Is.EqualTo(ClaimOutcome.AlreadyDone));
        Assert.That(third.Entry.RepeatsSuppressed, Is.EqualTo(2));
        Assert.That(third.Entry.State, Is.EqualTo(DeliveryState.Delivered));
        Assert.That(third.Entry.DeliveredAt, Is.EqualTo(_time.GetUtcNow()));
        Assert.That(third.Entry.EventId, Is.EqualTo("evt_1"), "the row keeps the event that was delivered");
    }

    [Test]
    public async Task Of_forwarders_racing_for_one_row_exactly_one_claims_it()
    {
        var owners = Enumerable.Range(0, 12).Select(i => $"forwarder-{i}").ToList();
        var results = await Task.WhenAll(owners.Select(owner => Task.Run(() => _ledger.ClaimAsync(Paid(), owner, Lease, false, CancellationToken.None))));

        Assert.That(results.Count(r => r.Outcome == ClaimOutcome.Claimed), Is.EqualTo(1));
        Assert.That(results.Count(r => r.Outcome == ClaimOutcome.HeldByAnother), Is.EqualTo(owners.Count - 1));
        var winner = results.Single(r => r.Outcome == ClaimOutcome.Claimed).Entry.LeaseOwner;
        Assert.That(results.Where(r => r.Outcome == ClaimOutcome.HeldByAnother).All(r => r.Entry.LeaseOwner == winner), Is.True);
    }

    [Test]
    public async Task A_lease_whose_owner_died_expires_and_another_forwarder_takes_the_row_with_the_same_webhook_id()
    {
        await _ledger.ClaimAsync(Paid(), "forwarder-a", Lease, false, CancellationToken.None);
        _time.Advance(Lease - TimeSpan.FromSeconds(1));
        Assert.That((await _ledger.ClaimAsync(Paid(), "forwarder-b", Lease, false, CancellationToken.None)).Outcome, Is.EqualTo(ClaimOutcome.HeldByAnother));

        _time.Advance(TimeSpan.FromSeconds(2));
        var takeover = await _ledger.ClaimAsync(Paid(), "forwarder-b", Lease, false, CancellationToken.None);
        Assert.That(takeover.Outcome, Is.EqualTo(ClaimOutcome.Claimed));
        Assert.That(takeover.Entry.LeaseOwner, Is.EqualTo("forwarder-b"));
        Assert.That(takeover.Entry.WebhookId, Is.EqualTo("msg_cs_test_a1"));

        // The first owner comes back: it cannot end the row the other forwarder now holds.
        Assert.That(await _ledger.FinishAsync(takeover.Entry.Key, "forwarder-a", DeliveryState.Retrying, 503, "late", attempts: [], CancellationToken.None), Is.False);
        Assert.That((await _ledger.GetAsync(takeover.Entry.Key, CancellationToken.None))!.State, Is.EqualTo(DeliveryState.InFlight));
    }

    [Test]
    public async Task A_renewed_lease_keeps_the_row_past_its_first_expiry()
    {
        await _ledger.ClaimAsync(Paid(), "forwarder-a", Lease, false, CancellationToken.None);
        _time.Advance(Lease - TimeSpan.FromSeconds(10));
        Assert.That(await _ledger.RenewAsync("warehouse/order.paid/cs_test_a1", "forwarder-a", Lease, CancellationToken.None), Is.True);
        _time.Advance(TimeSpan.FromSeconds(20));

        Assert.That((await _ledger.ClaimAsync(Paid(), "forwarder-b", Lease, false, CancellationToken.None)).Outcome, Is.EqualTo(ClaimOutcome.HeldByAnother));
        Assert.That(await _ledger.RenewAsync("warehouse/order.paid/cs_test_a1", "forwarder-b", Lease, CancellationToken.None), Is.False, "only the owner renews");
    }

    [TestCase(DeliveryState.Retrying)]
    [TestCase(DeliveryState.DeadLettered)]
    [TestCase(DeliveryState.Waiting)]
    public async Task A_row_left_retrying_dead_lettered_or_waiting_is_claimed_again(DeliveryState state)
    {
        await _ledger.ClaimAsync(Paid(), "forwarder-a", Lease, false, CancellationToken.None);
        Assert.That(await _ledger.FinishAsync("warehouse/order.paid/cs_test_a1", "forwarder-a", state, 503, "Service Unavailable", attempts: [], CancellationToken.None), Is.True);

        var again = await _ledger.ClaimAsync(Paid(), "forwarder-b", Lease, false, CancellationToken.None);
        Assert.That(again.Outcome, Is.EqualTo(ClaimOutcome.Claimed));
        Assert.That(again.Entry.LastStatus, Is.EqualTo(503));
    }

    [TestCase(DeliveryState.Delivered)]
    [TestCase(DeliveryState.Skipped)]
    [TestCase(DeliveryState.Discarded)]
    public async Task A_final_row_is_claimed_only_when_forced(DeliveryState state)
    {
        await _ledger.ClaimAsync(Paid(), "forwarder-a", Lease, false, CancellationToken.None);
        await _ledger.FinishAsync("warehouse/order.paid/cs_test_a1", "forwarder-a", state, null, null, attempts: [], CancellationToken.None);

        Assert.That((await _ledger.ClaimAsync(Paid(), "replay", Lease, force: false, CancellationToken.None)).Outcome, Is.EqualTo(ClaimOutcome.AlreadyDone));
        Assert.That((await _ledger.ClaimAsync(Paid(), "replay", Lease, force: true, CancellationToken.None)).Outcome, Is.EqualTo(ClaimOutcome.Claimed));
    }

    [Test]
    public async Task Delivered_is_recorded_even_by_a_forwarder_whose_lease_was_taken_over()
    {
        await _ledger.ClaimAsync(Paid(), "forwarder-a", Lease, false, CancellationToken.None);
        _time.Advance(Lease + TimeSpan.FromSeconds(1));
        await _ledger.ClaimAsync(Paid(), "forwarder-b", Lease, false, CancellationToken.None);

        // forwarder-a's POST was answered 2xx after all: that is the truth, whoever holds the lease.
        Assert.That(await _ledger.FinishAsync("warehouse/order.paid/cs_test_a1", "forwarder-a", DeliveryState.Delivered, 200, null, attempts: [], CancellationToken.None), Is.True);
        Assert.That((await _ledger.ClaimAsync(Paid(), "forwarder-c", Lease, false, CancellationToken.None)).Outcome, Is.EqualTo(ClaimOutcome.AlreadyDone));
    }

    [Test]
    public async Task Each_refund_is_its_own_row_and_an_order_lists_every_row_by_target_and_action()
    {
        await _ledger.ClaimAsync(Paid(), "f", Lease, false, CancellationToken.None);
        await _ledger.ClaimAsync(Paid(target: "erp"), "f", Lease, false, CancellationToken.None);
        await _ledger.ClaimAsync(new(DeliveryKey.ForOrder("warehouse", "cs_test_a1", "order.refunded", "re_1"), "evt_r1", "msg_r1"), "f", Lease, false, CancellationToken.None);
        await _ledger.ClaimAsync(new(DeliveryKey.ForOrder("warehouse", "cs_test_a1", "order.refunded", "re_2"), "evt_r2", "msg_r2"), "f", Lease, false, CancellationToken.None);
        await _ledger.ClaimAsync(Paid(order: "cs_other"), "f", Lease, false, CancellationToken.None);

        var rows = await _ledger.FindBySubjectAsync("cs_test_a1", CancellationToken.None);
        Assert.That(rows.Select(r => r.Key), Is.EqualTo(new[]
        {
            "erp/order.paid/cs_test_a1",
            "warehouse/order.paid/cs_test_a1",
            "warehouse/order.refunded/cs_test_a1/re_1",
            "warehouse/order.refunded/cs_test_a1/re_2",
        }));
    }

    [Test]
    public async Task Attempts_are_recorded_in_order_and_counted_on_the_row()
    {
        var claim = new DeliveryClaim(DeliveryKey.ForEvent("audit", "evt_9"), "evt_9", "msg_evt_9");
        await _ledger.ClaimAsync(claim, "f", Lease, false, CancellationToken.None);
        var start = _time.GetUtcNow();
        await _ledger.RecordAttemptAsync(claim.Key.Value, new(1, "f", start, TimeSpan.FromMilliseconds(120), "failed", 503, "Service Unavailable"), CancellationToken.None);
        await _ledger.RecordAttemptAsync(claim.Key.Value, new(2, "f", start.AddSeconds(2), TimeSpan.FromMilliseconds(40), "delivered", 200, null), CancellationToken.None);

        var attempts = await _ledger.AttemptsAsync(claim.Key.Value, CancellationToken.None);
        Assert.That(attempts, Is.EqualTo(new[]
        {
            new DeliveryAttemptRecord(1, "f", start, TimeSpan.FromMilliseconds(120), "failed", 503, "Service Unavailable"),
            new DeliveryAttemptRecord(2, "f", start.AddSeconds(2), TimeSpan.FromMilliseconds(40), "delivered", 200, null),
        }));
        var row = await _ledger.GetAsync(claim.Key.Value, CancellationToken.None);
        Assert.That((row!.Attempts, row.LastStatus, row.LastError), Is.EqualTo((2, (int?)200, (string?)null)));
        Assert.That(row.Key, Is.EqualTo("audit/event/evt_9"));
    }

    [Test]
    public async Task A_round_finished_by_a_forwarder_that_lost_the_lease_is_counted_but_does_not_end_the_row()
    {
        await _ledger.ClaimAsync(Paid(), "forwarder-a", Lease, false, CancellationToken.None);
        _time.Advance(Lease + TimeSpan.FromSeconds(1));
        await _ledger.ClaimAsync(Paid(), "forwarder-b", Lease, false, CancellationToken.None);
        var round = new DeliveryAttemptRecord(1, "forwarder-a", _time.GetUtcNow(), TimeSpan.FromMilliseconds(30), "failed", 503, "Service Unavailable");

        Assert.That(await _ledger.FinishAsync("warehouse/order.paid/cs_test_a1", "forwarder-a", DeliveryState.Retrying, 503, "late", [round], CancellationToken.None), Is.False);

        var row = await _ledger.GetAsync("warehouse/order.paid/cs_test_a1", CancellationToken.None);
        Assert.That((row!.State, row.LeaseOwner, row.Attempts, row.LastStatus, row.LastError), Is.EqualTo((DeliveryState.InFlight, "forwarder-b", 1, (int?)503, "Service Unavailable")));
        Assert.That(await _ledger.AttemptsAsync(row.Key, CancellationToken.None), Is.EqualTo(new[] { round }));
    }

    [Test]
    public async Task Finishing_with_the_round_of_attempts_records_both_together()
    {
        await _ledger.ClaimAsync(Paid(), "forwarder-a", Lease, false, CancellationToken.None);
        var round = new DeliveryAttemptRecord(1, "forwarder-a", _time.GetUtcNow(), TimeSpan.FromMilliseconds(75), "delivered", 202, null);

        Assert.That(await _ledger.FinishAsync("warehouse/order.paid/cs_test_a1", "forwarder-a", DeliveryState.Delivered, 202, null, [round], CancellationToken.None), Is.True);

        var row = await _ledger.GetAsync("warehouse/order.paid/cs_test_a1", CancellationToken.None);
        Assert.That((row!.State, row.Attempts, row.LastStatus), Is.EqualTo((DeliveryState.Delivered, 1, (int?)202)));
        Assert.That(await _ledger.AttemptsAsync(row.Key, CancellationToken.None), Is.EqualTo(new[] { round }));
    }
    [Test]
    public async Task Each_request_of_a_round_is_recorded_and_numbered_after_the_rows_earlier_attempts()
    {
        const string key = "warehouse/order.paid/cs_test_a1";
        var start = _time.GetUtcNow();
        await _ledger.ClaimAsync(Paid(), "forwarder-a", Lease, false, CancellationToken.None);
        await _ledger.FinishAsync(key, "forwarder-a", DeliveryState.Retrying, 503, "gave up for now", [
            new DeliveryAttemptRecord(0, "forwarder-a", start, TimeSpan.FromMilliseconds(40), "failed", 503, null),
            new DeliveryAttemptRecord(0, "forwarder-a", start.AddSeconds(1), TimeSpan.FromMilliseconds(10_000), "failed", null, "timeout: gave up for now"),
        ], CancellationToken.None);
        _time.Advance(TimeSpan.FromMinutes(1));
        await _ledger.ClaimAsync(Paid(), "forwarder-b", Lease, false, CancellationToken.None);
        await _ledger.FinishAsync(key, "forwarder-b", DeliveryState.Delivered, 200, null, [
            new DeliveryAttemptRecord(0, "forwarder-b", start.AddMinutes(1), TimeSpan.FromMilliseconds(25), "delivered", 200, null),
        ], CancellationToken.None);

        var attempts = await _ledger.AttemptsAsync(key, CancellationToken.None);
        Assert.That(attempts.Select(a => (a.Attempt, a.Owner, a.Status, a.Error)), Is.EqualTo(new[]
        {
            (1, "forwarder-a", (int?)503, (string?)null),
            (2, "forwarder-a", null, "timeout: gave up for now"),
            (3, "forwarder-b", 200, null),
        }));
        Assert.That(attempts[1].Duration, Is.EqualTo(TimeSpan.FromSeconds(10)));
        Assert.That((await _ledger.GetAsync(key, CancellationToken.None))!.Attempts, Is.EqualTo(3));
    }
}
