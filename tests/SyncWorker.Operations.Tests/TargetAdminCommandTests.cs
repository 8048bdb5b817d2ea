using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using SyncWorker.Testing;
using WireMock;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Operations.Tests;

/// <summary>
/// <c>targets add|update|remove|rotate-secret|show</c> against WireMock standing in for a worker's targets API
/// (<c>/admin/targets…</c>): what they send (method, path, JSON body, bearer token) and what they make of each answer.
/// </summary>
[TestFixture]
public sealed class TargetAdminCommandTests
{
    private const string Token = "admin-token-0123456789abcdefXYZ";
    private const string GeneratedSecret = "whsec_R2VuZXJhdGVkU2VjcmV0T25seU9uY2UxMjM0NTY=";
    private const string PartnerKey = "partner-api-key-7f3a9c2e5b";

    private WireMockServer _api = null!;

    [OneTimeSetUp]
    public void StartApi() => _api = WireMockServer.Start();

    [OneTimeTearDown]
    public void StopApi() => _api.Dispose();

    [SetUp]
    public void ResetApi() => _api.Reset();

    [Test]
    public async Task Add_posts_the_target_with_the_token_and_prints_the_generated_secret_once()
    {
        Answer("/admin/targets", "POST", 201, View("acme", signingSecret: GeneratedSecret));

        var run = await RunAsync(
            "targets", "add", "--name", "acme", "--url", "https://wms.example.com/hooks", "--mode", "live",
            "--event", "checkout.session.completed", "--event", "charge.refunded", "--format", "order",
            "--account", "acct_1Qx7ExampleMrch01", "--account", "acct_1Qx7ExampleMrch02",
            "--header", $"X-Api-Key={PartnerKey}", "--max-concurrency", "2", "--timeout-seconds", "15", "--worker", _api.Url!);

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        var request = SingleRequest();
        Assert.That(request.Method, Is.EqualTo("POST"));
        Assert.That(request.Path, Is.EqualTo("/admin/targets"));
        Assert.That(Header(request, "Authorization"), Is.EqualTo("Bearer " + Token));
        Assert.That(Header(request, "Content-Type"), Does.StartWith("application/json"));
        Assert.That(JsonNode.DeepEquals(JsonNode.Parse(request.Body!), JsonNode.Parse($$"""
            {
              "name": "acme",
              "url": "https://wms.example.com/hooks",
              "events": ["checkout.session.completed", "charge.refunded"],
              "mode": "live",
              "format": "order",
              "accounts": ["acct_1Qx7ExampleMrch01", "acct_1Qx7ExampleMrch02"],
              "headers": { "X-Api-Key": "{{PartnerKey}}" },
              "maxConcurrency": 2,
              "timeoutSeconds": 15
            }
            """)), Is.True, request.Body);

        Assert.That(run.Output, Does.Contain("Created target 'acme'"));
        Assert.That(run.Output, Does.Contain("X-Api-Key: …2e5b").And.Contain("acct_1Qx7ExampleMrch01, acct_1Qx7ExampleMrch02"));
        Assert.That(run.Output, Does.Contain($"Signing secret (generated): {GeneratedSecret}"));
        Assert.That(run.Output, Does.Contain("It will not be shown again"));
        Assert.That(Occurrences(run.Output + run.Error, GeneratedSecret), Is.EqualTo(1), "printed once");
        AssertNoSecrets(run, PartnerKey);
    }

