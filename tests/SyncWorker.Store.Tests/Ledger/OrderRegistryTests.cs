using System.Text;
using Microsoft.Extensions.Time.Testing;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Store.Tests.Ledger;

[TestFixture(StoreProvider.Sqlite)]
[TestFixture(StoreProvider.Postgres)]
public sealed class OrderRegistryTests(StoreProvider provider)
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 10, 0, 0, TimeSpan.Zero));
    private SqlDeliveryLedger _store = null!;

    [SetUp]
    public async Task SetUpAsync()
    {
        var settings = await StoreDatabases.NewAsync(provider);
        await new StoreMigrator(settings).MigrateAsync(CancellationToken.None);
        _store = new SqlDeliveryLedger(settings, _time);
    }

    [TearDown]
    public void DisposeStore() => _store.Dispose();

    [Test]
    public async Task A_paid_order_is_found_by_its_id_and_by_its_payment_intent_with_its_document()
    {
        var document = Encoding.UTF8.GetBytes("""{"object":"syncworker.order","order_id":"cs_1","customer":{"name":"Zoë \"Z\" Ünal"}}""");
        await _store.RecordAsync(new OrderRecord("cs_1", "pi_1", "acct_1", Livemode: true, "evt_paid", document), CancellationToken.None);

        var byIntent = await _store.FindByPaymentIntentAsync("pi_1", CancellationToken.None);
        var byId = await _store.GetOrderAsync("cs_1", CancellationToken.None);

        Assert.That(byIntent, Is.Not.Null);
        Assert.That((byIntent!.OrderId, byIntent.PaymentIntent, byIntent.Account, byIntent.Livemode, byIntent.PaidEventId), Is.EqualTo(("cs_1", "pi_1", "acct_1", true, "evt_paid")));
        Assert.That(byIntent.Document, Is.EqualTo(document), "the document comes back byte for byte");
        Assert.That(byId!.OrderId, Is.EqualTo("cs_1"));
        Assert.That(await _store.FindByPaymentIntentAsync("pi_other", CancellationToken.None), Is.Null);
    }

    [Test]
    public async Task A_mapping_found_at_Stripe_first_is_completed_by_the_payment_later_and_the_first_document_is_kept()
    {
        await _store.RecordAsync(new OrderRecord("cs_1", "pi_1", "acct_1", Livemode: false), CancellationToken.None);
        Assert.That((await _store.GetOrderAsync("cs_1", CancellationToken.None))!.Document, Is.Null);

        await _store.RecordAsync(new OrderRecord("cs_1", "pi_1", "acct_1", false, "evt_paid", "{\"first\":1}"u8.ToArray()), CancellationToken.None);
        await _store.RecordAsync(new OrderRecord("cs_1", "pi_1", "acct_1", false, "evt_paid_again", "{\"second\":2}"u8.ToArray()), CancellationToken.None);

        var order = await _store.GetOrderAsync("cs_1", CancellationToken.None);
        Assert.That(Encoding.UTF8.GetString(order!.Document!), Is.EqualTo("{\"first\":1}"));
        Assert.That(order.PaidEventId, Is.EqualTo("evt_paid"));
    }

    [Test]
    public async Task A_refund_row_keeps_the_cumulative_amount_it_reported()
    {
        var key = DeliveryKey.ForOrder("wms", "cs_1", "order.refunded", "re_1");
        await _store.ClaimAsync(new DeliveryClaim(key, "evt_r1", "msg_r1", "acct_1", Progress: 2000), "forwarder-a", TimeSpan.FromMinutes(5), false, CancellationToken.None);
        // A later copy that does not know the amount (null) keeps what the row has.
        await _store.FinishAsync(key.Value, "forwarder-a", DeliveryState.Retrying, 503, "busy", attempts: [], CancellationToken.None);
        await _store.ClaimAsync(new DeliveryClaim(key, "evt_r1", "msg_r1", "acct_1"), "forwarder-b", TimeSpan.FromMinutes(5), false, CancellationToken.None);

        var rows = await _store.FindBySubjectAsync("cs_1", CancellationToken.None);
        Assert.That(rows.Single().Progress, Is.EqualTo(2000));
        Assert.That(rows.Single().ActionInstance, Is.EqualTo("re_1"));
    }
}
