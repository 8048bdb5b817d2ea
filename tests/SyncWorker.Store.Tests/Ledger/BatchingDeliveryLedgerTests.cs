using Microsoft.Extensions.Configuration;
using SyncWorker.Store.Ledger;
using SyncWorker.Testing;

namespace SyncWorker.Store.Tests.Ledger;

/// <summary>What batching must not change: one claimer per row, each caller its own row's result, failures to every caller.</summary>
[TestFixture(StoreProvider.Sqlite)]
[TestFixture(StoreProvider.Postgres)]
public sealed class BatchingDeliveryLedgerTests(StoreProvider provider)
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);
    private SqlDeliveryLedger _sql = null!;
    private BatchingDeliveryLedger _ledger = null!;

    [SetUp]
    public async Task SetUpAsync()
    {
        var settings = await StoreDatabases.NewAsync(provider);
        await new StoreMigrator(settings).MigrateAsync(CancellationToken.None);
        _sql = new SqlDeliveryLedger(settings, TimeProvider.System);
        _ledger = new BatchingDeliveryLedger(_sql);
    }

    [TearDown]
    public async Task DisposeLedgerAsync()
    {
        await _ledger.DisposeAsync();
        _sql.Dispose();
    }

    private static DeliveryClaim Event(string eventId, string target = "audit") => new(DeliveryKey.ForEvent(target, eventId), eventId, "msg_" + eventId);

    [Test]
    public async Task Of_many_claims_of_one_row_queued_together_exactly_one_is_claimed()
    {
        // Started without yielding, so they queue while the first transaction is written and share the next ones.
        var claims = Enumerable.Range(0, 40).Select(i => _ledger.ClaimAsync(Event("evt_same"), $"forwarder-{i}", Lease, false, CancellationToken.None)).ToList();
        var results = await Task.WhenAll(claims);

        Assert.That(results.Count(r => r.Outcome == ClaimOutcome.Claimed), Is.EqualTo(1));
        var winner = results.Single(r => r.Outcome == ClaimOutcome.Claimed).Entry.LeaseOwner;
        Assert.That(results.Where(r => r.Outcome != ClaimOutcome.Claimed).Select(r => (r.Outcome, r.Entry.LeaseOwner)).Distinct(),
            Is.EqualTo(new[] { (ClaimOutcome.HeldByAnother, winner) }));
    }

    [Test]
    public async Task Each_caller_of_a_batch_gets_its_own_rows_result_and_it_is_committed_when_it_gets_it()
    {
        var claims = Enumerable.Range(0, 50).Select(i => _ledger.ClaimAsync(Event($"evt_{i:D2}"), "forwarder", Lease, false, CancellationToken.None)).ToList();
        var results = await Task.WhenAll(claims);
        Assert.That(results.Select(r => (r.Outcome, r.Entry.Key)), Is.EqualTo(Enumerable.Range(0, 50).Select(i => (ClaimOutcome.Claimed, $"audit/event/evt_{i:D2}"))));

        var finishes = results.Select((r, i) => _ledger.FinishAsync(r.Entry.Key, "forwarder", i % 2 == 0 ? DeliveryState.Delivered : DeliveryState.Retrying, 200, null,
            [new DeliveryAttemptRecord(1, "forwarder", DateTimeOffset.UtcNow, TimeSpan.FromMilliseconds(5), "delivered", 200, null)], CancellationToken.None)).ToList();
        Assert.That(await Task.WhenAll(finishes), Is.All.True);
        Assert.That(_ledger.Written.Writes, Is.EqualTo(100));
        Assert.That(_ledger.Written.Transactions, Is.LessThan(100), "claims and finishes shared transactions (on PostgreSQL: one round trip each)");

        // Read back directly, without the batcher: what a caller was told is stored.
        for (var i = 0; i < 50; i++)
        {
            var row = await _sql.GetAsync($"audit/event/evt_{i:D2}", CancellationToken.None);
            Assert.That((row!.State, row.Attempts), Is.EqualTo((i % 2 == 0 ? DeliveryState.Delivered : DeliveryState.Retrying, 1)));
        }
    }

    [Test]
    public async Task Finishes_by_an_owner_that_lost_the_lease_written_together_count_their_attempts_but_do_not_end_the_rows()
    {
        var claims = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => _ledger.ClaimAsync(Event($"evt_lost_{i:D2}"), "holder", Lease, false, CancellationToken.None)));
        Assert.That(claims.Select(c => c.Outcome), Is.All.EqualTo(ClaimOutcome.Claimed));

        var start = DateTimeOffset.UtcNow;
        var finishes = claims.Select(c => _ledger.FinishAsync(c.Entry.Key, "not-the-holder", DeliveryState.Retrying, 503, "late", [
            new DeliveryAttemptRecord(0, "not-the-holder", start, TimeSpan.FromMilliseconds(7), "failed", 503, null),
            new DeliveryAttemptRecord(0, "not-the-holder", start.AddSeconds(1), TimeSpan.FromMilliseconds(9), "failed", 503, "late"),
        ], CancellationToken.None)).ToList();
        Assert.That(await Task.WhenAll(finishes), Is.All.False, "not the lease's owner: the state is not recorded");

        foreach (var claim in claims)
        {
            var row = await _sql.GetAsync(claim.Entry.Key, CancellationToken.None);
            Assert.That((row!.State, row.LeaseOwner, row.Attempts, row.LastError), Is.EqualTo((DeliveryState.InFlight, "holder", 2, "late")));
            Assert.That((await _sql.AttemptsAsync(claim.Entry.Key, CancellationToken.None)).Select(a => a.Attempt), Is.EqualTo(new[] { 1, 2 }));
        }
    }

    [Test]
    public async Task A_batch_mixing_rows_written_once_twice_and_forced_gives_each_caller_what_one_by_one_would()
    {
        // Claims and finishes of different rows, a forced claim, and two finishes of one row, queued together: each caller
        // must get what it would get alone. (Rows are not shared between writes whose order the test cannot know: with
        // several writers on PostgreSQL, two batches may be written in either order.)
        var start = DateTimeOffset.UtcNow;
        DeliveryAttemptRecord Ok(string owner, int seconds) => new(0, owner, start.AddSeconds(seconds), TimeSpan.FromMilliseconds(5), "delivered", 200, null);
        DeliveryAttemptRecord Failed(string owner, int seconds) => new(0, owner, start.AddSeconds(seconds), TimeSpan.FromMilliseconds(5), "failed", 503, "down");
        foreach (var id in new[] { "evt_delivered", "evt_to_force" })
        {
            var key = (await _ledger.ClaimAsync(Event(id), "first", Lease, false, CancellationToken.None)).Entry.Key;
            Assert.That(await _ledger.FinishAsync(key, "first", DeliveryState.Delivered, 200, null, [Ok("first", 0)], CancellationToken.None), Is.True);
        }

        await _ledger.ClaimAsync(Event("evt_busy"), "holder", Lease, false, CancellationToken.None);
        var held = (await _ledger.ClaimAsync(Event("evt_held"), "holder", Lease, false, CancellationToken.None)).Entry.Key;
        var retried = (await _ledger.ClaimAsync(Event("evt_retried"), "mine", Lease, false, CancellationToken.None)).Entry.Key;
        Assert.That(await _ledger.FinishAsync(retried, "mine", DeliveryState.Retrying, 503, "down", [Failed("mine", 1), Failed("mine", 2)], CancellationToken.None), Is.True);
        var again = (await _ledger.ClaimAsync(Event("evt_retried"), "mine-again", Lease, false, CancellationToken.None)).Entry.Key;

        // Queued without yielding, so they share batches.
        var fresh = Enumerable.Range(0, 8).Select(i => _ledger.ClaimAsync(Event($"evt_fresh_{i}"), "forwarder", Lease, false, CancellationToken.None)).ToList();
        var repeat = _ledger.ClaimAsync(Event("evt_delivered"), "second", Lease, false, CancellationToken.None);
        var forced = _ledger.ClaimAsync(Event("evt_to_force"), "replay", Lease, true, CancellationToken.None);
        var busy = _ledger.ClaimAsync(Event("evt_busy"), "other", Lease, false, CancellationToken.None);
        var late = _ledger.FinishAsync(held, "not-the-holder", DeliveryState.Retrying, 503, "late", [Failed("not-the-holder", 3)], CancellationToken.None);
        var deliveredByAnother = _ledger.FinishAsync(held, "not-the-holder", DeliveryState.Delivered, 200, null, [Ok("not-the-holder", 4)], CancellationToken.None);
        var second = _ledger.FinishAsync(again, "mine-again", DeliveryState.Delivered, 200, null, [Failed("mine-again", 5), Ok("mine-again", 6)], CancellationToken.None);

        Assert.That((await Task.WhenAll(fresh)).Select(r => r.Outcome), Is.All.EqualTo(ClaimOutcome.Claimed));
        Assert.That((await repeat).Outcome, Is.EqualTo(ClaimOutcome.AlreadyDone));
        Assert.That(((await forced).Outcome, (await forced).Entry.LeaseOwner), Is.EqualTo((ClaimOutcome.Claimed, "replay")), "a forced claim takes a delivered row");
        Assert.That((await busy).Outcome, Is.EqualTo(ClaimOutcome.HeldByAnother));
        Assert.That(await late, Is.False, "not the lease's owner");
        Assert.That(await deliveredByAnother, Is.True, "delivered is recorded whoever holds the lease");
        Assert.That(await second, Is.True);

        var heldRow = await _sql.GetAsync(held, CancellationToken.None);
        Assert.That((heldRow!.State, heldRow.Attempts, heldRow.LeaseOwner), Is.EqualTo((DeliveryState.Delivered, 2, (string?)null)));
        Assert.That((await _sql.AttemptsAsync(held, CancellationToken.None)).Select(a => a.Attempt), Is.EqualTo(new[] { 1, 2 }));
        var retriedRow = await _sql.GetAsync(retried, CancellationToken.None);
        Assert.That((retriedRow!.State, retriedRow.Attempts, retriedRow.LastStatus, retriedRow.DeliveredAt is not null), Is.EqualTo((DeliveryState.Delivered, 4, (int?)200, true)));
        var attempts = await _sql.AttemptsAsync(retried, CancellationToken.None);
        Assert.That(attempts.Select(a => (a.Attempt, a.Owner, a.Status)), Is.EqualTo(new[]
        {
            (1, "mine", (int?)503), (2, "mine", 503), (3, "mine-again", 503), (4, "mine-again", 200),
        }), "numbered after the row's earlier attempts, in the order given");
    }

    [Test]
    public async Task A_row_that_cannot_be_written_fails_only_its_own_caller()
    {
        // An event id the schema refuses (NOT NULL): that claim's error, not the others'.
        var bad = new DeliveryClaim(DeliveryKey.ForEvent("audit", "evt_bad"), null!, "msg_bad");
        var claims = Enumerable.Range(0, 10).Select(i => _ledger.ClaimAsync(Event($"evt_{i}"), "forwarder", Lease, false, CancellationToken.None))
            .Append(_ledger.ClaimAsync(bad, "forwarder", Lease, false, CancellationToken.None))
            .Concat(Enumerable.Range(10, 10).Select(i => _ledger.ClaimAsync(Event($"evt_{i}"), "forwarder", Lease, false, CancellationToken.None)))
            .ToList();

        try
        {
            await Task.WhenAll(claims);
        }
        catch (Exception)
        {
            // Looked at one by one below.
        }

        Assert.That(claims[10].IsFaulted, Is.True);
        Assert.That(claims.Where((_, i) => i != 10).Select(c => c.Status), Is.All.EqualTo(TaskStatus.RanToCompletion));
        Assert.That(claims.Where((_, i) => i != 10).Select(c => c.Result.Outcome), Is.All.EqualTo(ClaimOutcome.Claimed));
    }
}

