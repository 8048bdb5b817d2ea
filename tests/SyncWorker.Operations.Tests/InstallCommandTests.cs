using System.Text.Json;
using Microsoft.Extensions.Configuration;
using SyncWorker.Store;
using SyncWorker.Store.Installs;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Operations.Tests;

/// <summary><c>installs list</c> over a SQLite store seeded through the registry, as forwarders fill it.</summary>
public sealed class InstallCommandTests
{
    private static readonly DateTimeOffset Created = new(2026, 12, 7, 9, 0, 0, TimeSpan.Zero);
    private static readonly string Root = Path.Combine(Path.GetTempPath(), "syncworker-installs-cli");
    private readonly System.Collections.Concurrent.ConcurrentBag<string> _folders = [];

    [OneTimeTearDown]
    public void Clean()
    {
        foreach (var folder in _folders.Where(Directory.Exists))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public async Task Lists_each_account_and_mode_with_its_status_and_permissions_in_a_table_and_as_json()
    {
        var configuration = await StoreAsync(StoreMigrator.LatestVersion);
        var settings = StoreSettings.Resolve(configuration, AppContext.BaseDirectory);
        using (var ledger = new SqlDeliveryLedger(settings, TimeProvider.System))
        {
            var installs = new SqlInstallRegistry(ledger, TimeProvider.System);
            await installs.ApplyAsync(new InstallChange("acct_merchant_a", true, InstallStatus.Installed, ["event_read", "checkout_session_read"], ["charge_read"], "evt_a", Created), default);
            await installs.ApplyAsync(new InstallChange("acct_merchant_b", false, InstallStatus.Uninstalled, null, null, "evt_b", Created), default);
        }

        var table = await CliHarness.RunAsync(configuration, "installs", "list");
        Assert.That(table.ExitCode, Is.Zero, table.ToString());
        var lines = table.Output.Split('\n');
        Assert.That(lines.Single(l => l.Contains("acct_merchant_a", StringComparison.Ordinal)), Does.Contain("live").And.Contain("installed").And.Contain("charge_read").And.Contain("evt_a"));
        Assert.That(lines.Single(l => l.Contains("acct_merchant_b", StringComparison.Ordinal)), Does.Contain("test").And.Contain("uninstalled"));

        var json = await CliHarness.RunAsync(configuration, "installs", "list", "--json");
        Assert.That(json.ExitCode, Is.Zero, json.ToString());
        using var document = JsonDocument.Parse(json.Output);
        var rows = document.RootElement.GetProperty("installs").EnumerateArray().ToList();
        Assert.That(rows.Select(r => (r.GetProperty("account").GetString(), r.GetProperty("mode").GetString(), r.GetProperty("status").GetString())),
            Is.EqualTo(new[] { ("acct_merchant_a", "live", "installed"), ("acct_merchant_b", "test", "uninstalled") }));
        Assert.That(rows[0].GetProperty("permissionsGranted").EnumerateArray().Select(p => p.GetString()), Is.EqualTo(new[] { "event_read", "checkout_session_read" }));
        Assert.That(rows[1].GetProperty("permissionsGranted").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(rows[0].GetProperty("waiting").GetString(), Is.EqualTo("order actions needing charge_read wait until the merchant grants it"),
            "a pending permission an order action needs is why its actions wait");
        Assert.That(rows[1].GetProperty("waiting").ValueKind, Is.EqualTo(JsonValueKind.Null));
    }

    [Test]
    public async Task An_empty_registry_says_what_feeds_it_and_a_store_before_it_says_how_to_migrate()
    {
        var empty = await CliHarness.RunAsync(await StoreAsync(StoreMigrator.LatestVersion), "installs", "list");
        Assert.That(empty.ExitCode, Is.Zero, empty.ToString());
        Assert.That(empty.Error, Does.Contain("empty").And.Contain("count as installed"));

        var old = await CliHarness.RunAsync(await StoreAsync(4), "installs", "list");
        Assert.That(old.ExitCode, Is.EqualTo(1), old.ToString());
        Assert.That(old.Error, Does.Contain("schema version 4").And.Contain("store migrate"));
    }

    [Test]
    public async Task Accounts_purge_deletes_a_merchants_rows_says_what_and_warns_when_it_is_still_installed()
    {
        var configuration = await StoreAsync(StoreMigrator.LatestVersion);
        var settings = StoreSettings.Resolve(configuration, AppContext.BaseDirectory);
        using (var ledger = new SqlDeliveryLedger(settings, TimeProvider.System))
        {
            var claim = new DeliveryClaim(DeliveryKey.ForOrder("wms", "cs_purge_1", "order.paid"), "evt_p1", "msg_p1", "acct_merchant_a");
            await ledger.ClaimAsync(claim, "forwarder-a", TimeSpan.FromMinutes(5), false, default);
            await ledger.FinishAsync(claim.Key.Value, "forwarder-a", DeliveryState.Delivered, 200, null, [], default);
            await ledger.RecordAsync(new OrderRecord("cs_purge_1", "pi_purge_1", "acct_merchant_a", true), default);
            await new SqlInstallRegistry(ledger, TimeProvider.System).ApplyAsync(new InstallChange("acct_merchant_a", false, InstallStatus.Installed, null, null, "evt_i", Created), default);
        }

        var run = await CliHarness.RunAsync(configuration, "accounts", "purge", "acct_merchant_a", "--json");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        using var document = JsonDocument.Parse(run.Output);
        Assert.That(document.RootElement.GetProperty("deleted").GetProperty("deliveries").GetInt64(), Is.EqualTo(1));
        Assert.That(document.RootElement.GetProperty("deleted").GetProperty("orders").GetInt64(), Is.EqualTo(1));
        Assert.That(run.Error, Does.Contain("still installed in test mode"));

        var audit = await CliHarness.RunAsync(configuration, "audit", "list", "--json");
        Assert.That(audit.ExitCode, Is.Zero, audit.ToString());
        using (var entries = JsonDocument.Parse(audit.Output))
        {
            var entry = entries.RootElement.GetProperty("entries").EnumerateArray().Single();
            Assert.That((entry.GetProperty("action").GetString(), entry.GetProperty("subject").GetString()), Is.EqualTo(("accounts.purge", "acct_merchant_a")));
            Assert.That(entry.GetProperty("actor").GetString(), Is.EqualTo($"{Environment.UserName}@{Environment.MachineName}"));
            Assert.That(entry.GetProperty("detail").GetString(), Does.Contain("deleted 1 ledger rows").And.Contain("still installed in test mode"));
        }

        var table = await CliHarness.RunAsync(configuration, "audit", "list", "--since", "1h");
        Assert.That(table.Output, Does.Contain("accounts.purge").And.Contain("acct_merchant_a"));

        var bad = await CliHarness.RunAsync(configuration, "accounts", "purge", "cs_purge_1");
        Assert.That(bad.ExitCode, Is.EqualTo(2), bad.ToString());
        Assert.That(bad.Error, Does.Contain("acct_"));
    }

    [Test]
    public async Task Installs_sync_records_what_the_Install_API_lists_per_mode_and_uninstalls_what_it_no_longer_lists()
    {
        using var stripe = WireMock.Server.WireMockServer.Start();
        const string liveKey = "sk_live_installs_sync_not_a_key";
        stripe.Given(WireMock.RequestBuilders.Request.Create().WithPath("/v1/apps/installs").UsingGet()
                .WithParam("app", "app_61SyncWorkerTests").WithHeader("Authorization", "Bearer " + liveKey))
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody("""
                {"object":"list","url":"/v1/apps/installs","has_more":false,"data":[
                  {"id":"appinst_1","object":"apps.install","account":"acct_new","app":"app_61SyncWorkerTests","livemode":true,"status":"installed",
                   "permissions_granted":["event_read","checkout_session_read"],"permissions_pending":["charge_read"],"created":1788000000},
                  {"id":"appinst_2","object":"apps.install","account":"acct_kept","app":"app_61SyncWorkerTests","livemode":true,"status":"installed",
                   "permissions_granted":["event_read"],"permissions_pending":[],"created":1788000000}]}
                """));
        var (configuration, settings, folder) = await SyncStoreAsync(stripe.Url!, ("Stripe:ApiKey", liveKey),
            new InstallChange("acct_kept", true, InstallStatus.Installed, null, null, "evt_k", Created),
            new InstallChange("acct_gone", true, InstallStatus.Installed, null, null, "evt_g", Created));

        var run = await CliHarness.RunAsync(configuration, "installs", "sync", "--json");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        using var document = JsonDocument.Parse(run.Output);
        Assert.That(document.RootElement.GetProperty("listed").GetInt32(), Is.EqualTo(2));
        Assert.That(document.RootElement.GetProperty("changes").EnumerateArray().Select(c => (c.GetProperty("account").GetString(), c.GetProperty("before").GetString(), c.GetProperty("after").GetString())),
            Is.EquivalentTo(new[] { ("acct_new", (string?)null, "installed"), ("acct_gone", "installed", "uninstalled") }));
        Assert.That(run.Error, Does.Contain("Not synced: test: no key"), "a live key lists live installs only");
        Assert.That(run.Output + run.Error, Does.Not.Contain(liveKey));
        using (var ledger = new SqlDeliveryLedger(settings, TimeProvider.System))
        {
            var installs = new SqlInstallRegistry(ledger, TimeProvider.System);
            var added = await installs.GetAsync("acct_new", true, default);
            Assert.That((added!.Status, added.LastEventId), Is.EqualTo((InstallStatus.Installed, "appinst_1")));
            Assert.That(added.PermissionsPending, Is.EqualTo(new[] { "charge_read" }));
            Assert.That((await installs.GetAsync("acct_gone", true, default))!.Status, Is.EqualTo(InstallStatus.Uninstalled));
        }

        var audit = await CliHarness.RunAsync(configuration, "audit", "list", "--json");
        using (var entries = JsonDocument.Parse(audit.Output))
        {
            var entry = entries.RootElement.GetProperty("entries").EnumerateArray().Single();
            Assert.That(entry.GetProperty("action").GetString(), Is.EqualTo("installs.sync"));
            Assert.That(entry.GetProperty("detail").GetString(), Does.Contain("2 installs listed (live mode); 2 rows changed").And.Contain("acct_gone (live) installed -> uninstalled"));
        }

        var noApp = await CliHarness.RunAsync(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Store:DataDirectory"] = folder }).Build(), "installs", "sync");
        Assert.That(noApp.ExitCode, Is.EqualTo(78), noApp.ToString());
        Assert.That(noApp.Error, Does.Contain("Installs:AppId is not set"));
    }

    [Test]
    public async Task Installs_sync_lists_the_sandboxs_installs_with_its_own_key_and_test_mode_leaves_them_alone()
    {
        using var stripe = WireMock.Server.WireMockServer.Start();
        const string sandboxKey = "sk_test_sandbox_installs_sync_not_a_key";
        const string testKey = "sk_test_testmode_installs_sync_not_a_key";
        stripe.Given(WireMock.RequestBuilders.Request.Create().WithPath("/v1/apps/installs").UsingGet().WithHeader("Authorization", "Bearer " + sandboxKey))
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody("""
                {"object":"list","url":"/v1/apps/installs","has_more":false,"data":[
                  {"id":"appinst_s","object":"apps.install","account":"acct_sandbox","app":"app_61SyncWorkerTests","livemode":false,"status":"installed",
                   "permissions_granted":["event_read"],"permissions_pending":[],"created":1788000000}]}
                """));
        stripe.Given(WireMock.RequestBuilders.Request.Create().WithPath("/v1/apps/installs").UsingGet().WithHeader("Authorization", "Bearer " + testKey))
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json")
                .WithBody("""{"object":"list","url":"/v1/apps/installs","has_more":false,"data":[]}"""));
        // acct_sandbox recorded before the store knew sandboxes (an event of an earlier version): a test-mode row like any other.
        var (configuration, _, _) = await SyncStoreAsync(stripe.Url!, ("Stripe:ApiKeys:Sandbox", sandboxKey), ("Stripe:ApiKeys:Test", testKey),
            new InstallChange("acct_sandbox", false, InstallStatus.Installed, null, null, "evt_s", Created),
            new InstallChange("acct_testmode", false, InstallStatus.Installed, null, null, "evt_t", Created));

        var run = await CliHarness.RunAsync(configuration, "installs", "sync", "--json");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        using (var document = JsonDocument.Parse(run.Output))
        {
            Assert.That(document.RootElement.GetProperty("modes").EnumerateArray().Select(m => m.GetString()), Is.EqualTo(new[] { "sandbox", "test" }));
            Assert.That(document.RootElement.GetProperty("changes").EnumerateArray().Select(c => (c.GetProperty("account").GetString(), c.GetProperty("mode").GetString(), c.GetProperty("after").GetString())),
                Is.EquivalentTo(new[] { ("acct_testmode", "test", "uninstalled") }), "the sandbox's install is no test-mode install the test key missed");
        }

        Assert.That(run.Output + run.Error, Does.Not.Contain(sandboxKey).And.Not.Contain(testKey));
        var list = await CliHarness.RunAsync(configuration, "installs", "list", "--json");
        using var listing = JsonDocument.Parse(list.Output);
        Assert.That(listing.RootElement.GetProperty("installs").EnumerateArray().Select(i => (i.GetProperty("account").GetString(), i.GetProperty("mode").GetString(), i.GetProperty("status").GetString())),
            Is.EquivalentTo(new[] { ("acct_sandbox", "sandbox", "installed"), ("acct_testmode", "test", "uninstalled") }));
    }

