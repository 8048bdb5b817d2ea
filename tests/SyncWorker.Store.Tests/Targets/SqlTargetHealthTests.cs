using Microsoft.Extensions.Time.Testing;
using SyncWorker.Store.Ledger;
using SyncWorker.Store.Targets;

namespace SyncWorker.Store.Tests.Targets;

/// <summary>
/// <c>target_health</c> and the read of the attempts that says which targets fail, on both providers: the failing span
/// after the last success (and after an enable), the last error, one winner of a disable, an enable that resets.
/// </summary>
[TestFixture(StoreProvider.Sqlite)]
[TestFixture(StoreProvider.Postgres)]
public sealed class SqlTargetHealthTests(StoreProvider provider)
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
    private SqlDeliveryLedger _ledger = null!;
    private SqlTargetHealth _health = null!;
    private int _attempt;

    [SetUp]
    public async Task SetUpAsync()
    {
        var settings = await StoreDatabases.NewAsync(provider);
        await new StoreMigrator(settings).MigrateAsync(CancellationToken.None);
        _ledger = new SqlDeliveryLedger(settings, _time);
        _health = new SqlTargetHealth(_ledger, _time);
        _attempt = 0;
        foreach (var target in new[] { "wms", "erp" })
        {
            await _ledger.ClaimAsync(new DeliveryClaim(DeliveryKey.ForOrder(target, "cs_1", "order.paid"), "evt_1", "msg_" + target), "test", TimeSpan.FromMinutes(5), false, CancellationToken.None);
        }
    }

    [TearDown]
    public void DisposeStore() => _ledger.Dispose();

    [Test]
    public async Task Failing_spans_start_after_the_last_success_and_the_last_error_is_the_latest_failure()
    {
        var start = _time.GetUtcNow();
        await RecordAsync("wms", "failed", 500, "Internal Server Error");
        _time.Advance(TimeSpan.FromHours(1));
        await RecordAsync("wms", "delivered", 200, null);
        _time.Advance(TimeSpan.FromHours(1));
        await RecordAsync("wms", "failed", 503, "Service Unavailable");
        await RecordAsync("erp", "delivered", 200, null);
        _time.Advance(TimeSpan.FromHours(3));
        await RecordAsync("wms", "failed", null, "connection refused");

        var failing = await _health.FailingAsync(start, CancellationToken.None);

        Assert.That(failing.Select(f => f.Target), Is.EqualTo(new[] { "wms" }), "a target whose last attempt succeeded is not failing");
        var wms = failing.Single();
        Assert.That((wms.LastSuccess, wms.FirstFailure, wms.Span), Is.EqualTo((start + TimeSpan.FromHours(1), start + TimeSpan.FromHours(2), TimeSpan.FromHours(3))));
        Assert.That(await _health.LastErrorAsync("wms", wms.FirstFailure, CancellationToken.None), Is.EqualTo("connection refused"));
        Assert.That(await _health.LastErrorAsync("erp", start, CancellationToken.None), Is.Null);
    }

    [Test]
    public async Task One_disable_wins_an_enable_resets_the_window_and_a_disable_from_before_the_enable_loses()
    {
        var since = _time.GetUtcNow();
        await RecordAsync("wms", "failed", 503, null);
        _time.Advance(TimeSpan.FromHours(72));
        await RecordAsync("wms", "failed", 503, null);

        Assert.That(await _health.TryDisableAsync("wms", since, "HTTP 503", CancellationToken.None), Is.True);
        Assert.That(await _health.TryDisableAsync("wms", since, "HTTP 503", CancellationToken.None), Is.False, "already disabled: the second forwarder loses");
        var row = await _health.GetAsync("wms", CancellationToken.None);
        Assert.That((row!.DisabledAt, row.FailingSince, row.LastError), Is.EqualTo(((DateTimeOffset?)_time.GetUtcNow(), (DateTimeOffset?)since, "HTTP 503")));

        _time.Advance(TimeSpan.FromMinutes(10));
        var before = await _health.EnableAsync("wms", "token:ops", CancellationToken.None);
        Assert.That(before!.DisabledAt, Is.Not.Null, "the row as it was");
        var enabled = (await _health.ListAsync(CancellationToken.None))["wms"];
        Assert.That((enabled.DisabledAt, enabled.EnabledAt, enabled.EnabledBy), Is.EqualTo(((DateTimeOffset?)null, (DateTimeOffset?)_time.GetUtcNow(), "token:ops")));

        // Failures from before the enable no longer count, and a disable decided on them loses.
        Assert.That(await _health.FailingAsync(since, CancellationToken.None), Is.Empty);
        Assert.That(await _health.TryDisableAsync("wms", since, "HTTP 503", CancellationToken.None), Is.False);
        _time.Advance(TimeSpan.FromMinutes(1));
        await RecordAsync("wms", "failed", 503, null);
        Assert.That((await _health.FailingAsync(since, CancellationToken.None)).Single().FirstFailure, Is.EqualTo(_time.GetUtcNow()));
    }

    private static string Key(string target) => DeliveryKey.ForOrder(target, "cs_1", "order.paid").Value;

    private Task RecordAsync(string target, string outcome, int? status, string? error) =>
        _ledger.RecordAttemptAsync(
            Key(target),
            new DeliveryAttemptRecord(++_attempt, "test", _time.GetUtcNow(), TimeSpan.FromMilliseconds(20), outcome, status, error),
            CancellationToken.None);
}
