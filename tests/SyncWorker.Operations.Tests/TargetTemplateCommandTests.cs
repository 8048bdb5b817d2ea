using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using WireMock;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Operations.Tests;

/// <summary>
/// <c>targets add|update --template-file --content-type --method --path</c> against WireMock standing in for a worker's
/// targets API: the template file is read here and sent inline; <c>targets show</c> prints the request settings and the
/// template by its size and first line; a 422 is printed with its field and position.
/// </summary>
[TestFixture]
public sealed class TargetTemplateCommandTests
{
    private const string Token = "admin-token-0123456789abcdefXYZ";
    private const string Template = "{\n  \"reference\": \"{{ order.metadata.order_id }}\",\n  \"email\": \"{{ order.customer.email }}\"\n}\n";

    private WireMockServer _api = null!;
    private string _directory = null!;

    [OneTimeSetUp]
    public void StartApi() => _api = WireMockServer.Start();

    [OneTimeTearDown]
    public void StopApi() => _api.Dispose();

    [SetUp]
    public void ResetApi()
    {
        _api.Reset();
        _directory = Directory.CreateTempSubdirectory("syncworker-cli-template-").FullName;
    }

    [TearDown]
    public void RemoveDirectory() => Directory.Delete(_directory, recursive: true);

    [Test]
    public async Task Add_reads_the_template_file_and_sends_it_inline_with_method_path_and_content_type_and_prints_them()
    {
        var file = Path.Combine(_directory, "partner.liquid");
        await File.WriteAllTextAsync(file, Template);
        Answer("/admin/targets", "POST", 201, View(Template));

        var run = await RunAsync(
            "targets", "add", "--name", "acme", "--url", "https://wms.example.com/api", "--mode", "live",
            "--event", "checkout.session.completed", "--all-accounts",
            "--template-file", file, "--method", "put", "--path", "/orders/{{ order.metadata.order_id }}", "--content-type", "application/json");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        var body = JsonNode.Parse(SingleRequest().Body!)!;
        Assert.Multiple(() =>
        {
            Assert.That(body["template"]!.GetValue<string>(), Is.EqualTo(Template), "the file's text, sent inline");
            Assert.That(body["method"]!.GetValue<string>(), Is.EqualTo("PUT"));
            Assert.That(body["path"]!.GetValue<string>(), Is.EqualTo("/orders/{{ order.metadata.order_id }}"));
            Assert.That(body["contentType"]!.GetValue<string>(), Is.EqualTo("application/json"));
            Assert.That(body.AsObject().ContainsKey("templatePath"), Is.False, "no file name reaches the worker");
        });
        Assert.That(run.Output, Does.Contain("PUT https://wms.example.com/api/orders/{{ order.metadata.order_id }}; application/json"));
        Assert.That(run.Output, Does.Contain($"inline, {Template.Length} characters, 4 lines: {{"));
        Assert.That(run.Output, Does.Not.Contain("jenny").And.Not.Contain("\"email\""), "the template is not printed whole");
    }

    [Test]
    public async Task A_template_file_that_cannot_be_read_or_beside_file_is_a_usage_error_and_nothing_is_sent()
    {
        var missing = await RunAsync(
            "targets", "add", "--name", "acme", "--url", "https://wms.example.com/api", "--mode", "live",
            "--event", "checkout.session.completed", "--all-accounts", "--template-file", Path.Combine(_directory, "nowhere.liquid"));
        Assert.That(missing.ExitCode, Is.EqualTo(2), missing.ToString());
        Assert.That(missing.Error, Does.Contain("--template-file").And.Contain("nowhere.liquid"));

        var file = await RunAsync("targets", "add", "--file", "target.json", "--method", "PUT");
        Assert.That(file.ExitCode, Is.EqualTo(2), file.ToString());
        Assert.That(_api.LogEntries, Is.Empty, "nothing was sent");
    }

    [Test]
    public async Task A_broken_template_answered_422_is_printed_with_the_field_and_position()
    {
        var file = Path.Combine(_directory, "broken.liquid");
        await File.WriteAllTextAsync(file, "{\n  \"reference\": \"{{ order.order_id \"\n}\n");
        var problem = new JsonObject
        {
            ["type"] = "https://tools.ietf.org/html/rfc4918#section-11.2",
            ["title"] = "A template of the target is broken",
            ["status"] = 422,
            ["detail"] = "The template of the target is broken: template: the target has a template that does not parse: the body template (Template) at line 2, column 34: problem.",
            ["errors"] = new JsonObject { ["template"] = new JsonArray("template: the target has a template that does not parse: the body template (Template) at line 2, column 34: problem.") },
            ["field"] = "template",
            ["line"] = 2,
            ["column"] = 34,
        };
        _api.Given(Request.Create().WithPath("/admin/targets/acme").UsingMethod("PUT"))
            .RespondWith(Response.Create().WithStatusCode(422).WithHeader("Content-Type", "application/problem+json").WithBody(problem.ToJsonString()));

        var run = await RunAsync(
            "targets", "update", "acme", "--url", "https://wms.example.com/api", "--mode", "live",
            "--event", "checkout.session.completed", "--all-accounts", "--template-file", file);

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error, Does.Contain("422").And.Contain("template: ").And.Contain("line 2, column 34"));
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

    private static string View(string template) => new JsonObject
    {
        ["name"] = "acme",
        ["source"] = "api",
        ["state"] = "active",
        ["url"] = "https://wms.example.com/api",
        ["events"] = new JsonArray("checkout.session.completed"),
        ["mode"] = "live",
        ["format"] = "order",
        ["accounts"] = new JsonArray(),
        ["allAccounts"] = true,
        ["headers"] = new JsonObject(),
        ["signingSecretLast4"] = "…cdef",
        ["auth"] = new JsonObject { ["type"] = "None" },
        ["template"] = template,
        ["contentType"] = "application/json",
        ["method"] = "PUT",
        ["path"] = "/orders/{{ order.metadata.order_id }}",
        ["timeoutSeconds"] = 10,
        ["maxConcurrency"] = 4,
    }.ToJsonString();
}
