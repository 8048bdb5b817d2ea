using Microsoft.Extensions.Configuration;
using SyncWorker.Hosting;
using SyncWorker.Messaging;

namespace SyncWorker.Tests.Hosting;

/// <summary>Admin listener and token settings: read, checked with messages naming the key, and the scope rules.</summary>
public sealed class AdminSettingsTests
{
    private const string Reader = "read-token-for-tests-abcdefghijkl";
    private const string Writer = "write-token-for-tests-abcdefghijk";
    private static readonly string[] Webhook = ["http://*:8080"];

    [Test]
    public void No_token_means_no_admin_endpoints()
    {
        Assert.That(AdminSettings.Read(Configuration(new() { ["Admin:Urls"] = "http://127.0.0.1:9000" }), Webhook), Is.Null);
    }

    [Test]
    public void The_old_token_is_a_write_token_on_the_loopback_default()
    {
        var settings = AdminSettings.Read(Configuration(new() { ["Admin:Token"] = Writer }), Webhook)!;

        Assert.That(settings.Urls, Is.EqualTo(new[] { AdminSettings.DefaultUrls }));
        Assert.That(settings.Ports, Is.EquivalentTo(new[] { 8081 }));
        Assert.That(settings.Tokens, Is.EqualTo(new[] { ("Admin:Token", AdminScope.Write) }));
    }

    [Test]
    public void A_read_token_reads_and_is_forbidden_to_write_a_write_token_does_both_and_others_are_unauthenticated()
    {
        var settings = AdminSettings.Read(Configuration(new()
        {
            ["Admin:Tokens:0:Name"] = "dashboards", ["Admin:Tokens:0:Token"] = Reader, ["Admin:Tokens:0:Scope"] = "read",
            ["Admin:Tokens:1:Token"] = Writer, ["Admin:Tokens:1:Scope"] = "Write",
        }), Webhook)!;

        Assert.Multiple(() =>
        {
            Assert.That(settings.Authorize("Bearer " + Reader, AdminScope.Read, out var name), Is.EqualTo(AdminAccess.Granted));
            Assert.That(name, Is.EqualTo("dashboards"));
            Assert.That(settings.Authorize("Bearer " + Reader, AdminScope.Write, out name), Is.EqualTo(AdminAccess.Forbidden));
            Assert.That(name, Is.EqualTo("dashboards"));
            Assert.That(settings.Authorize("Bearer " + Writer, AdminScope.Write, out name), Is.EqualTo(AdminAccess.Granted));
            Assert.That(name, Is.EqualTo("Admin:Tokens:1"), "unnamed: named by its key");
            Assert.That(settings.Authorize("Bearer " + Writer, AdminScope.Read, out _), Is.EqualTo(AdminAccess.Granted));
            Assert.That(settings.Authorize("Bearer " + Reader + "x", AdminScope.Read, out name), Is.EqualTo(AdminAccess.Unauthenticated));
            Assert.That(name, Is.Null);
            Assert.That(settings.Authorize("Basic " + Writer, AdminScope.Read, out _), Is.EqualTo(AdminAccess.Unauthenticated));
            Assert.That(settings.Authorize(null, AdminScope.Read, out _), Is.EqualTo(AdminAccess.Unauthenticated));
        });
    }

    [TestCase("Admin:Tokens:0:Scope", "admin", "Admin:Tokens:0:Scope 'admin' is not a scope")]
    [TestCase("Admin:Tokens:0:Scope", null, "Admin:Tokens:0:Scope is not set")]
    [TestCase("Admin:Tokens:0:Token", "short", "Admin:Tokens:0:Token is set but shorter than 24 characters")]
    [TestCase("Admin:Tokens:0:Token", "has a space in it, twenty-four+", "Admin:Tokens:0:Token holds spaces")]
    [TestCase("Admin:Tokens:0:Token", null, "Admin:Tokens:0:Token is not set")]
    [TestCase("Admin:Urls", "http://127.0.0.1:8080", "uses port 8080, which the webhook listener")]
    [TestCase("Admin:Urls", "http://127.0.0.1:0", "has no fixed port")]
    [TestCase("Admin:Urls", "127.0.0.1", "is not an address to listen on")]
    [TestCase("Admin:Token", Reader, "are the same value")]
    public void A_bad_setting_is_refused_naming_the_key_and_the_fix(string key, string? value, string message)
    {
        var values = new Dictionary<string, string?> { ["Admin:Tokens:0:Token"] = Reader, ["Admin:Tokens:0:Scope"] = "read", [key] = value };

        var error = Assert.Throws<MessagingConfigurationException>(() => AdminSettings.Read(Configuration(values), Webhook));

        Assert.That(error!.Message, Does.Contain(message));
        Assert.That(error.Message, Does.Not.Contain(Reader), "a token never appears in a message");
    }

    [Test]
    public void The_webhook_addresses_come_from_urls_else_the_http_ports_else_the_default()
    {
        Assert.That(AdminSettings.WebhookUrls(WebHost().UseSetting("urls", "http://0.0.0.0:8080;http://[::]:8080")),
            Is.EqualTo(new[] { "http://0.0.0.0:8080", "http://[::]:8080" }));
        Assert.That(AdminSettings.WebhookUrls(WebHost().UseSetting("http_ports", "8080")), Is.EqualTo(new[] { "http://*:8080" }));
        Assert.That(AdminSettings.WebhookUrls(WebHost()), Is.EqualTo(new[] { "http://localhost:5000" }));
    }

    private static Microsoft.AspNetCore.Builder.ConfigureWebHostBuilder WebHost() => Microsoft.AspNetCore.Builder.WebApplication.CreateEmptyBuilder(new()).WebHost;

    private static IConfiguration Configuration(Dictionary<string, string?> values) => new ConfigurationBuilder().AddInMemoryCollection(values).Build();
}
