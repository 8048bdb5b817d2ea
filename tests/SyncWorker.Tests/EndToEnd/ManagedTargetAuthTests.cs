using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using SyncWorker.Forwarding.Hosting;
using SyncWorker.Testing;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Tests.EndToEnd;

/// <summary>
/// A target's <c>auth</c> through the real admin API of a worker (SQLite store, RabbitMQ node): its secrets go in, are
/// sealed in the store, are never answered again (last four characters only), are kept by a <c>PUT</c> that leaves them
/// out, and are used for deliveries; invalid auth is a 400 naming the API's field.
/// </summary>
[NonParallelizable]
public sealed class ManagedTargetAuthTests
{
    private const string Completed = "checkout.session.completed.json";
    private const string WriteToken = "auth-write-token-0123456789abcdef";
    private const string ClientSecret = "oauth-client-secret-e2e-77c1a9d3";
    private const string AccessToken = "issued-access-token-e2e-5d2f";
    private const string BearerToken = "partner-bearer-token-e2e-a81c";
    private static readonly string EncryptionKey = Convert.ToBase64String(Enumerable.Range(7, 32).Select(i => (byte)i).ToArray());

    private RabbitMqNode _node = null!;
    private WireMockServer _partner = null!;
    private string _dataDirectory = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _node = await RabbitMqNode.LaunchAsync();

    [OneTimeTearDown]
    public async Task StopAsync() => await _node.DisposeAsync();

    [SetUp]
    public void StartPartner()
    {
        _partner = WireMockServer.Start();
        _partner.Given(Request.Create().WithPath("/oauth2/token").UsingPost()).RespondWith(Response.Create().WithStatusCode(200)
            .WithHeader("Content-Type", "application/json").WithBody($$"""{"access_token":"{{AccessToken}}","token_type":"Bearer","expires_in":3600}"""));
        _partner.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
        _dataDirectory = Path.Combine(Path.GetTempPath(), "syncworker-tests", "auth-" + Guid.NewGuid().ToString("N")[..12]);
    }

    [TearDown]
    public void StopPartner()
    {
        _partner.Stop();
        _partner.Dispose();
    }

