namespace SyncWorker.Manifest.Tests;

public class AppManifestTests
{
    [Test]
    public void Grants_is_true_only_for_listed_permissions_and_is_case_sensitive()
    {
        var manifest = ManifestJson.Parse(ManifestJson.WithPermissions("event_read", "invoice_read"));

        Assert.Multiple(() =>
        {
            Assert.That(manifest.Grants("event_read"), Is.True);
            Assert.That(manifest.Grants("invoice_read"), Is.True);
            Assert.That(manifest.Grants("invoice_write"), Is.False);
            Assert.That(manifest.Grants("EVENT_READ"), Is.False);
            Assert.That(manifest.Grants(""), Is.False);
        });
    }

    [Test]
    public void Permissions_keep_file_order_with_their_purposes()
    {
        var manifest = ManifestLoader.Load(RepoPaths.RepoManifest);

        Assert.That(
            manifest.Permissions.Select(p => p.Permission),
            Is.EqualTo(new[] { "event_read", "checkout_session_read", "charge_read", "dispute_read", "customer_read" }));
        Assert.That(manifest.Permissions[0].Purpose, Does.StartWith("Receive webhook events"));
    }

    [Test]
    public void ConnectSrc_is_empty_when_connect_src_is_null()
    {
        var manifest = ManifestLoader.Load(RepoPaths.FixtureManifest("dubinc_dub.stripe-app.json"));

        Assert.That(manifest.ConnectSrc, Is.Empty);
    }

    [Test]
    public void ConnectSrc_is_empty_when_there_is_no_ui_extension()
    {
        var json = ManifestJson.Valid();
        json.Remove("ui_extension");

        Assert.That(ManifestJson.Parse(json).ConnectSrc, Is.Empty);
    }

    [Test]
    public void ConnectSrc_lists_the_urls_in_file_order()
    {
        var manifest = ManifestLoader.Load(RepoPaths.FixtureManifest("stripe-apps_shippo-best-rate.stripe-app.json"));

        Assert.That(
            manifest.ConnectSrc,
            Is.EqualTo(new[] { "https://api.goshippo.com/shipments", "https://api.goshippo.com/transactions" }));
    }
}