    [Test]
    public async Task Add_from_a_file_sends_it_as_it_is_and_json_writes_the_answer()
    {
        Answer("/admin/targets", "POST", 201, View("every", allAccounts: true, signingSecret: GeneratedSecret));
        var file = Path.Combine(Path.GetTempPath(), $"target-{Guid.NewGuid():N}.json");
        var text = """{"name":"every","url":"https://all.example.com/hooks","events":["checkout.session.completed"],"mode":"test","allAccounts":true,"retry":{"maxAttempts":2}}""";
        await File.WriteAllTextAsync(file, text);
        try
        {
            var run = await RunAsync("targets", "add", "--file", file, "--json", "--worker", _api.Url!);

            Assert.That(run.ExitCode, Is.Zero, run.ToString());
            Assert.That(SingleRequest().Body, Is.EqualTo(text));
            var printed = JsonNode.Parse(run.Output)!;
            Assert.That(printed["name"]!.GetValue<string>(), Is.EqualTo("every"));
            Assert.That(printed["signingSecret"]!.GetValue<string>(), Is.EqualTo(GeneratedSecret));
            Assert.That(run.Error, Does.Contain("will not be shown again"));
            AssertNoSecrets(run);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public async Task Add_with_all_accounts_sends_allAccounts_and_only_fields_of_the_APIs_document()
    {
        Answer("/admin/targets", "POST", 201, View("every", allAccounts: true));

        var run = await RunAsync(
            "targets", "add", "--name", "every", "--url", "https://all.example.com/hooks", "--mode", "test",
            "--event", "checkout.session.completed", "--all-accounts", "--signing-secret", "whsec_Z2l2ZW5TZWNyZXQxMjM0NTY3ODkwMTIzNDU2",
            "--worker", _api.Url!);

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        var body = JsonNode.Parse(SingleRequest().Body!)!.AsObject();
        Assert.That(body["allAccounts"]!.GetValue<bool>(), Is.True);
        Assert.That(body.ContainsKey("accounts"), Is.False);
        Assert.That(body["signingSecret"]!.GetValue<string>(), Is.EqualTo("whsec_Z2l2ZW5TZWNyZXQxMjM0NTY3ODkwMTIzNDU2"));
        Assert.That(run.Output, Does.Contain("every account").And.Not.Contain("will not be shown again"));

        // The names the CLI sends are those of the served (checked-in) OpenAPI document's TargetDocument.
        var openApi = JsonNode.Parse(await File.ReadAllTextAsync(RepositoryFile("docs/admin-openapi.json")))!;
        var fields = openApi["components"]!["schemas"]!["TargetDocument"]!["properties"]!.AsObject().Select(p => p.Key).ToList();
        Assert.That(body.Select(p => p.Key), Is.SubsetOf(fields));
    }

    [Test]
    public async Task A_validation_problem_prints_its_detail_and_each_field_and_exits_1()
    {
        Answer("/admin/targets", "POST", 400, """
            {"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1","title":"The target is not valid","status":400,
             "detail":"The target is not valid: see errors.",
             "errors":{"url":["url https://nope.example.com/ is not allowed by the manifest's connect-src: add it there."],
                       "events[0]":["events[0] 'customer.created' is not permitted by the manifest."]}}
            """);

        var run = await RunAsync(
            "targets", "add", "--name", "acme", "--url", "https://nope.example.com/", "--mode", "live",
            "--event", "customer.created", "--account", "acct_1", "--header", $"X-Api-Key={PartnerKey}", "--worker", _api.Url!);

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error, Does.Contain("The target is not valid: see errors. (400 from"));
        Assert.That(run.Error, Does.Contain("  url: url https://nope.example.com/ is not allowed by the manifest's connect-src: add it there."));
        Assert.That(run.Error, Does.Contain("  events[0]: events[0] 'customer.created' is not permitted by the manifest."));
        Assert.That(run.Output, Is.Empty);
        AssertNoSecrets(run, PartnerKey);
    }

    [Test]
    public async Task A_refused_token_exits_78_naming_Admin_Token_and_a_read_token_the_scope()
    {
        _api.Given(Request.Create().WithPath("/admin/targets").UsingPost())
            .RespondWith(Response.Create().WithStatusCode(401).WithHeader("WWW-Authenticate", "Bearer"));
        var unauthorized = await RunAsync(AddArgs());
        Assert.That(unauthorized.ExitCode, Is.EqualTo(78), unauthorized.ToString());
        Assert.That(unauthorized.Error, Does.Contain("refused Admin:Token (401)").And.Contain("Admin__Token").And.Contain("Scope write"));
        AssertNoSecrets(unauthorized);

        _api.Reset();
        Answer("/admin/targets", "POST", 403, """{"status":403,"detail":"The token 'ops-read' may read only; this needs a token with Scope write."}""");
        var forbidden = await RunAsync(AddArgs());
        Assert.That(forbidden.ExitCode, Is.EqualTo(78), forbidden.ToString());
        Assert.That(forbidden.Error, Does.Contain("for reading only (403): targets add needs a token with Scope write").And.Contain("Admin:Token"));
        AssertNoSecrets(forbidden);
    }

    [Test]
    public async Task A_conflict_prints_the_detail_and_exits_1()
    {
        Answer("/admin/targets", "POST", 409, """{"status":409,"detail":"A target named 'acme' exists: change it with PUT /admin/targets/acme, or choose another name."}""");

        var run = await RunAsync(AddArgs());

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error, Does.Contain("A target named 'acme' exists"));
    }

