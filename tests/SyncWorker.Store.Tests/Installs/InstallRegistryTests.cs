using Microsoft.Extensions.Time.Testing;
using SyncWorker.Store.Installs;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Store.Tests.Installs;

[TestFixture(StoreProvider.Sqlite)]
[TestFixture(StoreProvider.Postgres)]
public sealed class InstallRegistryTests(StoreProvider provider)
{
    private static readonly DateTimeOffset Created = new(2026, 12, 7, 9, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 10, 0, 0, TimeSpan.Zero));
    private SqlDeliveryLedger _store = null!;
    private SqlInstallRegistry _installs = null!;

    [SetUp]
    public async Task SetUpAsync()
    {
        var settings = await StoreDatabases.NewAsync(provider);
        await new StoreMigrator(settings).MigrateAsync(CancellationToken.None);
        _store = new SqlDeliveryLedger(settings, _time);
        _installs = new SqlInstallRegistry(_store, _time);
    }

    [TearDown]
    public void DisposeStore() => _store.Dispose();

    [Test]
    public async Task An_install_is_recorded_per_account_and_mode_with_its_permissions_and_when_it_was_seen()
    {
        Assert.That(await _installs.ApplyAsync(Change("acct_1", true, InstallStatus.Installed, "evt_1", Created, ["event_read", "checkout_session_read"], []), default), Is.True);
        Assert.That(await _installs.ApplyAsync(Change("acct_1", false, InstallStatus.Installed, "evt_2", Created), default), Is.True);

        var live = await _installs.GetAsync("acct_1", true, default);
        Assert.That(live, Is.Not.Null);
        Assert.That((live!.Status, live.LastEventId, live.LastEventCreated, live.FirstSeen, live.LastSeen),
            Is.EqualTo((InstallStatus.Installed, "evt_1", Created, _time.GetUtcNow(), _time.GetUtcNow())));
        Assert.That(live.PermissionsGranted, Is.EqualTo(new[] { "event_read", "checkout_session_read" }));
        Assert.That(live.PermissionsPending, Is.Empty);
        var test = await _installs.GetAsync("acct_1", false, default);
        Assert.That(test!.PermissionsGranted, Is.Null, "account.application.authorized does not say");
        Assert.That(await _installs.GetAsync("acct_other", true, default), Is.Null);
        Assert.That((await _installs.ListAsync(default)).Select(r => (r.Account, r.Livemode)), Is.EqualTo(new[] { ("acct_1", true), ("acct_1", false) }));
    }

    [Test]
    public async Task An_uninstall_in_one_mode_leaves_the_other_and_a_reinstall_undoes_it()
    {
        await _installs.ApplyAsync(Change("acct_1", true, InstallStatus.Installed, "evt_1", Created), default);
        await _installs.ApplyAsync(Change("acct_1", false, InstallStatus.Installed, "evt_2", Created), default);
        await _installs.ApplyAsync(Change("acct_1", false, InstallStatus.Uninstalled, "evt_3", Created.AddMinutes(1)), default);

        Assert.That(await _installs.UninstalledAsync(default), Is.EqualTo(new[] { ("acct_1", false) }));
        Assert.That((await _installs.GetAsync("acct_1", true, default))!.Status, Is.EqualTo(InstallStatus.Installed));

        _time.Advance(TimeSpan.FromHours(1));
        await _installs.ApplyAsync(Change("acct_1", false, InstallStatus.Installed, "evt_4", Created.AddHours(1)), default);
        var again = await _installs.GetAsync("acct_1", false, default);
        Assert.That((again!.Status, again.LastEventId), Is.EqualTo((InstallStatus.Installed, "evt_4")));
        Assert.That(again.FirstSeen, Is.LessThan(again.LastSeen), "first seen stays");
        Assert.That(await _installs.UninstalledAsync(default), Is.Empty);
    }

    [Test]
    public async Task An_older_event_arriving_late_does_not_undo_a_newer_one_but_counts_as_seen()
    {
        await _installs.ApplyAsync(Change("acct_1", true, InstallStatus.Uninstalled, "evt_new", Created.AddMinutes(5)), default);
        _time.Advance(TimeSpan.FromMinutes(1));

        var applied = await _installs.ApplyAsync(Change("acct_1", true, InstallStatus.Installed, "evt_old", Created, ["event_read"], null), default);

        Assert.That(applied, Is.False);
        var row = await _installs.GetAsync("acct_1", true, default);
        Assert.That((row!.Status, row.LastEventId, row.PermissionsGranted), Is.EqualTo((InstallStatus.Uninstalled, "evt_new", (IReadOnlyList<string>?)null)));
        Assert.That(row.LastSeen, Is.EqualTo(_time.GetUtcNow()));
    }

    [Test]
    public async Task Permissions_an_event_does_not_mention_are_kept_from_the_one_before()
    {
        await _installs.ApplyAsync(Change("acct_1", true, InstallStatus.Installed, "evt_1", Created, ["event_read"], ["charge_read"]), default);
        await _installs.ApplyAsync(Change("acct_1", true, InstallStatus.Installed, "evt_2", Created.AddSeconds(1)), default);

        var row = await _installs.GetAsync("acct_1", true, default);
        Assert.That(row!.PermissionsGranted, Is.EqualTo(new[] { "event_read" }));
        Assert.That(row.PermissionsPending, Is.EqualTo(new[] { "charge_read" }));
        Assert.That(row.LastEventId, Is.EqualTo("evt_2"));
    }

    [Test]
    public async Task A_sandbox_install_is_marked_and_stays_a_sandboxs_whatever_the_order_of_events()
    {
        await _installs.ApplyAsync(Change("acct_sbx", false, InstallStatus.Installed, "evt_1", Created) with { Sandbox = true }, default);
        // An event without the flag (a forwarder of an earlier version) changes the status, not what the account is.
        await _installs.ApplyAsync(Change("acct_sbx", false, InstallStatus.Uninstalled, "evt_2", Created.AddMinutes(1)), default);
        await _installs.ApplyAsync(Change("acct_test", false, InstallStatus.Installed, "evt_3", Created.AddMinutes(5)), default);
        // An older event that says sandbox still tells what the account is, though it changes nothing else.
        await _installs.ApplyAsync(Change("acct_late", false, InstallStatus.Installed, "evt_4", Created.AddMinutes(5)), default);
        await _installs.ApplyAsync(Change("acct_late", false, InstallStatus.Uninstalled, "evt_old", Created) with { Sandbox = true }, default);

        var sandbox = await _installs.GetAsync("acct_sbx", false, default);
        var test = await _installs.GetAsync("acct_test", false, default);
        var late = await _installs.GetAsync("acct_late", false, default);
        Assert.Multiple(() =>
        {
            Assert.That((sandbox!.Status, sandbox.Sandbox, sandbox.Mode), Is.EqualTo((InstallStatus.Uninstalled, true, "sandbox")));
            Assert.That((test!.Sandbox, test.Mode), Is.EqualTo((false, "test")));
            Assert.That((late!.Status, late.LastEventId, late.Sandbox), Is.EqualTo((InstallStatus.Installed, "evt_4", true)));
        });
    }

    private static InstallChange Change(string account, bool live, string status, string eventId, DateTimeOffset created, string[]? granted = null, string[]? pending = null) =>
        new(account, live, status, granted, pending, eventId, created);
}
