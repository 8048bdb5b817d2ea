using SyncWorker.Forwarding.Targets;

namespace SyncWorker.Forwarding.Tests.Targets;

[TestFixture]
public sealed class ConnectSrcPolicyTests
{
    private const string Folder = "https://a.example/hooks/";
    private const string Exact = "https://a.example/orders/incoming";

    private static ConnectSrcPolicy Policy(params string[] connectSrc) => new(TargetTestData.Manifest(connectSrc));

    private static bool Allows(string url, params string[] connectSrc) => Policy(connectSrc).Allows(new Uri(url));

    [Test]
    public void An_exact_entry_allows_that_url()
    {
        Assert.That(Allows(Exact, Folder, Exact), Is.True);
    }

    [TestCase("https://a.example/hooks/")]
    [TestCase("https://a.example/hooks/orders")]
    [TestCase("https://a.example/hooks/partner/v2/orders")]
    [TestCase("https://a.example/hooks/orders?tenant=eu")]
    [TestCase("https://a.example/hooks/partner/../orders")]
    public void A_folder_entry_allows_every_url_below_it(string url)
    {
        Assert.That(Allows(url, Folder), Is.True);
    }

    [TestCase("https://b.example/hooks/orders", TestName = "another host")]
    [TestCase("https://evil.a.example/hooks/orders", TestName = "a subdomain")]
    [TestCase("https://a.example.evil.test/hooks/orders", TestName = "a host that starts with the allowed one")]
    [TestCase("http://a.example/hooks/orders", TestName = "another scheme")]
    [TestCase("https://a.example:8443/hooks/orders", TestName = "another port")]
    [TestCase("https://a.example/admin", TestName = "another path")]
    [TestCase("https://a.example/hooks", TestName = "the folder without its slash")]
    [TestCase("https://a.example/hooksevil", TestName = "a sibling that shares the folder's prefix")]
    [TestCase("https://a.example/hooksevil/orders", TestName = "below a sibling that shares the folder's prefix")]
    [TestCase("https://a.example/HOOKS/orders", TestName = "the path in another case")]
    public void A_url_the_manifest_does_not_list_is_refused(string url)
    {
        Assert.That(Allows(url, Folder, Exact), Is.False);
    }

    [TestCase("https://a.example/hooks/../admin")]
    [TestCase("https://a.example/hooks/orders/../../admin")]
    [TestCase("https://a.example/hooks/%2e%2e/admin")]
    [TestCase("https://a.example/hooks/%2E%2E/admin")]
    [TestCase(@"https://a.example/hooks/..\admin")]
    public void Dot_segments_cannot_escape_a_folder(string url)
    {
        Assert.That(Allows(url, Folder), Is.False);
    }

    [TestCase("https://a.example/orders/incoming/")]
    [TestCase("https://a.example/orders/incoming/more")]
    [TestCase("https://a.example/orders/incoming-eu")]
    public void An_exact_entry_without_a_trailing_slash_allows_no_sub_path(string url)
    {
        Assert.That(Allows(url, Exact), Is.False);
    }

    [TestCase("HTTPS://A.EXAMPLE/hooks/orders", Folder)]
    [TestCase("https://a.example/hooks/orders", "https://A.Example/hooks/")]
    [TestCase("https://a.example:443/hooks/orders", Folder)]
    [TestCase("https://a.example/hooks/orders", "https://a.example:443/hooks/")]
    [TestCase("HTTPS://A.EXAMPLE:443/orders/incoming", Exact)]
    public void Scheme_host_and_default_port_are_compared_normalised(string url, string entry)
    {
        Assert.That(Allows(url, entry), Is.True);
    }

    [TestCase("https://user:secret@a.example/hooks/orders")]
    [TestCase("https://a.example@a.example/hooks/orders")]
    [TestCase("https://user@a.example/orders/incoming")]
    public void A_url_with_user_info_is_refused(string url)
    {
        Assert.That(Allows(url, Folder, Exact), Is.False);
    }

    [TestCase("https://a.example/hooks/orders")]
    [TestCase("http://localhost:9090/fulfillment/orders")]
    public void A_manifest_with_connect_src_null_refuses_everything(string url)
    {
        var policy = new ConnectSrcPolicy(TargetTestData.Manifest(connectSrc: null));

        Assert.That(policy.Allows(new Uri(url)), Is.False);
    }

    [Test]
    public void The_repository_manifest_allows_its_fulfillment_folder_and_nothing_beside_it()
    {
        var policy = new ConnectSrcPolicy(SyncWorker.Manifest.ManifestLoader.Load(TargetTestData.RepoManifestPath));

        Assert.That(policy.Allows(new Uri("https://fulfillment.example.com/webhooks/stripe-orders")), Is.True);
        Assert.That(policy.Allows(new Uri("http://localhost:9090/fulfillment/orders")), Is.True);
        Assert.That(policy.Allows(new Uri("https://fulfillment.example.com/admin")), Is.False);
        Assert.That(policy.Allows(new Uri("http://localhost:9091/fulfillment/orders")), Is.False);
    }
}
