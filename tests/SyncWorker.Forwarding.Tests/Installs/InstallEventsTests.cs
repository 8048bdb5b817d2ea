using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using NUnit.Framework;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Installs;
using SyncWorker.Store.Installs;

namespace SyncWorker.Forwarding.Tests.Installs;

public sealed class InstallEventsTests
{
    private static readonly DateTimeOffset Created = new(2026, 12, 7, 9, 0, 0, TimeSpan.Zero);

    [TestCase("account.application.authorized", InstallStatus.Installed)]
    [TestCase("account.application.deauthorized", InstallStatus.Uninstalled)]
    public void Authorized_and_deauthorized_name_the_events_account_and_mode(string type, string status)
    {
        var change = InstallEvents.Read(Event(type, "acct_merchant", livemode: false, """{"id":"ca_app","object":"application"}"""));

        Assert.That(change, Is.EqualTo(new InstallChange("acct_merchant", false, status, null, null, "evt_1", Created)));
    }

    [TestCase("account.application.authorized", "{}")]
    [TestCase("apps.install.created", """{"object":"apps.install","account":"acct_sandbox","livemode":false,"status":"installed"}""")]
    public void An_event_a_sandbox_secret_verified_records_a_sandboxs_install(string type, string dataObject)
    {
        var change = InstallEvents.Read(Event(type, "acct_sandbox", livemode: false, dataObject) with { Sandbox = true });

        Assert.That((change!.Account, change.Livemode, change.Sandbox), Is.EqualTo(("acct_sandbox", false, true)));
        Assert.That(InstallEvents.Read(Event(type, "acct_sandbox", livemode: false, dataObject))!.Sandbox, Is.False, "a test-mode secret's event");
    }

    [Test]
    public void The_apps_own_account_is_no_install_to_record()
    {
        Assert.That(InstallEvents.Read(Event("account.application.deauthorized", account: null, livemode: true, "{}")), Is.Null);
        Assert.That(InstallEvents.Read(Event("checkout.session.completed", "acct_merchant", true, "{}")), Is.Null, "not an install event");
    }

    [Test]
    public void An_install_object_gives_its_account_mode_and_permissions_as_names_or_objects()
    {
        var change = InstallEvents.Read(Event("apps.install.updated", account: null, livemode: true, """
            {"id":"inst_1","object":"apps.install","account":"acct_merchant","livemode":false,"status":"installed",
             "permissions_granted":["event_read",{"permission":"checkout_session_read"}],"permissions_pending":[{"permission":"charge_read","purpose":"refunds"}]}
            """));

        Assert.That(change, Is.Not.Null);
        Assert.That((change!.Account, change.Livemode, change.Status), Is.EqualTo(("acct_merchant", false, InstallStatus.Installed)), "the object's account and mode, not the envelope's");
        Assert.That(change.PermissionsGranted, Is.EqualTo(new[] { "event_read", "checkout_session_read" }));
        Assert.That(change.PermissionsPending, Is.EqualTo(new[] { "charge_read" }));
    }

    [TestCase("apps.install.created", "installing", InstallStatus.Installed)]
    [TestCase("apps.install.updated", "uninstalling", InstallStatus.Installed)]
    [TestCase("apps.install.updated", "install_failed", InstallStatus.Uninstalled)]
    [TestCase("apps.install.deleted", "installed", InstallStatus.Uninstalled)]
    public void An_install_objects_status_is_read_as_installed_until_it_is_deleted_or_failed(string type, string status, string expected)
    {
        var change = InstallEvents.Read(Event(type, "acct_merchant", true, $$"""{"object":"apps.install","status":"{{status}}"}"""));

        Assert.That(change!.Status, Is.EqualTo(expected));
        Assert.That((change.Account, change.Livemode, change.PermissionsGranted), Is.EqualTo(("acct_merchant", true, (IReadOnlyList<string>?)null)), "the envelope's when the object does not say");
    }