    [Test]
    public async Task Auth_secrets_are_sealed_never_answered_kept_by_a_put_and_used_for_deliveries()
    {
        await using var worker = await StartWorkerAsync();
        var target = Target(new JsonObject
        {
            ["type"] = "OAuth2ClientCredentials",
            ["tokenUrl"] = _partner.Url + "/oauth2/token",
            ["clientId"] = "syncworker-e2e",
            ["clientSecret"] = ClientSecret,
            ["scope"] = "orders:write",
        });

        using (var created = await SendAsync(worker, HttpMethod.Post, "/admin/targets", target))
        {
            var text = await created.Content.ReadAsStringAsync();
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created), text);
            Assert.That(text, Does.Not.Contain(ClientSecret), "a secret given is not echoed");
            var auth = JsonNode.Parse(text)!["auth"]!;
            Assert.That(auth["type"]!.GetValue<string>(), Is.EqualTo("OAuth2ClientCredentials"));
            Assert.That(auth["clientSecretLast4"]!.GetValue<string>(), Is.EqualTo("…" + ClientSecret[^4..]));
            Assert.That(auth["clientId"]!.GetValue<string>(), Is.EqualTo("syncworker-e2e"));
            Assert.That(auth["clientAuthentication"]!.GetValue<string>(), Is.EqualTo("Basic"));
        }

        using (var shown = await SendAsync(worker, HttpMethod.Get, "/admin/targets/partner"))
        {
            var text = await shown.Content.ReadAsStringAsync();
            Assert.That(text, Does.Not.Contain(ClientSecret));
            Assert.That(JsonNode.Parse(text)!["auth"]!["clientSecretLast4"]!.GetValue<string>(), Is.EqualTo("…" + ClientSecret[^4..]));
        }

        var stored = await StoredRowAsync();
        Assert.That(stored, Does.Not.Contain(ClientSecret), "the store holds no secret in clear");
        Assert.That(stored, Does.Contain("oauth2/token").And.Contain("v1."), "the settings are stored, the secrets sealed");

        // A delivery carries the access token fetched with the stored client secret.
        Assert.That(await Eventually.TrueAsync(() => worker.Services.GetRequiredService<TargetEndpointSupervisor>().IsConsuming("partner"), TimeSpan.FromSeconds(30)), Is.True);
        using (var posted = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId())))
        {
            Assert.That(posted.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(() => Delivered().Length == 1, TimeSpan.FromSeconds(30)), Is.True, "the event reached the partner");
        Assert.That(Delivered()[0].RequestMessage.Headers!["Authorization"].Single(), Is.EqualTo("Bearer " + AccessToken));
        var tokenRequest = _partner.LogEntries.Single(e => e.RequestMessage.Path == "/oauth2/token").RequestMessage;
        Assert.That(tokenRequest.Headers!["Authorization"].Single(),
            Is.EqualTo("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("syncworker-e2e:" + ClientSecret))), "the sealed secret was opened for the token endpoint");

        // A PUT without the secret keeps it; a PUT to another type drops it.
        target["auth"]!.AsObject().Remove("clientSecret");
        target["auth"]!["scope"] = "orders:read";
        using (var kept = await SendAsync(worker, HttpMethod.Put, "/admin/targets/partner", target))
        {
            var text = await kept.Content.ReadAsStringAsync();
            Assert.That(kept.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
            Assert.That(JsonNode.Parse(text)!["auth"]!["clientSecretLast4"]!.GetValue<string>(), Is.EqualTo("…" + ClientSecret[^4..]));
            Assert.That(JsonNode.Parse(text)!["auth"]!["scope"]!.GetValue<string>(), Is.EqualTo("orders:read"));
        }

        target["auth"] = new JsonObject { ["type"] = "Bearer", ["token"] = BearerToken };
        using (var bearer = await SendAsync(worker, HttpMethod.Put, "/admin/targets/partner", target))
        {
            var text = await bearer.Content.ReadAsStringAsync();
            Assert.That(bearer.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
            Assert.That(text, Does.Not.Contain(BearerToken));
            var auth = JsonNode.Parse(text)!["auth"]!.AsObject();
            Assert.That(auth.Select(pair => pair.Key), Is.EquivalentTo(new[] { "type", "tokenLast4" }), "nothing of the OAuth2 settings is left");
            Assert.That(auth["tokenLast4"]!.GetValue<string>(), Is.EqualTo("…" + BearerToken[^4..]));
        }

        stored = await StoredRowAsync();
        Assert.That(stored, Does.Not.Contain(BearerToken).And.Not.Contain(ClientSecret).And.Not.Contain("oauth2/token"));
    }

    [Test]
    public async Task Invalid_auth_is_answered_400_naming_the_api_fields()
    {
        await using var worker = await StartWorkerAsync();

        var elsewhere = Target(new JsonObject
        {
            ["type"] = "OAuth2ClientCredentials",
            ["tokenUrl"] = "https://auth.elsewhere.example/oauth2/token",
            ["clientId"] = "syncworker-e2e",
        });
        using (var invalid = await SendAsync(worker, HttpMethod.Post, "/admin/targets", elsewhere))
        {
            Assert.That(invalid.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            var errors = JsonNode.Parse(await invalid.Content.ReadAsStringAsync())!["errors"]!.AsObject();
            Assert.That(errors.Select(e => e.Key), Is.EquivalentTo(new[] { "auth.tokenUrl", "auth.clientSecret" }));
            Assert.That(errors["auth.tokenUrl"]![0]!.GetValue<string>(), Does.StartWith("auth.tokenUrl https://auth.elsewhere.example/oauth2/token is not allowed").And.Contain("connect-src"));
            Assert.That(errors.ToJsonString(), Does.Not.Contain("Fulfillment:Targets"), "fields are named as the API names them");
        }

        var doubled = Target(new JsonObject { ["type"] = "Bearer", ["token"] = BearerToken });
        doubled["headers"] = new JsonObject { ["Authorization"] = "Bearer " + BearerToken };
        using (var invalid = await SendAsync(worker, HttpMethod.Post, "/admin/targets", doubled))
        {
            var text = await invalid.Content.ReadAsStringAsync();
            Assert.That(invalid.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(JsonNode.Parse(text)!["errors"]!.AsObject().Select(e => e.Key), Is.EquivalentTo(new[] { "headers.Authorization" }));
            Assert.That(text, Does.Not.Contain(BearerToken));
        }

        using (var unknown = await SendAsync(worker, HttpMethod.Post, "/admin/targets", Target(new JsonObject { ["type"] = "Bearer", ["tokn"] = "x" })))
        {
            Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(await unknown.Content.ReadAsStringAsync(), Does.Contain("tokn"));
        }
    }

    private JsonObject Target(JsonObject auth) => new()
    {
        ["name"] = "partner",
        ["url"] = _partner.Url + "/fulfillment/partner",
        ["events"] = new JsonArray("checkout.session.completed"),
        ["mode"] = "live",
        ["format"] = "event",
        ["allAccounts"] = true,
        ["auth"] = auth,
    };

    private WireMock.Logging.ILogEntry[] Delivered() =>
        _partner.LogEntries.Where(e => e.RequestMessage.Path.StartsWith("/fulfillment/", StringComparison.Ordinal)).ToArray();

    private async Task<WorkerHost> StartWorkerAsync() => await WorkerHost.StartAsync(new Dictionary<string, string?>
    {
        ["RabbitMq:Uri"] = _node.AmqpUri(await _node.CreateVirtualHostAsync()).ToString(),
        ["Store:DataDirectory"] = _dataDirectory,
        ["Store:EncryptionKey"] = EncryptionKey,
        ["Manifest:Path"] = TestManifest.WithConnectSrc(_partner.Url + "/fulfillment/", _partner.Url + "/oauth2/token"),
        ["Admin:Tokens:0:Token"] = WriteToken,
        ["Admin:Tokens:0:Scope"] = "write",
        ["Admin:Tokens:0:Name"] = "ops-write",
    });

    /// <summary>The target's row as the store holds it: the definition and the sealed secrets.</summary>
    private async Task<string> StoredRowAsync()
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(_dataDirectory, "syncworker.db")}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT definition || coalesce(secrets, '') FROM targets WHERE name = 'partner'";
        return (string)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<HttpResponseMessage> SendAsync(WorkerHost worker, HttpMethod method, string path, JsonObject? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", WriteToken);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }

        return await worker.Admin.SendAsync(request);
    }
}