    [Test]
    public async Task Update_puts_the_whole_target_keeping_the_secret_and_a_header_given_by_name_only()
    {
        Answer("/admin/targets/acme", "PUT", 200, View("acme"));

        var run = await RunAsync(
            "targets", "update", "acme", "--url", "https://wms2.example.com/hooks", "--mode", "live",
            "--event", "checkout.session.completed", "--account", "acct_1Qx7ExampleMrch01", "--header", "X-Api-Key",
            "--header", "X-Tenant=north", "--worker", _api.Url!);

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        var request = SingleRequest();
        Assert.That(request.Method, Is.EqualTo("PUT"));
        Assert.That(Header(request, "Authorization"), Is.EqualTo("Bearer " + Token));
        var body = JsonNode.Parse(request.Body!)!.AsObject();
        Assert.That(body["name"]!.GetValue<string>(), Is.EqualTo("acme"));
        Assert.That(body["url"]!.GetValue<string>(), Is.EqualTo("https://wms2.example.com/hooks"));
        Assert.That(body.ContainsKey("signingSecret"), Is.False, "left out: the worker keeps the current one");
        var headers = body["headers"]!.AsObject();
        Assert.That(headers.ContainsKey("X-Api-Key") && headers["X-Api-Key"] is null, Is.True, "null: the worker keeps its value");
        Assert.That(headers["X-Tenant"]!.GetValue<string>(), Is.EqualTo("north"));
        Assert.That(run.Output, Does.Contain("Updated target 'acme'").And.Not.Contain("Signing secret (generated)"));
        AssertNoSecrets(run);
    }

