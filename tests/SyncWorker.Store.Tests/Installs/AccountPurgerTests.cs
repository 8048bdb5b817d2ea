using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Time.Testing;
using SyncWorker.Store.Installs;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Store.Tests.Installs;

[TestFixture(StoreProvider.Sqlite)]
[TestFixture(StoreProvider.Postgres)]
public sealed class AccountPurgerTests(StoreProvider provider)
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 10, 0, 0, TimeSpan.Zero));
    private StoreSettings _settings = null!;
    private SqlDeliveryLedger _store = null!;
    private SqlInstallRegistry _installs = null!;
    private AccountPurger _purger = null!;

    [SetUp]
    public async Task SetUpAsync()
    {
        _settings = await StoreDatabases.NewAsync(provider);
        await new StoreMigrator(_settings).MigrateAsync(CancellationToken.None);
        _store = new SqlDeliveryLedger(_settings, _time);
        _installs = new SqlInstallRegistry(_store, _time);
        _purger = new AccountPurger(_store, _settings, _time);
    }

    [TearDown]
    public void DisposeStore() => _store.Dispose();

    [Test]
    public async Task A_purge_removes_the_merchants_own_targets_and_takes_it_out_of_shared_ones()
    {
        var targets = new SyncWorker.Store.Targets.SqlTargetStore(_store, _time, new SyncWorker.Store.Targets.SecretBox(new byte[32]));
        await targets.CreateAsync("a-only", """{"name":"a-only","accounts":["acct_a"]}""", "{}", "token:ops", default);
        await targets.CreateAsync("a-and-b", """{"name":"a-and-b","accounts":["acct_a","acct_b"]}""", "{}", "token:ops", default);
        await targets.CreateAsync("b-only", """{"name":"b-only","accounts":["acct_b"]}""", "{}", "token:ops", default);
        await targets.CreateAsync("everyone", """{"name":"everyone","accounts":[]}""", "{}", "token:ops", default);

        var purge = await _purger.PurgeAsync("acct_a", "ops@host", default);

        Assert.That(purge.Deleted["targets"], Is.EqualTo(1));
        Assert.That((await targets.ListAsync(default)).Select(t => (t.Name, t.Definition)), Is.EqualTo(new[]
        {
            ("a-and-b", """{"name":"a-and-b","accounts":["acct_b"]}"""),
            ("b-only", """{"name":"b-only","accounts":["acct_b"]}"""),
            ("everyone", """{"name":"everyone","accounts":[]}"""),
        }));
        var audit = await new SyncWorker.Store.Audit.AuditLog(_store, _time).ListAsync(DateTimeOffset.UnixEpoch, 1, default);
        Assert.That(audit.Single().Detail, Does.Contain("targets removed: a-only").And.Contain("no longer listed by targets: a-and-b"));
    }

    [Test]
    public async Task A_purge_deletes_the_accounts_rows_and_nothing_of_another_and_leaves_a_row_being_sent()
    {
        await DeliveredAsync("wms", "cs_a1", "acct_a");
        await DeliveredAsync("wms", "cs_a2", "acct_a");
        await DeliveredAsync("wms", "cs_b1", "acct_b");
        var inFlight = new DeliveryClaim(DeliveryKey.ForOrder("erp", "cs_a1", "order.paid"), "evt_x", "msg_x", "acct_a");
        await _store.ClaimAsync(inFlight, "forwarder-b", Lease, force: false, default);
        await _store.RecordAsync(new OrderRecord("cs_a1", "pi_a1", "acct_a", true, "evt_a1", "{\"secret\":\"customer\"}"u8.ToArray()), default);
        await _store.RecordAsync(new OrderRecord("cs_b1", "pi_b1", "acct_b", true, "evt_b1"), default);
        await _store.RecordFedAsync([new BackfillEntry("evt_fed_a", "checkout.session.completed", "acct_a", _time.GetUtcNow()), new BackfillEntry("evt_fed_b", "checkout.session.completed", "acct_b", _time.GetUtcNow())], default);
        await _installs.ApplyAsync(new InstallChange("acct_a", true, InstallStatus.Uninstalled, ["event_read"], [], "evt_u", _time.GetUtcNow()), default);

        var purge = await _purger.PurgeAsync("acct_a", "ops@host", default);

        Assert.That(purge.Deleted, Is.EquivalentTo(new Dictionary<string, long> { ["delivery_attempts"] = 2, ["deliveries"] = 2, ["orders"] = 1, ["backfill_events"] = 1, ["targets"] = 0 }));
        Assert.That(purge.LeftInFlight, Is.EqualTo(1), "the row being sent now waits for the next purge");
        Assert.That(purge.StillInstalled, Is.Empty);
        Assert.That((await _store.FindBySubjectAsync("cs_a2", default)), Is.Empty);
        Assert.That((await _store.FindBySubjectAsync("cs_a1", default)).Select(r => r.Key), Is.EqualTo(new[] { "erp/order.paid/cs_a1" }));
        Assert.That(await _store.GetOrderAsync("cs_a1", default), Is.Null);
        Assert.That(await _store.FindBySubjectAsync("cs_b1", default), Has.Count.EqualTo(1), "another account keeps its rows");
        Assert.That(await _store.AttemptsAsync("wms/order.paid/cs_b1", default), Has.Count.EqualTo(1));
        Assert.That(await _store.GetOrderAsync("cs_b1", default), Is.Not.Null);
        Assert.That(await _store.FedSinceAsync(_time.GetUtcNow().AddDays(-1), default), Is.EquivalentTo(new[] { "evt_fed_b" }));
        var row = await _installs.GetAsync("acct_a", true, default);
        Assert.That((row!.Status, row.PermissionsGranted), Is.EqualTo((InstallStatus.Uninstalled, (IReadOnlyList<string>?)null)), "the install row stays, without its permissions");
    }

    [Test]
    public async Task Accounts_uninstalled_in_live_mode_longer_than_the_setting_and_installed_nowhere_are_purged_in_the_background()
    {
        var uninstalledAt = _time.GetUtcNow();
        foreach (var account in new[] { "acct_due", "acct_test_only", "acct_live_gone_test_kept", "acct_recent" })
        {
            await DeliveredAsync("wms", "cs_" + account, account);
        }

        await _installs.ApplyAsync(Change("acct_due", true, InstallStatus.Uninstalled, uninstalledAt), default);
        await _installs.ApplyAsync(Change("acct_test_only", false, InstallStatus.Uninstalled, uninstalledAt), default);
        await _installs.ApplyAsync(Change("acct_live_gone_test_kept", true, InstallStatus.Uninstalled, uninstalledAt), default);
        await _installs.ApplyAsync(Change("acct_live_gone_test_kept", false, InstallStatus.Installed, uninstalledAt), default);
        await _installs.ApplyAsync(Change("acct_recent", true, InstallStatus.Uninstalled, uninstalledAt.AddDays(25)), default);

        _time.Advance(TimeSpan.FromDays(31));
        var purged = await _purger.PurgeDueAsync(default);

        Assert.That(purged.Select(p => p.Account), Is.EqualTo(new[] { "acct_due" }));
        Assert.That(await _store.FindBySubjectAsync("cs_acct_due", default), Is.Empty);
        foreach (var kept in new[] { "acct_test_only", "acct_live_gone_test_kept", "acct_recent" })
        {
            Assert.That(await _store.FindBySubjectAsync("cs_" + kept, default), Has.Count.EqualTo(1), kept);
        }

        Assert.That(await _purger.PurgeDueAsync(default), Is.Empty, "purged once");
        var audit = await new SyncWorker.Store.Audit.AuditLog(_store, _time).ListAsync(DateTimeOffset.MinValue, 10, default);
        Assert.That(audit.Select(e => (e.Actor, e.Action, e.Subject)), Is.EqualTo(new[] { ("retention", "accounts.purge", (string?)"acct_due") }));
    }

    [Test]
    public async Task No_background_purge_with_PurgeAfterDays_0()
    {
        var settings = StoreSettings.Resolve(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Store:Provider"] = "Sqlite", ["Store:DataDirectory"] = Path.GetTempPath(), ["Installs:PurgeAfterDays"] = "0",
        }).Build(), AppContext.BaseDirectory);
        Assert.That(settings.InstallPurgeAfter, Is.Null);
        await _installs.ApplyAsync(Change("acct_due", true, InstallStatus.Uninstalled, _time.GetUtcNow()), default);
        _time.Advance(TimeSpan.FromDays(400));

        Assert.That(await new AccountPurger(_store, settings, _time).PurgeDueAsync(default), Is.Empty);
        Assert.That(() => StoreSettings.Resolve(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Installs:PurgeAfterDays"] = "-1" }).Build(), AppContext.BaseDirectory),
            Throws.TypeOf<StoreConfigurationException>().With.Message.Contains("Installs:PurgeAfterDays"));
    }

    private async Task DeliveredAsync(string target, string order, string account)
    {
        var claim = new DeliveryClaim(DeliveryKey.ForOrder(target, order, "order.paid"), "evt_" + order, "msg_" + order, account);
        await _store.ClaimAsync(claim, "forwarder-a", Lease, force: false, default);
        await _store.FinishAsync(claim.Key.Value, "forwarder-a", DeliveryState.Delivered, 200, null,
            [new DeliveryAttemptRecord(1, "forwarder-a", _time.GetUtcNow(), TimeSpan.FromMilliseconds(20), "delivered", 200, null)], default);
    }

    private static InstallChange Change(string account, bool live, string status, DateTimeOffset created) =>
        new(account, live, status, null, null, "evt_" + account + (live ? "_live" : "_test"), created);
}