    /// <summary>A migrated store of its own holding <paramref name="rows"/>, configured for <c>installs sync</c> against <paramref name="apiBase"/>.</summary>
    private Task<(IConfiguration Configuration, StoreSettings Settings, string Folder)> SyncStoreAsync(string apiBase, (string Key, string Value) key, params InstallChange[] rows) =>
        SyncStoreAsync(apiBase, [key], rows);

    private Task<(IConfiguration Configuration, StoreSettings Settings, string Folder)> SyncStoreAsync(
        string apiBase, (string Key, string Value) key, (string Key, string Value) other, params InstallChange[] rows) =>
        SyncStoreAsync(apiBase, [key, other], rows);

    private async Task<(IConfiguration Configuration, StoreSettings Settings, string Folder)> SyncStoreAsync(
        string apiBase, (string Key, string Value)[] keys, InstallChange[] rows)
    {
        var folder = Path.Combine(Root, Guid.NewGuid().ToString("N")[..12]);
        _folders.Add(folder);
        var values = new Dictionary<string, string?>
        {
            ["Store:DataDirectory"] = folder,
            ["Installs:AppId"] = "app_61SyncWorkerTests",
            ["Stripe:ApiBase"] = apiBase,
        };
        foreach (var (name, value) in keys)
        {
            values[name] = value;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var settings = StoreSettings.Resolve(configuration, AppContext.BaseDirectory);
        await new StoreMigrator(settings).MigrateAsync(CancellationToken.None);
        using var ledger = new SqlDeliveryLedger(settings, TimeProvider.System);
        var installs = new SqlInstallRegistry(ledger, TimeProvider.System);
        foreach (var row in rows)
        {
            await installs.ApplyAsync(row, default);
        }

        return (configuration, settings, folder);
    }

    private async Task<IConfiguration> StoreAsync(long version)
    {
        // A store of its own per call: the tests of this class may run at once.
        var folder = Path.Combine(Root, Guid.NewGuid().ToString("N")[..12]);
        _folders.Add(folder);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Store:DataDirectory"] = folder }).Build();
        await new StoreMigrator(StoreSettings.Resolve(configuration, AppContext.BaseDirectory)).MigrateToAsync(version, CancellationToken.None);
        return configuration;
    }
}
