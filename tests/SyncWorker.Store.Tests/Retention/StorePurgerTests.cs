using Microsoft.Extensions.DependencyInjection;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using SyncWorker.Contracts;
using SyncWorker.Store.Hosting;
using SyncWorker.Store.Ledger;
using SyncWorker.Store.Retention;

namespace SyncWorker.Store.Tests.Retention;

[TestFixture(StoreProvider.Sqlite)]
[TestFixture(StoreProvider.Postgres)]
public sealed class StorePurgerTests(StoreProvider provider)
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 10, 1, 10, 0, 0, TimeSpan.Zero));
    private StoreSettings _settings = null!;
    private SqlDeliveryLedger _ledger = null!;

    [SetUp]
    public async Task SetUpAsync()
    {
        _settings = await StoreDatabases.NewAsync(provider);
        await new StoreMigrator(_settings).MigrateAsync(CancellationToken.None);
        _ledger = new SqlDeliveryLedger(_settings, _time);
    }

    [TearDown]
    public void DisposeLedger() => _ledger.Dispose();

    private static DeliveryClaim Claim(string order, string action = "order.refunded") =>
        new(DeliveryKey.ForOrder("warehouse", order, action), "evt_" + order, "msg_" + order);

    private Task DeliveredAsync(string order, params DateTimeOffset[] attemptsStarted) => DeliveredAsync(Claim(order), attemptsStarted);

    private async Task DeliveredAsync(DeliveryClaim claim, params DateTimeOffset[] attemptsStarted)
    {
        await _ledger.ClaimAsync(claim, "f", Lease, force: false, CancellationToken.None);
        for (var i = 0; i < attemptsStarted.Length; i++)
        {
            await _ledger.RecordAttemptAsync(claim.Key.Value, new(i + 1, "f", attemptsStarted[i], TimeSpan.FromMilliseconds(30), "failed", 503, null), CancellationToken.None);
        }

        await _ledger.FinishAsync(claim.Key.Value, "f", DeliveryState.Delivered, 200, null, attempts: [], CancellationToken.None);
    }

    [Test]
    public async Task Attempts_go_after_30_days_and_rows_after_45_in_batches_but_never_a_row_under_a_live_lease()
    {
        var t0 = _time.GetUtcNow();
        await DeliveredAsync("cs_old", t0);
        await _ledger.ClaimAsync(Claim("cs_abandoned"), "died", Lease, false, CancellationToken.None);
        await _ledger.ClaimAsync(Claim("cs_leased"), "slow", TimeSpan.FromDays(60), false, CancellationToken.None);
        await _ledger.RecordAsync(new OrderRecord("cs_old", "pi_old", null, false, "evt_old", "{}"u8.ToArray()), CancellationToken.None);
        _time.Advance(TimeSpan.FromDays(10));
        await _ledger.RecordAsync(new OrderRecord("cs_mid", "pi_mid", null, false, "evt_mid", "{}"u8.ToArray()), CancellationToken.None);
        _time.Advance(TimeSpan.FromDays(10));
        await DeliveredAsync("cs_recent", t0.AddDays(10), t0.AddDays(20));
        await _ledger.RecordAsync(new OrderRecord("cs_recent", "pi_recent", null, false, "evt_recent", "{}"u8.ToArray()), CancellationToken.None);
        _time.Advance(TimeSpan.FromDays(26));

        using var purged = new MetricCollector<long>(SyncWorkerTelemetry.StorePurged);
        var purger = new StorePurger(_ledger, _settings, _time) { BatchSize = 1, BatchPause = TimeSpan.Zero };
        var counts = await purger.PurgeAsync(CancellationToken.None);

        Assert.That(counts.Select(c => (c.Table, c.Deleted)), Is.EqualTo(new[] { ("delivery_attempts", 2L), ("orders.document", 2L), ("deliveries", 2L), ("deliveries/order.paid", 0L), ("orders", 0L), ("backfill_events", 0L) }));
        Assert.That(counts[0].Before, Is.EqualTo(_time.GetUtcNow() - TimeSpan.FromDays(30)));
        Assert.That(await _ledger.GetAsync(Claim("cs_old").Key.Value, CancellationToken.None), Is.Null);
        Assert.That(await _ledger.GetAsync(Claim("cs_abandoned").Key.Value, CancellationToken.None), Is.Null, "its lease ran out long ago");
        Assert.That(await _ledger.GetAsync(Claim("cs_leased").Key.Value, CancellationToken.None), Is.Not.Null, "its lease is live");
        Assert.That(await _ledger.GetAsync(Claim("cs_recent").Key.Value, CancellationToken.None), Is.Not.Null);
        var kept = await _ledger.AttemptsAsync(Claim("cs_recent").Key.Value, CancellationToken.None);
        Assert.That(kept.Select(a => a.StartedAt), Is.EqualTo(new[] { t0.AddDays(20) }));
        Assert.That(await _ledger.AttemptsAsync(Claim("cs_old").Key.Value, CancellationToken.None), Is.Empty);
        Assert.That(await _ledger.GetOrderAsync("cs_old", CancellationToken.None), Is.Not.Null, "orders are kept for Store:OrderRetentionDays");
        Assert.That((await _ledger.GetOrderAsync("cs_mid", CancellationToken.None))!.Document, Is.Null, "36 days old: its document is purged");
        Assert.That((await _ledger.FindByPaymentIntentAsync("pi_mid", CancellationToken.None))!.OrderId, Is.EqualTo("cs_mid"), "and the order kept");
        Assert.That((await _ledger.GetOrderAsync("cs_recent", CancellationToken.None))!.Document, Is.EqualTo("{}"u8.ToArray()), "26 days old: kept whole");

        var measured = purged.GetMeasurementSnapshot();
        Assert.That(measured.Select(m => m.Value), Is.All.EqualTo(1), "one measurement per batch of one");
        Assert.That(measured.Where(m => (string?)m.Tags["table"] == "delivery_attempts").Sum(m => m.Value), Is.EqualTo(2));
        Assert.That(measured.Where(m => (string?)m.Tags["table"] == "deliveries").Sum(m => m.Value), Is.EqualTo(2));
        Assert.That(measured.Where(m => (string?)m.Tags["table"] == "orders.document").Sum(m => m.Value), Is.EqualTo(2));

        var again = await purger.PurgeAsync(CancellationToken.None);
        Assert.That(again.Sum(c => c.Deleted), Is.Zero, "a second purge finds nothing");
    }

    [Test]
    public async Task A_delivered_order_paid_row_and_its_order_are_kept_for_the_order_retention_so_a_late_refund_finds_them()
    {
        var paid = Claim("cs_paid", "order.paid");
        await DeliveredAsync(paid);
        await _ledger.ClaimAsync(Claim("cs_unpaid", "order.paid"), "died", Lease, false, CancellationToken.None);
        await _ledger.RecordAsync(new OrderRecord("cs_paid", "pi_paid", null, false, "evt_paid", "{}"u8.ToArray()), CancellationToken.None);
        var purger = new StorePurger(_ledger, _settings, _time) { BatchPause = TimeSpan.Zero };

        _time.Advance(TimeSpan.FromDays(200));
        await purger.PurgeAsync(CancellationToken.None);
        Assert.That((await _ledger.GetAsync(paid.Key.Value, CancellationToken.None))?.State, Is.EqualTo(DeliveryState.Delivered), "200 days: a refund may still come");
        Assert.That((await _ledger.FindByPaymentIntentAsync("pi_paid", CancellationToken.None))?.Document, Is.Null, "its stored document went after 30 days");
        Assert.That(await _ledger.GetAsync(Claim("cs_unpaid", "order.paid").Key.Value, CancellationToken.None), Is.Null, "a paid row never delivered goes with the keys");

        _time.Advance(TimeSpan.FromDays(_settings.OrderRetention.TotalDays - 199));
        await purger.PurgeAsync(CancellationToken.None);
        Assert.That(await _ledger.GetAsync(paid.Key.Value, CancellationToken.None), Is.Null);
        Assert.That(await _ledger.FindByPaymentIntentAsync("pi_paid", CancellationToken.None), Is.Null);
    }

    [Test]
    public async Task A_rule_is_a_table_a_time_column_and_a_condition()
    {
        var t0 = _time.GetUtcNow();
        await DeliveredAsync("cs_a", t0);
        await DeliveredAsync("cs_b", t0);
        _time.Advance(TimeSpan.FromDays(2));
        var purger = new StorePurger(_ledger, _settings, _time) { BatchPause = TimeSpan.Zero };

        var count = await purger.PurgeAsync(
            new RetentionRule("deliveries", "updated_at", TimeSpan.FromDays(1), "subject = 'cs_b'"), CancellationToken.None);

        Assert.That(count.Deleted, Is.EqualTo(1));
        Assert.That(await _ledger.GetAsync(Claim("cs_a").Key.Value, CancellationToken.None), Is.Not.Null);
        Assert.That(await _ledger.GetAsync(Claim("cs_b").Key.Value, CancellationToken.None), Is.Null);
    }

    [Test]
    public async Task A_failed_background_run_is_reported_and_the_next_run_purges()
    {
        // A store not migrated yet: the tables are missing, as when the database was re-created under the worker.
        var empty = await StoreDatabases.NewAsync(provider);
        using var emptyLedger = new SqlDeliveryLedger(empty, _time);
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var monitor = new StoreMonitor(new StoreMigrator(empty), empty, _time, NullLogger<StoreMonitor>.Instance, services.GetRequiredService<IMeterFactory>());
        var service = new StoreRetentionService(
            new StorePurger(emptyLedger, empty, _time) { BatchPause = TimeSpan.Zero }, monitor, _time, NullLogger<StoreRetentionService>.Instance);

        Assert.That(await service.RunOnceAsync(CancellationToken.None), Is.False);

        await new StoreMigrator(empty).MigrateAsync(CancellationToken.None);
        Assert.That(await service.RunOnceAsync(CancellationToken.None), Is.True);
    }
}
