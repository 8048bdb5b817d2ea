using Microsoft.Extensions.Time.Testing;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Store.Tests.Ledger;

[TestFixture(StoreProvider.Sqlite)]
[TestFixture(StoreProvider.Postgres)]
public sealed class DeliveryListingTests(StoreProvider provider)
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);
    private static readonly DateTimeOffset Start = new(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(Start);
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

    /// <summary>A row of <paramref name="target"/> for <paramref name="order"/>, left in <paramref name="state"/> at the clock's time.</summary>
    private async Task<string> RowAsync(string target, string order, DeliveryState state = DeliveryState.Delivered)
    {
        var claim = new DeliveryClaim(DeliveryKey.ForOrder(target, order, "order.paid"), "evt_" + order, "msg_" + order);
        await _ledger.ClaimAsync(claim, "f", Lease, force: false, CancellationToken.None);
        if (state != DeliveryState.InFlight)
        {
            await _ledger.FinishAsync(claim.Key.Value, "f", state, 200, null, attempts: [], CancellationToken.None);
        }

        return claim.Key.Value;
    }

    private async Task<List<string>> AllPagesAsync(DeliveryQuery query)
    {
        var keys = new List<string>();
        for (var page = await _ledger.ListAsync(query, CancellationToken.None); ; page = await _ledger.ListAsync(query with { After = page.Next }, CancellationToken.None))
        {
            Assert.That(page.Entries, Has.Count.LessThanOrEqualTo(query.Limit));
            keys.AddRange(page.Entries.Select(e => e.Key));
            if (page.Next is null)
            {
                return keys;
            }

            Assert.That(page.Entries, Has.Count.EqualTo(query.Limit), "only the last page is short");
        }
    }

    [Test]
    public async Task Pages_run_newest_change_first_then_by_key_and_show_each_row_once()
    {
        // Three rows changed at one time (the key orders them), then two later ones.
        var sameTime = new[] { await RowAsync("warehouse", "cs_a"), await RowAsync("warehouse", "cs_b"), await RowAsync("erp", "cs_a") };
        _time.Advance(TimeSpan.FromSeconds(1));
        var later = await RowAsync("warehouse", "cs_c");
        _time.Advance(TimeSpan.FromSeconds(1));
        var latest = await RowAsync("erp", "cs_d");

        var expected = new[] { latest, later }.Concat(sameTime.OrderByDescending(k => k, StringComparer.Ordinal)).ToList();
        Assert.That(await AllPagesAsync(new DeliveryQuery(Limit: 2)), Is.EqualTo(expected));
        Assert.That(await AllPagesAsync(new DeliveryQuery(Limit: 1)), Is.EqualTo(expected));
        Assert.That(await AllPagesAsync(new DeliveryQuery(Limit: 5)), Is.EqualTo(expected));
        var first = await _ledger.ListAsync(new DeliveryQuery(Limit: 5), CancellationToken.None);
        Assert.That(first.Next, Is.Null, "everything fit on one page");
    }

    [Test]
    public async Task Target_state_and_time_filters_combine()
    {
        await RowAsync("warehouse", "cs_old", DeliveryState.DeadLettered);
        _time.Advance(TimeSpan.FromHours(2));
        var since = _time.GetUtcNow();
        var dead = await RowAsync("warehouse", "cs_new", DeliveryState.DeadLettered);
        await RowAsync("warehouse", "cs_ok");
        await RowAsync("erp", "cs_new", DeliveryState.DeadLettered);
        await RowAsync("warehouse", "cs_flying", DeliveryState.InFlight);
        _time.Advance(TimeSpan.FromHours(1));
        var until = _time.GetUtcNow();
        await RowAsync("warehouse", "cs_after", DeliveryState.DeadLettered);

        var page = await _ledger.ListAsync(new DeliveryQuery("warehouse", DeliveryState.DeadLettered, since, until), CancellationToken.None);
        Assert.That(page.Entries.Select(e => e.Key), Is.EqualTo(new[] { dead }));
        Assert.That(page.Entries[0].State, Is.EqualTo(DeliveryState.DeadLettered));

        var flying = await _ledger.ListAsync(new DeliveryQuery(State: DeliveryState.InFlight), CancellationToken.None);
        Assert.That(flying.Entries.Select(e => e.Subject), Is.EqualTo(new[] { "cs_flying" }));
        var erp = await _ledger.ListAsync(new DeliveryQuery(Target: "erp"), CancellationToken.None);
        Assert.That(erp.Entries.Select(e => e.Target).Distinct(), Is.EqualTo(new[] { "erp" }));
        var untilOnly = await _ledger.ListAsync(new DeliveryQuery(Until: since), CancellationToken.None);
        Assert.That(untilOnly.Entries.Select(e => e.Subject), Is.EqualTo(new[] { "cs_old" }));
    }

    [Test]
    public void A_cursor_reads_back_as_written_and_anything_else_is_refused()
    {
        var cursor = new DeliveryCursor(1_796_000_000_123, "warehouse/order.refunded/cs_a/re_1");
        Assert.That(DeliveryCursor.TryParse(cursor.ToString(), out var read), Is.True);
        Assert.That(read, Is.EqualTo(cursor));
        Assert.That(cursor.ToString(), Does.Match("^[A-Za-z0-9_-]+$"));
        foreach (var bad in new[] { "", "not base64!", "bm9jb2xvbg", "OnRhcmdldA", "eDp0YXJnZXQ" })
        {
            Assert.That(DeliveryCursor.TryParse(bad, out _), Is.False, bad);
        }
    }
}
