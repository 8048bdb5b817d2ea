using System.Text.Json;
using Microsoft.Extensions.Configuration;
using SyncWorker.Store;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Operations.Tests;

/// <summary><c>deliveries list</c> and <c>store purge</c> over a SQLite store seeded through the ledger, as forwarders fill it.</summary>
public sealed class DeliveryCommandTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "syncworker-deliveries-cli", Guid.NewGuid().ToString("N")[..8]);
    private IConfiguration _configuration = null!;
    private StoreSettings _settings = null!;

    [OneTimeSetUp]
    public async Task SeedAsync()
    {
        _configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Store:DataDirectory"] = _folder }).Build();
        _settings = StoreSettings.Resolve(_configuration, AppContext.BaseDirectory);
        await new StoreMigrator(_settings).MigrateAsync(CancellationToken.None);

        // Newest change first: cs_d (10 min ago), cs_c (1 h), cs_b (3 h), cs_a (5 h) to the warehouse, cs_a to the erp (5 h).
        await RowAsync("warehouse", "cs_list_a", DeliveryState.Delivered, Now.AddHours(-5));
        await RowAsync("erp", "cs_list_a", DeliveryState.DeadLettered, Now.AddHours(-5));
        await RowAsync("warehouse", "cs_list_b", DeliveryState.DeadLettered, Now.AddHours(-3));
        await RowAsync("warehouse", "cs_list_c", DeliveryState.Retrying, Now.AddHours(-1));
        await RowAsync("warehouse", "cs_list_d", DeliveryState.InFlight, Now.AddMinutes(-10));
    }

    private async Task RowAsync(string target, string order, DeliveryState state, DateTimeOffset at)
    {
        using var ledger = new SqlDeliveryLedger(_settings, new FixedTime(at));
        var claim = new DeliveryClaim(DeliveryKey.ForOrder(target, order, "order.paid"), "evt_" + order, $"msg_{target}_{order}");
        await ledger.ClaimAsync(claim, "forwarder-a/1", Lease, force: false, CancellationToken.None);
        if (state != DeliveryState.InFlight)
        {
            await ledger.FinishAsync(claim.Key.Value, "forwarder-a/1", state, state == DeliveryState.Delivered ? 200 : 503, state == DeliveryState.Delivered ? null : "Service Unavailable", attempts: [], CancellationToken.None);
        }
    }

    [OneTimeTearDown]
    public void Clean()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    private Task<CliRun> ListAsync(params string[] options) =>
        CliHarness.RunAsync(_configuration, new FixedTime(Now), ["deliveries", "list", .. options]);

    private static List<string> Keys(CliRun run, out string? next)
    {
        using var document = JsonDocument.Parse(run.Output);
        var root = document.RootElement;
        next = root.GetProperty("next").GetString();
        return root.GetProperty("deliveries").EnumerateArray().Select(d => d.GetProperty("key").GetString()!).ToList();
    }

    [Test]
    public async Task The_table_shows_each_delivery_newest_change_first_with_its_state()
    {
        var run = await ListAsync();

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        var lines = run.Output.Split('\n').Where(l => l.Contains("cs_list_", StringComparison.Ordinal)).ToList();
        Assert.That(lines, Has.Count.EqualTo(5));
        Assert.That(lines[0], Does.Contain("cs_list_d").And.Contain("in_flight").And.Contain("2026-12-07 11:50:00Z"));
        Assert.That(lines[1], Does.Contain("cs_list_c").And.Contain("retrying").And.Contain("503").And.Contain("Service Unavailable"));
        Assert.That(lines.Single(l => l.Contains("erp", StringComparison.Ordinal)), Does.Contain("dead_lettered"));
        Assert.That(run.Output, Does.Contain("5 deliveries, newest change first; no more."));
    }

    [Test]
    public async Task Json_pages_with_the_next_cursor_until_there_is_no_more()
    {
        var first = await ListAsync("--limit", "2", "--json");
        Assert.That(first.ExitCode, Is.Zero, first.ToString());
        var keys = Keys(first, out var next);
        Assert.That(next, Is.Not.Null);
        var seen = new List<string>(keys);
        for (var pages = 1; next is not null; pages++)
        {
            Assert.That(pages, Is.LessThan(5), "the pages end");
            var page = await ListAsync("--limit", "2", "--json", "--after", next);
            Assert.That(page.ExitCode, Is.Zero, page.ToString());
            seen.AddRange(Keys(page, out next));
        }

        Assert.That(seen, Is.EqualTo(new[]
        {
            "warehouse/order.paid/cs_list_d",
            "warehouse/order.paid/cs_list_c",
            "warehouse/order.paid/cs_list_b",
            "warehouse/order.paid/cs_list_a",
            "erp/order.paid/cs_list_a",
        }));

        var table = await ListAsync("--limit", "2");
        Assert.That(table.Output, Does.Contain("2 deliveries, newest change first; more: run the same command with --after "));
    }

    [Test]
    public async Task Target_state_and_since_filter_and_json_has_stable_field_names()
    {
        var run = await ListAsync("--target", "warehouse", "--state", "dead_lettered", "--since", "4h", "--json");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        using var document = JsonDocument.Parse(run.Output);
        var root = document.RootElement;
        Assert.That(root.GetProperty("state").GetString(), Is.EqualTo("dead_lettered"));
        Assert.That(root.GetProperty("since").GetDateTimeOffset(), Is.EqualTo(Now.AddHours(-4)));
        var row = root.GetProperty("deliveries").EnumerateArray().Single();
        Assert.That(row.GetProperty("key").GetString(), Is.EqualTo("warehouse/order.paid/cs_list_b"));
        Assert.That(row.GetProperty("subject").GetString(), Is.EqualTo("cs_list_b"));
        Assert.That(row.GetProperty("state").GetString(), Is.EqualTo("dead_lettered"));
        Assert.That(row.GetProperty("lastStatus").GetInt32(), Is.EqualTo(503));
        Assert.That(row.GetProperty("webhookId").GetString(), Is.EqualTo("msg_warehouse_cs_list_b"));
        Assert.That(row.GetProperty("updatedAt").GetDateTimeOffset(), Is.EqualTo(Now.AddHours(-3)));
        Assert.That(root.GetProperty("next").ValueKind, Is.EqualTo(JsonValueKind.Null));
    }

    [TestCase("--state", "failed", "--state 'failed' is not a delivery state; use one of: pending, in_flight, retrying, waiting, delivered, dead_lettered, skipped, discarded.")]
    [TestCase("--since", "24 hours", "--since '24 hours' is neither an ISO 8601 time")]
    [TestCase("--until", "2026-13-01", "--until '2026-13-01' is neither an ISO 8601 time")]
    [TestCase("--limit", "0", "--limit 0: a page holds 1 to 1000 deliveries")]
    [TestCase("--after", "not-a-cursor", "--after 'not-a-cursor' is not a cursor")]
    public async Task A_bad_option_is_a_usage_error_naming_it(string option, string value, string expected)
    {
        var run = await ListAsync(option, value);

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Error, Does.Contain(expected));
    }

    [Test]
    public async Task Without_a_store_it_fails_naming_the_settings()
    {
        var elsewhere = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Store:DataDirectory"] = Path.Combine(_folder, "none") }).Build();
        var run = await CliHarness.RunAsync(elsewhere, "deliveries", "list");
        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error, Does.Contain("There is no store at").And.Contain("Store:DataDirectory"));
    }

    [Test]
    public async Task Store_purge_deletes_what_is_past_retention_and_counts_it_per_table()
    {
        // A store of its own: the purge must not take the listing's rows.
        var folder = Path.Combine(_folder, "purge");
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Store:DataDirectory"] = folder }).Build();
        var settings = StoreSettings.Resolve(configuration, AppContext.BaseDirectory);
        await new StoreMigrator(settings).MigrateAsync(CancellationToken.None);
        using (var ledger = new SqlDeliveryLedger(settings, new FixedTime(Now.AddDays(-50))))
        {
            // A refund: a delivered order.paid row is kept for Store:OrderRetentionDays (400), with its order.
            var old = new DeliveryClaim(DeliveryKey.ForOrder("warehouse", "cs_purge_old", "order.refunded", "re_old"), "evt_old", "msg_old");
            await ledger.ClaimAsync(old, "f", Lease, force: false, CancellationToken.None);
            await ledger.FinishAsync(old.Key.Value, "f", DeliveryState.Delivered, 200, null, [new DeliveryAttemptRecord(1, "f", Now.AddDays(-50), TimeSpan.FromMilliseconds(20), "delivered", 200, null)], CancellationToken.None);
        }

        using (var ledger = new SqlDeliveryLedger(settings, new FixedTime(Now.AddDays(-1))))
        {
            await ledger.ClaimAsync(new DeliveryClaim(DeliveryKey.ForOrder("warehouse", "cs_purge_new", "order.paid"), "evt_new", "msg_new"), "f", Lease, force: false, CancellationToken.None);
        }

        var run = await CliHarness.RunAsync(configuration, new FixedTime(Now), "store", "purge", "--json");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        using var document = JsonDocument.Parse(run.Output);
        var tables = document.RootElement.GetProperty("tables").EnumerateArray()
            .ToDictionary(t => t.GetProperty("table").GetString()!, t => t.GetProperty("deleted").GetInt64());
        Assert.That(tables, Is.EqualTo(new Dictionary<string, long>
        {
            ["delivery_attempts"] = 1, ["orders.document"] = 0, ["deliveries"] = 1, ["deliveries/order.paid"] = 0, ["orders"] = 0, ["backfill_events"] = 0,
        }));
        Assert.That(document.RootElement.GetProperty("keyRetentionDays").GetInt32(), Is.EqualTo(45));

        var left = await CliHarness.RunAsync(configuration, new FixedTime(Now), "deliveries", "list", "--json");
        Assert.That(Keys(left, out _), Is.EqualTo(new[] { "warehouse/order.paid/cs_purge_new" }));

        var again = await CliHarness.RunAsync(configuration, new FixedTime(Now), "store", "purge");
        Assert.That(again.ExitCode, Is.Zero, again.ToString());
        Assert.That(again.Output, Does.Contain("deliveries").And.Contain("Store:KeyRetentionDays (45)"));
    }
}
