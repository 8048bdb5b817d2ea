using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using WireMock;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Operations.Tests;

/// <summary><c>targets add|update --auth-*</c> against WireMock standing in for a worker's targets API: the <c>auth</c> they send and show.</summary>
[TestFixture]
public sealed class TargetAuthCommandTests
{
    private const string Token = "admin-token-0123456789abcdefXYZ";
    private const string ClientSecret = "oauth-client-secret-cli-3e9a";

    private WireMockServer _api = null!;

    [OneTimeSetUp]
    public void StartApi() => _api = WireMockServer.Start();

    [OneTimeTearDown]
    public void StopApi() => _api.Dispose();

    [SetUp]
    public void ResetApi() => _api.Reset();

    [Test]
    public async Task Add_sends_the_auth_options_as_the_api_names_them_and_prints_the_secret_by_its_last_four_only()
    {
        Answer("/admin/targets", "POST", 201, View("acme", new JsonObject
        {
            ["type"] = "OAuth2ClientCredentials",
            ["tokenUrl"] = "https://auth.example.com/oauth2/token",
            ["clientId"] = "syncworker",
            ["clientSecretLast4"] = "…" + ClientSecret[^4..],
            ["clientAuthentication"] = "Body",
        }));

        var run = await RunAsync(
            "targets", "add", "--name", "acme", "--url", "https://wms.example.com/hooks", "--mode", "live",
            "--event", "checkout.session.completed", "--all-accounts",
            "--auth-type", "oauth2-client-credentials", "--auth-token-url", "https://auth.example.com/oauth2/token",
            "--auth-client-id", "syncworker", "--auth-client-secret", ClientSecret, "--auth-scope", "orders:write",
            "--auth-client-authentication", "body");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        var body = JsonNode.Parse(SingleRequest().Body!)!;
        Assert.That(JsonNode.DeepEquals(body["auth"], JsonNode.Parse($$"""
            {
              "type": "OAuth2ClientCredentials",
              "tokenUrl": "https://auth.example.com/oauth2/token",
              "clientId": "syncworker",
              "clientSecret": "{{ClientSecret}}",
              "scope": "orders:write",
              "clientAuthentication": "Body"
            }
            """)), Is.True, body.ToJsonString());
        Assert.That(run.Output, Does.Contain("OAuth2ClientCredentials").And.Contain("clientSecretLast4 …" + ClientSecret[^4..]));
        Assert.That(run.Output + run.Error, Does.Not.Contain(ClientSecret).And.Not.Contain(Token));
    }

    [Test]
    public async Task Update_without_a_secret_sends_none_so_the_worker_keeps_the_stored_one()
    {
        Answer("/admin/targets/acme", "PUT", 200, View("acme", new JsonObject { ["type"] = "Bearer", ["tokenLast4"] = "…9f2c" }));

        var run = await RunAsync(
            "targets", "update", "acme", "--url", "https://wms.example.com/hooks", "--mode", "live",
            "--event", "checkout.session.completed", "--all-accounts", "--auth-type", "bearer");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(JsonNode.DeepEquals(JsonNode.Parse(SingleRequest().Body!)!["auth"], JsonNode.Parse("""{"type":"Bearer"}""")), Is.True);
        Assert.That(run.Output, Does.Contain("Bearer, tokenLast4 …9f2c"));
    }

    [Test]
    public async Task Auth_options_without_auth_type_or_beside_file_are_usage_errors()
    {
        var run = await RunAsync(
            "targets", "add", "--name", "acme", "--url", "https://wms.example.com/hooks", "--mode", "live",
            "--event", "checkout.session.completed", "--all-accounts", "--auth-token", "secret-token-value");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Error, Does.Contain("--auth-type"));
        Assert.That(run.Output + run.Error, Does.Not.Contain("secret-token-value"));

        var file = await RunAsync("targets", "add", "--file", "target.json", "--auth-type", "bearer");
        Assert.That(file.ExitCode, Is.EqualTo(2), file.ToString());
        Assert.That(_api.LogEntries, Is.Empty, "nothing was sent");
    }

    private Task<CliRun> RunAsync(params string[] args) =>
        CliHarness.RunAsync(
            new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Status:Workers:0"] = _api.Url, ["Admin:Token"] = Token }).Build(),
            args);

    private void Answer(string path, string method, int status, string body) =>
        _api.Given(Request.Create().WithPath(path).UsingMethod(method))
            .RespondWith(Response.Create().WithStatusCode(status).WithHeader("Content-Type", "application/json").WithBody(body));

    private IRequestMessage SingleRequest()
    {
        var entries = _api.LogEntries.ToList();
        Assert.That(entries, Has.Count.EqualTo(1), "one request");
        return entries[0].RequestMessage;
    }

    private static string View(string name, JsonObject auth) => new JsonObject
    {
        ["name"] = name,
        ["source"] = "api",
        ["state"] = "active",
        ["url"] = "https://wms.example.com/hooks",
        ["events"] = new JsonArray("checkout.session.completed"),
        ["mode"] = "live",
        ["format"] = "order",
        ["accounts"] = new JsonArray(),
        ["allAccounts"] = true,
        ["headers"] = new JsonObject(),
        ["signingSecretLast4"] = "…cdef",
        ["auth"] = auth,
        ["timeoutSeconds"] = 10,
        ["maxConcurrency"] = 4,
    }.ToJsonString();
}
