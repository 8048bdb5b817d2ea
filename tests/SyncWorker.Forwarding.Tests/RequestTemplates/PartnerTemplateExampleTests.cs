using System.Text.Json;
using Microsoft.Extensions.Options;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.RequestTemplates;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Forwarding.Tests.Targets;

namespace SyncWorker.Forwarding.Tests.RequestTemplates;

/// <summary>
/// The worked examples in <c>deploy/templates</c>: each renders the example order into a body that has every field the
/// partner documents as required, with a value.
/// </summary>
[TestFixture]
public sealed class PartnerTemplateExampleTests
{
    /// <summary>
    /// ShipStation v1 Create/Update Order, https://www.shipstation.com/docs/api/orders/create-update-order/ :
    /// orderNumber, orderDate, orderStatus, billTo and shipTo are required.
    /// </summary>
    private static readonly string[] ShipStationRequired = ["orderNumber", "orderDate", "orderStatus", "billTo", "shipTo"];

    /// <summary>
    /// ShipBob Create Order, https://developer.shipbob.com/guides/orders : shipping method, recipient name, recipient
    /// address (address1, city, country), reference id, products (each with reference_id, name and quantity in the
    /// reference-id model).
    /// </summary>
    private static readonly string[] ShipBobRequired =
    [
        "shipping_method", "recipient.name", "recipient.address.address1", "recipient.address.city", "recipient.address.country",
        "reference_id", "products",
    ];

    [Test]
    public void The_ShipStation_example_renders_the_example_order_with_every_required_field()
    {
        var body = Render("shipstation-createorder.liquid");

        AssertRequired(body, ShipStationRequired);
        Assert.Multiple(() =>
        {
            Assert.That(body.GetProperty("orderNumber").GetString(), Is.EqualTo("ORD-10042"), "the merchant's own order id from metadata");
            Assert.That(body.GetProperty("orderKey").GetString(), Is.EqualTo("cs_live_a1Qx7ExampleSessionIdForDocsOnly000000000000000000000000"));
            Assert.That(body.GetProperty("orderStatus").GetString(), Is.EqualTo("awaiting_shipment"));
            Assert.That(body.GetProperty("shipTo").GetProperty("street1").GetString(), Is.EqualTo("1234 Main Street"));
            Assert.That(body.GetProperty("items")[0].GetProperty("quantity").GetInt32(), Is.EqualTo(3));
            Assert.That(body.GetProperty("items")[0].GetProperty("unitPrice").GetDecimal(), Is.EqualTo(15m), "1500 cents is 15.00");
            Assert.That(body.GetProperty("amountPaid").GetDecimal(), Is.EqualTo(50m));
        });
    }

    [Test]
    public void The_ShipBob_example_renders_the_example_order_with_every_required_field()
    {
        var body = Render("shipbob-create-order.liquid");

        AssertRequired(body, ShipBobRequired);
        var product = body.GetProperty("products")[0];
        Assert.Multiple(() =>
        {
            Assert.That(body.GetProperty("products").GetArrayLength(), Is.EqualTo(1));
            Assert.That(product.GetProperty("reference_id").GetString(), Is.EqualTo("price_1Qx7ExamplePrice02"));
            Assert.That(product.GetProperty("name").GetString(), Is.EqualTo("T-shirt (M, navy)"));
            Assert.That(product.GetProperty("quantity").GetInt32(), Is.EqualTo(3));
            Assert.That(body.GetProperty("recipient").GetProperty("name").GetString(), Is.EqualTo("Jenny Rosen"));
            Assert.That(body.GetProperty("recipient").GetProperty("address").GetProperty("country").GetString(), Is.EqualTo("US"));
        });
    }

    private static JsonElement Render(string file)
    {
        var target = new TargetOptions
        {
            Name = "partner",
            Url = "https://partner.example.com/orders",
            Mode = "live",
            Events = ["checkout.session.completed"],
            SigningSecret = TargetTestData.SigningSecret,
            TemplatePath = file,
        };
        var builder = new TargetRequestBuilder(Options.Create(new TargetTemplatesOptions { Directory = Path.Combine(TargetTestData.RepoRoot, "deploy", "templates") }));
        var request = builder.Build(target, new TargetDelivery("msg_1", "msg_1", ExampleOrder.OrderDocument, "order cs_example (order.paid)"));
        return JsonDocument.Parse(request.Body).RootElement.Clone();
    }

    private static void AssertRequired(JsonElement body, IEnumerable<string> paths)
    {
        Assert.Multiple(() =>
        {
            foreach (var path in paths)
            {
                var value = body;
                foreach (var part in path.Split('.'))
                {
                    Assert.That(value.TryGetProperty(part, out value), Is.True, $"{path} is present");
                }

                Assert.That(value.ValueKind, Is.Not.EqualTo(JsonValueKind.Null), $"{path} has a value");
                Assert.That(value.ValueKind == JsonValueKind.String ? value.GetString() : "x", Is.Not.Empty, $"{path} is not empty");
                Assert.That(value.ValueKind == JsonValueKind.Array ? value.GetArrayLength() : 1, Is.GreaterThan(0), $"{path} is not empty");
            }
        });
    }
}
