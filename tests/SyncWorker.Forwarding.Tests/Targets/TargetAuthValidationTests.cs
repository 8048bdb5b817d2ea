using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Options;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Forwarding.Targets;

namespace SyncWorker.Forwarding.Tests.Targets;

/// <summary><c>Fulfillment:Targets:N:Auth:*</c> at start: each message names the key and the fix, never a secret.</summary>
[TestFixture]
public sealed class TargetAuthValidationTests
{
    private const string TargetUrl = "https://fulfillment.example.com/webhooks/orders";
    private const string TokenUrl = "https://auth.example.com/oauth2/token";
    private const string Secret = "client-secret-never-shown-81fd";

    [Test]
    public void The_Auth_keys_bind_from_configuration()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Fulfillment:Targets:0:Name"] = "warehouse",
            ["Fulfillment:Targets:0:Auth:Type"] = "OAuth2ClientCredentials",
            ["Fulfillment:Targets:0:Auth:TokenUrl"] = TokenUrl,
            ["Fulfillment:Targets:0:Auth:ClientId"] = "client",
            ["Fulfillment:Targets:0:Auth:ClientSecret"] = Secret,
            ["Fulfillment:Targets:0:Auth:Scope"] = "orders",
            ["Fulfillment:Targets:0:Auth:ClientAuthentication"] = "Body",
            ["Fulfillment:Targets:1:Name"] = "plain",
        }).Build();

        var options = configuration.GetSection(FulfillmentOptions.Section).Get<FulfillmentOptions>()!;

        var auth = options.Targets[0].Auth;
        Assert.That((auth.Kind, auth.TokenUrl, auth.ClientId, auth.ClientSecret, auth.Scope, auth.ClientSecretInBody),
            Is.EqualTo(((string?)"OAuth2ClientCredentials", (string?)TokenUrl, (string?)"client", (string?)Secret, (string?)"orders", true)));
        Assert.That((options.Targets[1].Auth.Kind, options.Targets[1].Auth.IsEnabled), Is.EqualTo(((string?)"None", false)), "None by default");
    }

    [Test]
    public void Valid_auth_of_each_type_passes()
    {
        foreach (var auth in new[]
        {
            new TargetAuthOptions(),
            new TargetAuthOptions { Type = "Bearer", Token = "abc.DEF-123_~+/=" },
            new TargetAuthOptions { Type = "basic", Username = "syncworker", Password = "pass word" },
            OAuth2(),
        })
        {
            Assert.That(Errors(target => target.Auth = auth), Is.Empty, auth.Type);
        }
    }

    [Test]
    public void A_token_url_the_manifest_does_not_allow_is_refused_naming_the_key_and_the_fix()
    {
        var errors = Errors(target => target.Auth = OAuth2("https://elsewhere.example.net/token?client_secret=" + Secret), connectSrc: [TargetUrl, TokenUrl]);

        Assert.That(errors, Has.Length.EqualTo(1));
        Assert.That(errors[0], Does.StartWith("Fulfillment:Targets:0:Auth:TokenUrl https://elsewhere.example.net/token is not allowed by the manifest"));
        Assert.That(errors[0], Does.Contain("connect-src"));
        Assert.That(errors[0], Does.Not.Contain(Secret), "the URL is shown without its query");
    }

    [Test]
    public void An_http_token_url_of_a_live_target_is_refused_in_Production_unless_loopback()
    {
        const string plain = "http://auth.example.com/oauth2/token";
        const string loopback = "http://127.0.0.1:9000/oauth2/token";
        string[] connectSrc = [TargetUrl, plain, loopback];

        var production = Errors(target => target.Auth = OAuth2(plain), Environments.Production, connectSrc);
        Assert.That(production, Has.Length.EqualTo(1));
        Assert.That(production[0], Does.StartWith("Fulfillment:Targets:0:Auth:TokenUrl uses http://auth.example.com").And.Contain("Production").And.Contain("https://"));

        Assert.That(Errors(target => target.Auth = OAuth2(plain), Environments.Development, connectSrc), Is.Empty, "not outside Production");
        Assert.That(Errors(target => { target.Auth = OAuth2(plain); target.Mode = "test"; }, Environments.Production, connectSrc), Is.Empty, "not for a test target");
        Assert.That(Errors(target => target.Auth = OAuth2(loopback), Environments.Production, connectSrc), Is.Empty, "loopback is allowed");
    }

    [Test]
    public void Missing_fields_are_named_per_type()
    {
        Assert.That(Errors(target => target.Auth = new TargetAuthOptions { Type = "Bearer" }),
            Is.EqualTo(new[] { "Fulfillment:Targets:0:Auth:Token is required with Fulfillment:Targets:0:Auth:Type Bearer: the token the partner issued (sent as Authorization: Bearer <token>)." }));
        Assert.That(Errors(target => target.Auth = new TargetAuthOptions { Type = "Basic" }).Select(Key),
            Is.EqualTo(new[] { "Fulfillment:Targets:0:Auth:Username", "Fulfillment:Targets:0:Auth:Password" }));
        Assert.That(Errors(target => target.Auth = new TargetAuthOptions { Type = "OAuth2ClientCredentials" }).Select(Key),
            Is.EqualTo(new[] { "Fulfillment:Targets:0:Auth:TokenUrl", "Fulfillment:Targets:0:Auth:ClientId", "Fulfillment:Targets:0:Auth:ClientSecret" }));
        Assert.That(Errors(target => target.Auth = new TargetAuthOptions { Type = "ApiKey" }).Single(),
            Does.StartWith("Fulfillment:Targets:0:Auth:Type must be one of None, Bearer, Basic, OAuth2ClientCredentials (got 'ApiKey')"));
    }

    [Test]
    public void Fields_of_another_type_and_bad_values_are_refused_without_showing_a_secret()
    {
        var errors = Errors(target => target.Auth = new TargetAuthOptions { Type = "Bearer", Token = "has space " + Secret, ClientSecret = Secret, Username = "a:b" });

        Assert.That(errors.Select(Key), Is.EquivalentTo(new[]
        {
            "Fulfillment:Targets:0:Auth:Token", "Fulfillment:Targets:0:Auth:Username", "Fulfillment:Targets:0:Auth:ClientSecret",
        }));
        Assert.That(string.Join("\n", errors), Does.Not.Contain(Secret));
        Assert.That(Errors(target => target.Auth = new TargetAuthOptions { Token = Secret }).Single(),
            Does.StartWith("Fulfillment:Targets:0:Auth:Token is set, but Fulfillment:Targets:0:Auth:Type is None"));
    }

    [Test]
    public void Headers_may_not_set_Authorization_when_Auth_does()
    {
        var errors = Errors(target =>
        {
            target.Auth = new TargetAuthOptions { Type = "Bearer", Token = "token-1234" };
            target.Headers["authorization"] = "Bearer " + Secret;
        });

        Assert.That(errors.Single(), Does.StartWith("Fulfillment:Targets:0:Headers:Authorization cannot be configured while Fulfillment:Targets:0:Auth:Type is Bearer"));
        Assert.That(errors.Single(), Does.Not.Contain(Secret));
        Assert.That(Errors(target => target.Headers["Authorization"] = "Bearer " + Secret), Is.Empty, "with Auth None the header is sent as configured, as before");
    }

    private static TargetAuthOptions OAuth2(string tokenUrl = TokenUrl) => new()
    {
        Type = "OAuth2ClientCredentials",
        TokenUrl = tokenUrl,
        ClientId = "syncworker",
        ClientSecret = Secret,
        Scope = "orders:write",
    };

    private static string Key(string message) => message[..message.IndexOf(' ', StringComparison.Ordinal)];

    private static string[] Errors(Action<TargetOptions> change, string environment = "Development", string[]? connectSrc = null, string? signingSecret = null)
    {
        var target = new TargetOptions
        {
            Name = "warehouse",
            Url = TargetUrl,
            Mode = "live",
            Events = ["checkout.session.completed", "checkout.session.async_payment_succeeded"],
            Format = TargetOptions.EventFormat,
            SigningSecret = signingSecret ?? TargetTestData.SigningSecret,
        };
        change(target);
        var manifest = TargetTestData.Manifest(connectSrc ?? [TargetUrl, TokenUrl], "checkout_session_read");
        var validation = new FulfillmentOptionsValidation(
            manifest,
            new SyncWorker.Manifest.PermissionPolicy(manifest, SyncWorker.Manifest.EventPermissionTable.LoadEmbedded()),
            Options.Create(new StripeApiOptions()),
            new HostingEnvironment { EnvironmentName = environment });
        return validation.Validate(Options.DefaultName, new FulfillmentOptions { Targets = [target] }).Failures?.ToArray() ?? [];
    }
}