    [Test]
    public async Task Remove_says_removed_draining_or_the_count_and_both_options()
    {
        Answer("/admin/targets/acme", "DELETE", 204, null);
        var removed = await RunAsync("targets", "remove", "acme", "--worker", _api.Url!);
        Assert.That(removed.ExitCode, Is.Zero, removed.ToString());
        Assert.That(removed.Output, Does.Contain("Removed target 'acme'"));
        Assert.That(SingleRequest().Url, Does.EndWith("/admin/targets/acme"));

        _api.Reset();
        _api.Given(Request.Create().WithPath("/admin/targets/acme").UsingDelete().WithParam("drain", "true"))
            .RespondWith(Response.Create().WithStatusCode(202).WithHeader("Content-Type", "application/json")
                .WithBody(View("acme", state: "draining").Replace("\"state\":\"draining\"", "\"state\":\"draining\",\"queued\":7", StringComparison.Ordinal)));
        var draining = await RunAsync("targets", "remove", "acme", "--drain", "--worker", _api.Url!);
        Assert.That(draining.ExitCode, Is.Zero, draining.ToString());
        Assert.That(draining.Output, Does.Contain("Target 'acme' is draining").And.Contain("(7 deliveries then)"));

        _api.Reset();
        _api.Given(Request.Create().WithPath("/admin/targets/acme").UsingDelete().WithParam("discard", "true"))
            .RespondWith(Response.Create().WithStatusCode(202).WithHeader("Content-Type", "application/json").WithBody(View("acme", state: "discarding")));
        var discarding = await RunAsync("targets", "remove", "acme", "--discard", "--worker", _api.Url!);
        Assert.That(discarding.ExitCode, Is.Zero, discarding.ToString());
        Assert.That(discarding.Output, Does.Contain("Target 'acme' is discarding").And.Contain("recorded in the delivery ledger as discarded"));

        _api.Reset();
        Answer("/admin/targets/acme", "DELETE", 409, """
            {"status":409,"detail":"Target 'acme' still has 12 deliveries queued or waiting for a redelivery: remove it with ?drain=true (deliver them first) or ?discard=true (record each as discarded).","queued":12}
            """);
        var refused = await RunAsync("targets", "remove", "acme", "--worker", _api.Url!);
        Assert.That(refused.ExitCode, Is.EqualTo(1), refused.ToString());
        Assert.That(refused.Error, Does.Contain("Target 'acme' still has 12 deliveries queued"));
        Assert.That(refused.Error, Does.Contain("12 deliveries are queued or waiting; nothing was removed"));
        Assert.That(refused.Error, Does.Contain("targets remove acme --drain").And.Contain("targets remove acme --discard"));
        Assert.That(SingleRequest().Query, Is.Null.Or.Empty, "neither drain nor discard without the options");
        AssertNoSecrets(refused);
    }

    [Test]
    public async Task Rotate_secret_posts_the_overlap_and_prints_the_new_secret_once_and_until_when_both_sign()
    {
        Answer("/admin/targets/acme/rotate-secret", "POST", 200, View("acme", signingSecret: GeneratedSecret, previousUntil: "2026-11-22T10:00:00+00:00"));

        var run = await RunAsync("targets", "rotate-secret", "acme", "--overlap-hours", "48", "--worker", _api.Url!);

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        var request = SingleRequest();
        Assert.That(request.Method, Is.EqualTo("POST"));
        Assert.That(Header(request, "Authorization"), Is.EqualTo("Bearer " + Token));
        Assert.That(JsonNode.DeepEquals(JsonNode.Parse(request.Body!), JsonNode.Parse("""{"overlapHours":48}""")), Is.True, request.Body);
        Assert.That(run.Output, Does.Contain($"New signing secret of target 'acme' (generated): {GeneratedSecret}"));
        Assert.That(run.Output, Does.Contain("It will not be shown again"));
        Assert.That(run.Output, Does.Contain("Until 2026-11-22 10:00:00Z each request carries the signatures of both the previous and the new secret"));
        Assert.That(Occurrences(run.Output + run.Error, GeneratedSecret), Is.EqualTo(1));
        AssertNoSecrets(run);
    }

    [Test]
    public async Task Show_gets_the_target_with_masked_secrets_and_a_missing_one_exits_1()
    {
        Answer("/admin/targets/acme", "GET", 200, View("acme"));
        var run = await RunAsync("targets", "show", "acme", "--worker", _api.Url!);
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(SingleRequest().Method, Is.EqualTo("GET"));
        Assert.That(run.Output, Does.Contain("Target 'acme'").And.Contain("https://wms.example.com/hooks").And.Contain("…cdef"));

        _api.Reset();
        Answer("/admin/targets/gone", "GET", 404, """{"status":404,"detail":"No target is named 'gone': GET /admin/targets lists them."}""");
        var missing = await RunAsync("targets", "show", "gone", "--worker", _api.Url!);
        Assert.That(missing.ExitCode, Is.EqualTo(1), missing.ToString());
        Assert.That(missing.Error, Does.Contain("No target is named 'gone'"));
    }