/// <summary>A store that cannot be reached fails every caller of the batch with <see cref="StoreUnavailableException"/>.</summary>
public sealed class BatchingDeliveryLedgerOutageTests
{
    [Test]
    public async Task When_the_store_is_unreachable_every_caller_of_the_batch_gets_StoreUnavailableException()
    {
        var values = new Dictionary<string, string?>
        {
            ["Store:Provider"] = "Postgres",
            // Nothing listens there.
            ["Store:ConnectionString"] = $"Host=127.0.0.1;Port={LoopbackPorts.Free()};Database=none;Username=postgres;Timeout=3",
        };
        var settings = StoreSettings.Resolve(new ConfigurationBuilder().AddInMemoryCollection(values).Build(), AppContext.BaseDirectory);
        using var sql = new SqlDeliveryLedger(settings, TimeProvider.System);
        await using var ledger = new BatchingDeliveryLedger(sql);

        var calls = Enumerable.Range(0, 20)
            .Select(i => i % 2 == 0
                ? (Task)ledger.ClaimAsync(new(DeliveryKey.ForEvent("audit", $"evt_{i}"), $"evt_{i}", $"msg_{i}"), "forwarder", TimeSpan.FromMinutes(5), false, CancellationToken.None)
                : ledger.FinishAsync($"audit/event/evt_{i}", "forwarder", DeliveryState.Delivered, 200, null, attempts: [], CancellationToken.None))
            .ToList();

        foreach (var call in calls)
        {
            Assert.ThrowsAsync<StoreUnavailableException>(async () => await call);
        }
    }
}
