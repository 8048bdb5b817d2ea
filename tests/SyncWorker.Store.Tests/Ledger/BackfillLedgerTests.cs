using Microsoft.Extensions.Time.Testing;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Store.Tests.Ledger;

[TestFixture(StoreProvider.Sqlite)]
[TestFixture(StoreProvider.Postgres)]
public sealed class BackfillLedgerTests(StoreProvider provider)
{
    private static readonly DateTimeOffset Now = new(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);
    private SqlDeliveryLedger _store = null!;

    [SetUp]
    public async Task SetUpAsync()
    {
        var settings = await StoreDatabases.NewAsync(provider);
        await new StoreMigrator(settings).MigrateAsync(CancellationToken.None);
        _store = new SqlDeliveryLedger(settings, new FakeTimeProvider(Now));
    }

    [TearDown]
    public void DisposeStore() => _store.Dispose();

    private static BackfillEntry Entry(string id, DateTimeOffset fedAt, string? account = "acct_1") =>
        new(id, "checkout.session.completed", account, fedAt);

    [Test]
    public async Task Recorded_events_are_read_back_and_a_repeat_keeps_the_first_entry()
    {
        Assert.That(await _store.FedSinceAsync(Now.AddDays(-31), CancellationToken.None), Is.Empty, "a new store");

        var added = await _store.RecordFedAsync([Entry("evt_1", Now.AddDays(-2)), Entry("evt_2", Now, account: null)], CancellationToken.None);
        var again = await _store.RecordFedAsync([Entry("evt_1", Now), Entry("evt_3", Now)], CancellationToken.None);

        Assert.That(added, Is.EqualTo(2));
        Assert.That(again, Is.EqualTo(1), "evt_1 was recorded already");
        Assert.That(await _store.FedSinceAsync(Now.AddDays(-31), CancellationToken.None), Is.EquivalentTo(new[] { "evt_1", "evt_2", "evt_3" }));
        Assert.That(
            await _store.FedSinceAsync(Now.AddDays(-1), CancellationToken.None),
            Is.EquivalentTo(new[] { "evt_2", "evt_3" }),
            "evt_1 keeps its first time (two days ago), not the repeat's");
        Assert.That(await _store.RecordFedAsync([], CancellationToken.None), Is.Zero);
    }

    [Test]
    public async Task Purging_deletes_the_entries_fed_before_the_cutoff_in_batches_and_keeps_the_rest()
    {
        // More than one purge batch of old entries, and a few recent ones.
        var old = Enumerable.Range(0, 2500).Select(i => Entry($"evt_old_{i}", Now.AddDays(-40).AddSeconds(i))).ToList();
        var recent = new[] { Entry("evt_new_1", Now.AddDays(-30)), Entry("evt_new_2", Now) };
        await _store.RecordFedAsync(old, CancellationToken.None);
        await _store.RecordFedAsync(recent, CancellationToken.None);

        var purged = await _store.PurgeFedBeforeAsync(Now - BackfillLedgerRetention.Retention, CancellationToken.None);

        Assert.That(purged, Is.EqualTo(old.Count));
        Assert.That(await _store.FedSinceAsync(DateTimeOffset.UnixEpoch, CancellationToken.None), Is.EquivalentTo(new[] { "evt_new_1", "evt_new_2" }));
        Assert.That(await _store.PurgeFedBeforeAsync(Now - BackfillLedgerRetention.Retention, CancellationToken.None), Is.Zero);
    }

    [Test]
    public async Task Concurrent_recordings_of_the_same_events_add_each_once()
    {
        var entries = Enumerable.Range(0, 50).Select(i => Entry($"evt_{i}", Now)).ToList();

        var counts = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => _store.RecordFedAsync(entries, CancellationToken.None))));

        Assert.That(counts.Sum(), Is.EqualTo(entries.Count));
        Assert.That(await _store.FedSinceAsync(Now, CancellationToken.None), Has.Count.EqualTo(entries.Count));
    }
}
