using System.Text.Json;
using Microsoft.Extensions.Configuration;
using SyncWorker.Store;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Operations.Tests;

/// <summary><c>orders show</c> over a SQLite store seeded through the ledger, as forwarders fill it.</summary>
public sealed class OrderCommandTests
{
    private const string Session = "cs_live_orders_show_0001";
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "syncworker-orders-cli", Guid.NewGuid().ToString("N")[..8]);
    private IConfiguration _configuration = null!;

    private const string PaymentIntent = "pi_3Qx7OrderCommandTests";

    [OneTimeSetUp]
    public async Task SeedAsync()
    {
        _configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Store:DataDirectory"] = _folder }).Build();
        var settings = StoreSettings.Resolve(_configuration, AppContext.BaseDirectory);
        await new StoreMigrator(settings).MigrateAsync(CancellationToken.None);
        using var ledger = new SqlDeliveryLedger(settings, TimeProvider.System);
        var lease = TimeSpan.FromMinutes(5);

        var paid = new DeliveryClaim(DeliveryKey.ForOrder("warehouse", Session, "order.paid"), "evt_paid_1", "msg_warehouse_paid", "acct_1");
        await ledger.ClaimAsync(paid, "forwarder-a/1", lease, force: false, CancellationToken.None);
        await ledger.RecordAttemptAsync(paid.Key.Value, new DeliveryAttemptRecord(3, "forwarder-a/1", DateTimeOffset.UtcNow, TimeSpan.FromMilliseconds(850), "failed", 503, "Service Unavailable after 3 attempts"), CancellationToken.None);
        await ledger.FinishAsync(paid.Key.Value, "forwarder-a/1", DeliveryState.Retrying, 503, "Service Unavailable", attempts: [], CancellationToken.None);
        await ledger.ClaimAsync(paid, "forwarder-b/2", lease, force: false, CancellationToken.None);
        await ledger.RecordAttemptAsync(paid.Key.Value, new DeliveryAttemptRecord(1, "forwarder-b/2", DateTimeOffset.UtcNow, TimeSpan.FromMilliseconds(40), "delivered", 200, null), CancellationToken.None);
        await ledger.FinishAsync(paid.Key.Value, "forwarder-b/2", DeliveryState.Delivered, 200, null, attempts: [], CancellationToken.None);
        await ledger.ClaimAsync(paid with { EventId = "evt_paid_2" }, "forwarder-a/3", lease, force: false, CancellationToken.None);

        var erp = new DeliveryClaim(DeliveryKey.ForOrder("erp", Session, "order.paid"), "evt_paid_1", "msg_erp_paid", "acct_1");
        await ledger.ClaimAsync(erp, "forwarder-a/4", lease, force: false, CancellationToken.None);
        await ledger.RecordAsync(new OrderRecord(Session, PaymentIntent, "acct_1", Livemode: true, "evt_paid_1"), CancellationToken.None);
    }

    [OneTimeTearDown]
    public void Clean()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    [Test]
    public async Task Shows_each_target_and_action_with_its_state_repeats_and_attempts()
    {
        var run = await CliHarness.RunAsync(_configuration, "orders", "show", Session);

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        var lines = run.Output.Split('\n');
        Assert.That(lines.Single(l => l.Contains("warehouse", StringComparison.Ordinal) && l.Contains("msg_warehouse_paid", StringComparison.Ordinal)),
            Does.Contain("delivered").And.Contain("200").And.Contain("evt_paid_1"));
        Assert.That(lines.Single(l => l.Contains("msg_erp_paid", StringComparison.Ordinal)), Does.Contain("in_flight"));
        Assert.That(run.Output, Does.Contain("Service Unavailable after 3 attempts").And.Contain("forwarder-b/2"));
    }

    [Test]
    public async Task Json_has_every_row_with_its_attempt_history()
    {
        var run = await CliHarness.RunAsync(_configuration, "orders", "show", Session, "--json");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        using var document = JsonDocument.Parse(run.Output);
        var deliveries = document.RootElement.GetProperty("deliveries").EnumerateArray().ToList();
        Assert.That(deliveries.Select(d => d.GetProperty("key").GetString()), Is.EqualTo(new[] { $"erp/order.paid/{Session}", $"warehouse/order.paid/{Session}" }));
        var warehouse = deliveries[1];
        Assert.That(warehouse.GetProperty("state").GetString(), Is.EqualTo("delivered"));
        Assert.That(warehouse.GetProperty("repeatsSuppressed").GetInt32(), Is.EqualTo(1));
        Assert.That(warehouse.GetProperty("attemptHistory").EnumerateArray().Select(a => a.GetProperty("status").GetInt32()), Is.EqualTo(new[] { 503, 200 }));
    }

    [Test]
    public async Task An_order_the_ledger_does_not_know_exits_1_saying_why_it_may_be_missing()
    {
        var run = await CliHarness.RunAsync(_configuration, "orders", "show", "cs_live_never_seen");
        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error, Does.Contain("has no delivery of cs_live_never_seen").And.Contain("not forwarded yet"));
    }

    [Test]
    public async Task A_payment_intent_shows_the_order_paid_with_it()
    {
        var run = await CliHarness.RunAsync(_configuration, "orders", "show", PaymentIntent, "--json");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        using var document = JsonDocument.Parse(run.Output);
        Assert.That(document.RootElement.GetProperty("order").GetString(), Is.EqualTo(Session));
        Assert.That(document.RootElement.GetProperty("deliveries").GetArrayLength(), Is.EqualTo(2));
    }

    [Test]
    public async Task A_payment_intent_of_no_known_order_exits_1_saying_so()
    {
        var run = await CliHarness.RunAsync(_configuration, "orders", "show", "pi_never_seen");
        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error, Does.Contain("knows no order paid with pi_never_seen"));
    }

    [TestCase("order-42", "none of them")]
    [TestCase("ch_3Qx7", "payment intent id (pi_…)")]
    public async Task An_id_of_another_kind_is_a_usage_error(string id, string expected)
    {
        var run = await CliHarness.RunAsync(_configuration, "orders", "show", id);
        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Error, Does.Contain(expected));
    }
}