    [Test]
    public async Task A_404_without_a_problem_says_it_is_not_the_admin_address()
    {
        // WireMock answers an unmapped request 404 without a problem, as the webhook listener does for /admin/ paths.
        var run = await RunAsync("targets", "show", "acme", "--worker", _api.Url!);

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error, Does.Contain("has no targets API (404)").And.Contain("Admin:Urls"));
    }

    [Test]
    public async Task Usage_errors_exit_2_before_any_request()
    {
        var missing = await RunAsync("targets", "add", "--name", "acme", "--url", "https://wms.example.com/hooks", "--worker", _api.Url!);
        Assert.That(missing.ExitCode, Is.EqualTo(2), missing.ToString());
        Assert.That(missing.Error, Does.Contain("--mode live|test").And.Contain("--event").And.Contain("--all-accounts"));

        var both = await RunAsync([.. AddArgs(), "--all-accounts"]);
        Assert.That(both.ExitCode, Is.EqualTo(2), both.ToString());
        Assert.That(both.Error, Does.Contain("not both"));

        var valueless = await RunAsync([.. AddArgs(), "--header", "X-Api-Key"]);
        Assert.That(valueless.ExitCode, Is.EqualTo(2), valueless.ToString());
        Assert.That(valueless.Error, Does.Contain("--header 'X-Api-Key' has no value"));

        var mode = await RunAsync("targets", "add", "--name", "acme", "--url", "https://x.example.com", "--mode", "sandbox",
            "--event", "checkout.session.completed", "--all-accounts", "--worker", _api.Url!);
        Assert.That(mode.ExitCode, Is.EqualTo(2), mode.ToString());

        var fileAndOptions = await RunAsync("targets", "add", "--file", "target.json", "--url", "https://x.example.com", "--worker", _api.Url!);
        Assert.That(fileAndOptions.ExitCode, Is.EqualTo(2), fileAndOptions.ToString());
        Assert.That(fileAndOptions.Error, Does.Contain("--file takes the whole target"));

        var drainAndDiscard = await RunAsync("targets", "remove", "acme", "--drain", "--discard", "--worker", _api.Url!);
        Assert.That(drainAndDiscard.ExitCode, Is.EqualTo(2), drainAndDiscard.ToString());

        var worker = await RunAsync("targets", "show", "acme", "--worker", "ftp://10.0.0.5");
        Assert.That(worker.ExitCode, Is.EqualTo(2), worker.ToString());

        Assert.That(_api.LogEntries, Is.Empty);
    }

    [Test]
    public async Task Without_Admin_Token_it_exits_78_naming_the_key_and_sends_nothing()
    {
        var run = await CliHarness.RunAsync(new ConfigurationBuilder().Build(), AddArgs());

        Assert.That(run.ExitCode, Is.EqualTo(78), run.ToString());
        Assert.That(run.Error, Does.Contain("Admin:Token is not set").And.Contain("Admin__Token").And.Contain("Scope write"));
        Assert.That(_api.LogEntries, Is.Empty);
    }

    [Test]
    public async Task Without_Admin_Token_it_uses_the_first_write_token_of_Admin_Tokens()
    {
        const string readToken = "ops-read-token-for-the-cli-0000001";
        const string writeToken = "ops-write-token-for-the-cli-000002";
        Answer("/admin/targets/acme", "GET", 404, """{"title":"Not Found","status":404,"detail":"No target named 'acme'."}""");
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Status:Workers:0"] = _api.Url!,
            ["Admin:Tokens:0:Token"] = readToken,
            ["Admin:Tokens:0:Scope"] = "read",
            ["Admin:Tokens:1:Token"] = writeToken,
            ["Admin:Tokens:1:Scope"] = "write",
        }).Build();

        var run = await CliHarness.RunAsync(configuration, "targets", "show", "acme");

        Assert.That(_api.LogEntries.Select(e => e.RequestMessage.Headers!["Authorization"].Single()), Is.EqualTo(new[] { "Bearer " + writeToken }), run.ToString());
        Assert.That(run.Output + run.Error, Does.Not.Contain(writeToken).And.Not.Contain(readToken));
    }

    [Test]
    public async Task An_unreachable_worker_exits_1_naming_it_and_where_its_address_came_from()
    {
        var port = LoopbackPorts.Free();
        var configuration = Configuration(("Admin:Urls", $"http://0.0.0.0:{port}"));

        var run = await CliHarness.RunAsync(configuration, "targets", "remove", "acme");

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error, Does.Contain($"Could not reach the worker's admin API at http://127.0.0.1:{port} (Admin:Urls)").And.Contain("--worker"));
        AssertNoSecrets(run);
    }

    [Test]
    public async Task Without_worker_the_first_Status_Workers_entry_is_called()
    {
        Answer("/admin/targets/acme", "GET", 200, View("acme"));
        var configuration = Configuration(("Status:Workers:0", _api.Url!), ("Status:Workers:1", "http://10.255.255.1:8081"), ("Admin:Urls", "http://127.0.0.1:1"));

        var run = await CliHarness.RunAsync(configuration, "targets", "show", "acme");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(_api.LogEntries, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Help_lists_the_new_verbs_and_says_what_update_keeps()
    {
        var targets = await RunAsync("targets", "--help");
        Assert.That(targets.ExitCode, Is.Zero, targets.ToString());
        Assert.That(targets.Output, Does.Contain("add").And.Contain("update").And.Contain("remove").And.Contain("rotate-secret").And.Contain("show").And.Contain("list"));

        var update = await RunAsync("targets", "update", "--help");
        Assert.That(update.ExitCode, Is.Zero, update.ToString());
        Assert.That(update.Output, Does.Contain("signing secret left out keeps the current one"));
    }

    private static string[] AddArgs() =>
        ["targets", "add", "--name", "acme", "--url", "https://wms.example.com/hooks", "--mode", "live",
         "--event", "checkout.session.completed", "--account", "acct_1Qx7ExampleMrch01"];

    [Test]
    public async Task Preview_of_a_target_the_file_here_does_not_list_is_built_by_the_worker()
    {
        Answer("/admin/targets/acme/preview", "POST", 200, """
            {
              "note": "input: the order document mapped from the event, without line items (a preview does not call Stripe)",
              "method": "PATCH",
              "url": "https://wms.example.com/hooks/orders/ORD-10042",
              "headers": [
                { "name": "webhook-id", "value": "msg_0123" },
                { "name": "webhook-signature", "value": "…Zx9=" },
                { "name": "X-Api-Key", "value": "…2e5b" },
                { "name": "Content-Type", "value": "application/json; charset=utf-8" }
              ],
              "body": "{\"reference\": \"ORD-10042\"}"
            }
            """);
        var file = Path.Combine(Path.GetTempPath(), $"event-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, """{"id":"evt_1","object":"event","type":"checkout.session.completed","data":{"object":{"object":"checkout.session"}}}""");
        try
        {
            var run = await RunAsync("targets", "preview", "acme", "--event", file);

            Assert.That(run.ExitCode, Is.Zero, run.ToString());
            var request = SingleRequest();
            Assert.That((request.Method, request.Path), Is.EqualTo(("POST", "/admin/targets/acme/preview")));
            Assert.That(Header(request, "Authorization"), Is.EqualTo("Bearer " + Token));
            Assert.That(request.Body, Does.Contain("\"evt_1\""), "the file, sent as it is");
            Assert.That(run.Output.Split('\n'), Is.EqualTo(new[]
            {
                "PATCH https://wms.example.com/hooks/orders/ORD-10042",
                "webhook-id: msg_0123",
                "webhook-signature: …Zx9=",
                "X-Api-Key: …2e5b",
                "Content-Type: application/json; charset=utf-8",
                "",
                "{\"reference\": \"ORD-10042\"}",
                "",
            }));
            Assert.That(run.Error, Does.Contain("built by the worker at").And.Contain("without line items").And.Contain("not sent"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public async Task Preview_of_a_target_neither_here_nor_on_the_worker_is_a_usage_error()
    {
        Answer("/admin/targets/ghost/preview", "POST", 404, """{"title":"Not Found","status":404,"detail":"No target is named 'ghost': GET /admin/targets lists them."}""");

        var run = await RunAsync("targets", "preview", "ghost");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Error, Does.Contain("Unknown target 'ghost'").And.Contain("Fulfillment:Targets"));
    }

    private Task<CliRun> RunAsync(params string[] args)
    {
        // A command line without --worker reaches the stand-in through Status:Workers:0.
        return CliHarness.RunAsync(Configuration(("Status:Workers:0", _api.Url!)), args);
    }

    private static IConfiguration Configuration(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)).Append(new("Admin:Token", Token)))
            .Build();

    private void Answer(string path, string method, int status, string? body)
    {
        var response = Response.Create().WithStatusCode(status);
        if (body is not null)
        {
            response = response.WithHeader("Content-Type", status >= 400 ? "application/problem+json" : "application/json").WithBody(body);
        }

        _api.Given(Request.Create().WithPath(path).UsingMethod(method)).RespondWith(response);
    }

    private IRequestMessage SingleRequest()
    {
        var entries = _api.LogEntries.ToList();
        Assert.That(entries, Has.Count.EqualTo(1), "one request");
        return entries[0].RequestMessage;
    }

    private static string? Header(IRequestMessage request, string name) =>
        request.Headers?.Where(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Select(h => string.Join(", ", h.Value)).SingleOrDefault();

    private static int Occurrences(string text, string value)
    {
        var count = 0;
        for (var at = text.IndexOf(value, StringComparison.Ordinal); at >= 0; at = text.IndexOf(value, at + 1, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    /// <summary>Neither the token nor any of <paramref name="secrets"/> (values the stand-in never echoes) was printed.</summary>
    private static void AssertNoSecrets(CliRun run, params string[] secrets)
    {
        foreach (var secret in secrets.Append(Token))
        {
            Assert.That(run.Output + run.Error, Does.Not.Contain(secret), "a secret was printed");
        }
    }

    /// <summary>A TargetView as the API answers it (secrets by their last four characters).</summary>
    private static string View(string name, bool allAccounts = false, string? signingSecret = null, string state = "active", string? previousUntil = null)
    {
        var view = new JsonObject
        {
            ["name"] = name,
            ["source"] = "api",
            ["state"] = state,
            ["url"] = "https://wms.example.com/hooks",
            ["events"] = new JsonArray("checkout.session.completed", "charge.refunded"),
            ["mode"] = "live",
            ["format"] = "order",
            ["accounts"] = allAccounts ? new JsonArray() : new JsonArray("acct_1Qx7ExampleMrch01", "acct_1Qx7ExampleMrch02"),
            ["allAccounts"] = allAccounts,
            ["headers"] = new JsonObject { ["X-Api-Key"] = "…2e5b" },
            ["signingSecretLast4"] = "…cdef",
            ["timeoutSeconds"] = 15,
            ["maxConcurrency"] = 2,
            ["retry"] = new JsonObject { ["maxAttempts"] = 3 },
            ["circuitBreaker"] = new JsonObject(),
            ["redelivery"] = new JsonObject(),
            ["createdAt"] = "2026-11-20T09:00:00+00:00",
            ["createdBy"] = "Admin:Token",
        };
        if (signingSecret is not null)
        {
            view["signingSecret"] = signingSecret;
        }

        if (previousUntil is not null)
        {
            view["previousSecretUntil"] = previousUntil;
        }

        return view.ToJsonString();
    }

    private static string RepositoryFile(string relative)
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "SyncWorker.sln")))
        {
            directory = directory.Parent;
        }

        return Path.Combine(directory?.FullName ?? throw new InvalidOperationException("SyncWorker.sln not found above the test directory."), relative);
    }
}