    [Test]
    public async Task The_copy_of_uninstalled_accounts_follows_changes_at_once_and_the_registry_on_refresh()
    {
        var registry = new ListedRegistry();
        var state = new InstallState(registry, TimeProvider.System, NullLogger<InstallState>.Instance);

        state.Apply(new InstallChange("acct_a", true, InstallStatus.Uninstalled, null, null, "evt_1", Created));
        Assert.That((state.IsUninstalled("acct_a", true), state.IsUninstalled("acct_a", false), state.IsUninstalled(null, true)), Is.EqualTo((true, false, false)));

        state.Apply(new InstallChange("acct_a", true, InstallStatus.Installed, null, null, "evt_2", Created));
        Assert.That(state.IsUninstalled("acct_a", true), Is.False);

        registry.Uninstalled = [("acct_b", false)];
        registry.Pending = [("acct_c", true, ["charge_read"])];
        await state.RefreshAsync(CancellationToken.None);
        Assert.That((state.IsUninstalled("acct_b", false), state.IsUninstalled("acct_a", true)), Is.EqualTo((true, false)));
        Assert.That(state.PendingPermissions("acct_c", true), Is.EquivalentTo(new[] { "charge_read" }), "pending permissions are read with them");
        Assert.That(state.PendingPermissions("acct_c", false), Is.Empty);

        // An install event changes the copy at once: granted, nothing pending any more.
        state.Apply(new InstallChange("acct_c", true, InstallStatus.Installed, ["charge_read"], [], "evt_3", Created));
        Assert.That(state.PendingPermissions("acct_c", true), Is.Empty);
    }

    [Test]
    public async Task A_change_applied_while_the_registry_is_read_is_not_undone_by_that_read()
    {
        // The read starts before the event's change reaches the registry and ends after the forwarder applied it: the
        // copy must keep the change (it is in the registry; the next read says so), not put the older rows back.
        var registry = new ListedRegistry { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var state = new InstallState(registry, TimeProvider.System, NullLogger<InstallState>.Instance);
        var refresh = state.RefreshAsync(CancellationToken.None);

        state.Apply(new InstallChange("acct_c", true, InstallStatus.Installed, ["event_read"], ["checkout_session_read"], "evt_4", Created));
        state.Apply(new InstallChange("acct_d", true, InstallStatus.Uninstalled, null, null, "evt_5", Created));
        registry.Gate.SetResult();
        await refresh;

        Assert.That(state.PendingPermissions("acct_c", true), Is.EquivalentTo(new[] { "checkout_session_read" }));
        Assert.That(state.IsUninstalled("acct_d", true), Is.True);

        // A read that starts after the changes takes the registry's word, whatever it says.
        registry.Gate = null;
        await state.RefreshAsync(CancellationToken.None);
        Assert.That((state.PendingPermissions("acct_c", true).Count, state.IsUninstalled("acct_d", true)), Is.EqualTo((0, false)));
    }

    private static StripeEventReceived Event(string type, string? account, bool livemode, string dataObject) =>
        new("evt_1", type, account, livemode, "2026-10-28", Created, "x", null, Created,
            new JsonBytes(Encoding.UTF8.GetBytes("{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"" + type + "\",\"data\":{\"object\":" + dataObject + "}}")));

    private sealed class ListedRegistry : IInstallRegistry
    {
        public IReadOnlyList<(string Account, bool Livemode)> Uninstalled { get; set; } = [];

        public Task<IReadOnlyList<(string Account, bool Livemode)>> UninstalledAsync(CancellationToken cancellationToken) => Task.FromResult(Uninstalled);

        public Task<bool> ApplyAsync(InstallChange change, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<InstallRecord?> GetAsync(string account, bool livemode, CancellationToken cancellationToken) => throw new NotSupportedException();

        public IReadOnlyList<(string Account, bool Livemode, string[] Pending)> Pending { get; set; } = [];

        /// <summary>When set, a read takes the rows as they are now and answers once it completes.</summary>
        public TaskCompletionSource? Gate { get; set; }

        public async Task<IReadOnlyList<InstallRecord>> ListAsync(CancellationToken cancellationToken)
        {
            var rows = Rows();
            if (Gate is { } gate)
            {
                await gate.Task;
            }

            return rows;
        }

        private List<InstallRecord> Rows() => (
            Uninstalled.Select(u => new InstallRecord(u.Account, u.Livemode, InstallStatus.Uninstalled, null, null, null, Created, Created, Created))
                .Concat(Pending.Select(p => new InstallRecord(p.Account, p.Livemode, InstallStatus.Installed, [], p.Pending, null, Created, Created, Created)))
                .ToList());
    }
}
