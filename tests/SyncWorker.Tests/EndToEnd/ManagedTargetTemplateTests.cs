using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using StandardWebhooks;
using SyncWorker.Forwarding.Hosting;
using SyncWorker.Testing;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Tests.EndToEnd;

/// <summary>
/// Inline request templates of targets managed through the real admin API of a worker (SQLite store, RabbitMQ node): a
/// target created with a body template, <c>PUT</c> and a templated path gets the merchant's paid order at the rendered
/// path with the rendered (and signed) body; a broken template is a 422 naming <c>template</c> and the position, with the
/// worker still serving; <c>templatePath</c> and other invalid input stay 400.
/// </summary>
[NonParallelizable]
public sealed class ManagedTargetTemplateTests
{
    private const string Completed = "checkout.session.completed.json";
    private const string WriteToken = "template-write-token-0123456789abcdef";
    private const string PartnerKey = "partner-api-key-template-e2e-7a31";
    private const string Template = """
        {
          "reference": "{{ order.metadata.order_id }}",
          "email": "{{ order.customer.email }}",
          "total": {{ order.amounts.total | json }},
          "items": [{% for item in order.line_items %}{% unless forloop.first %},{% endunless %}{"sku": "{{ item.price_id }}", "qty": {{ item.quantity }}}{% endfor %}]
        }
        """;

    private static readonly string EncryptionKey = Convert.ToBase64String(Enumerable.Range(90, 32).Select(i => (byte)i).ToArray());

    private RabbitMqNode _node = null!;
    private WireMockServer _stripe = null!;
    private WireMockServer _partner = null!;
    private string _dataDirectory = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _node = await RabbitMqNode.LaunchAsync();

    [OneTimeTearDown]
    public async Task StopAsync() => await _node.DisposeAsync();

    [SetUp]
    public void StartPeers()
    {
        _stripe = WireMockServer.Start();
        _stripe.Given(Request.Create().WithPath("/v1/checkout/sessions/*/line_items").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json")
                .WithBody(StripeEvents.Text("checkout.session.line_items.response.json")));
        _partner = WireMockServer.Start();
        _partner.Given(Request.Create().WithPath("/partner/api/*").UsingAnyMethod()).RespondWith(Response.Create().WithStatusCode(200));
        _dataDirectory = Path.Combine(Path.GetTempPath(), "syncworker-tests", "template-" + Guid.NewGuid().ToString("N")[..12]);
    }

    [TearDown]
    public void StopPeers()
    {
        _stripe.Stop();
        _stripe.Dispose();
        _partner.Stop();
        _partner.Dispose();
    }

    [Test]
    public async Task A_templated_api_target_gets_the_rendered_body_with_its_method_at_the_rendered_path()
    {
        await using var worker = await StartWorkerAsync();
        string secret;
        using (var created = await SendAsync(worker, HttpMethod.Post, "/admin/targets", Target(Template)))
        {
            var text = await created.Content.ReadAsStringAsync();
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created), text);
            var view = JsonNode.Parse(text)!;
            Assert.Multiple(() =>
            {
                Assert.That(view["template"]!.GetValue<string>(), Is.EqualTo(Template));
                Assert.That(view["method"]!.GetValue<string>(), Is.EqualTo("PUT"), "the method as given, upper-cased");
                Assert.That(view["path"]!.GetValue<string>(), Is.EqualTo("/orders/{{ order.metadata.order_id }}"));
                Assert.That(view["contentType"]!.GetValue<string>(), Is.EqualTo("application/json"));
                Assert.That(view.AsObject().ContainsKey("templatePath"), Is.False);
            });
            secret = view["signingSecret"]!.GetValue<string>();
        }

        using (var shown = await SendAsync(worker, HttpMethod.Get, "/admin/targets/partner"))
        {
            Assert.That(JsonNode.Parse(await shown.Content.ReadAsStringAsync())!["template"]!.GetValue<string>(), Is.EqualTo(Template), "read back from the store");
        }

        var supervisor = worker.Services.GetRequiredService<TargetEndpointSupervisor>();
        Assert.That(await Eventually.TrueAsync(() => supervisor.IsConsuming("partner"), TimeSpan.FromSeconds(30)), Is.True);
        using (var posted = await worker.PostSignedAsync(StripeEvents.WithId(Completed, StripeEvents.NewEventId())))
        {
            Assert.That(posted.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Eventually.TrueAsync(() => _partner.LogEntries.Any(), TimeSpan.FromSeconds(30)), Is.True, "the order reached the partner");
        var request = _partner.LogEntries.Single().RequestMessage;
        var body = JsonNode.Parse(request.Body!)!;
        Assert.Multiple(() =>
        {
            Assert.That(request.Method, Is.EqualTo("PUT"));
            Assert.That(request.Path, Is.EqualTo("/partner/api/orders/ORD-10042"), "the rendered path, after the target's URL");
            Assert.That(request.Headers!["Content-Type"].Single(), Does.StartWith("application/json"));
            Assert.That(request.Headers!["X-Partner-Key"].Single(), Is.EqualTo(PartnerKey));
            Assert.That(body["reference"]!.GetValue<string>(), Is.EqualTo("ORD-10042"));
            Assert.That(body["email"]!.GetValue<string>(), Is.EqualTo("jenny.rosen@example.com"));
            Assert.That(body["total"]!.GetValue<int>(), Is.EqualTo(5000));
            Assert.That(body["items"]!.AsArray().Select(i => (i!["sku"]!.GetValue<string>(), i["qty"]!.GetValue<int>())),
                Is.EqualTo(new[] { ("price_1Qx7ExamplePrice02", 3) }), "the line items fetched from Stripe");
            Assert.That(body.AsObject().ContainsKey("object"), Is.False, "the partner's shape, not the order document");
        });
        Assert.DoesNotThrow(() => new StandardWebhook(secret).Verify(request.Body!, HeadersOf(request)), "the rendered body is what is signed");

        // A PUT of the target without a template sends the order document as it is, POSTed to the URL.
        var plain = Target(null);
        plain.Remove("method");
        plain.Remove("path");
        using (var replaced = await SendAsync(worker, HttpMethod.Put, "/admin/targets/partner", plain))
        {
            var text = await replaced.Content.ReadAsStringAsync();
            Assert.That(replaced.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
            Assert.That(JsonNode.Parse(text)!.AsObject().Select(p => p.Key), Has.None.AnyOf("template", "method", "path"));
        }
    }

    [Test]
    public async Task The_worker_previews_an_api_target_with_its_own_secrets_masked_and_sends_nothing()
    {
        await using var worker = await StartWorkerAsync();
        string secret;
        using (var created = await SendAsync(worker, HttpMethod.Post, "/admin/targets", Target(Template)))
        {
            var text = await created.Content.ReadAsStringAsync();
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created), text);
            secret = JsonNode.Parse(text)!["signingSecret"]!.GetValue<string>();
        }

        // No body: the example order.
        using (var previewed = await SendAsync(worker, HttpMethod.Post, "/admin/targets/partner/preview"))
        {
            var text = await previewed.Content.ReadAsStringAsync();
            Assert.That(previewed.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
            var preview = JsonNode.Parse(text)!;
            var headers = preview["headers"]!.AsArray().ToDictionary(h => h!["name"]!.GetValue<string>(), h => h!["value"]!.GetValue<string>(), StringComparer.OrdinalIgnoreCase);
            var body = JsonNode.Parse(preview["body"]!.GetValue<string>())!;
            Assert.Multiple(() =>
            {
                Assert.That(preview["note"]!.GetValue<string>(), Does.Contain("example order"));
                Assert.That(preview["method"]!.GetValue<string>(), Is.EqualTo("PUT"));
                Assert.That(preview["url"]!.GetValue<string>(), Is.EqualTo(_partner.Url + "/partner/api/orders/" + body["reference"]!.GetValue<string>()));
                Assert.That(headers["X-Partner-Key"], Is.EqualTo("…" + PartnerKey[^4..]), "the header value the worker holds, masked");
                Assert.That(headers["webhook-signature"], Does.StartWith("…").And.Length.EqualTo(5), "the signature masked");
                Assert.That(headers["webhook-id"], Is.Not.Empty);
                Assert.That(headers["Content-Type"], Does.StartWith("application/json"));
                Assert.That(body["email"]!.GetValue<string>(), Does.Contain("@"));
                Assert.That(text, Does.Not.Contain(PartnerKey).And.Not.Contain(secret[6..]), "no secret in the answer");
            });
        }

        // A Stripe event: mapped to an order document without line items (Stripe is not called).
        using (var previewed = await SendAsync(worker, HttpMethod.Post, "/admin/targets/partner/preview", JsonNode.Parse(StripeEvents.Text(Completed))!.AsObject()))
        {
            var text = await previewed.Content.ReadAsStringAsync();
            Assert.That(previewed.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
            var preview = JsonNode.Parse(text)!;
            Assert.That(preview["note"]!.GetValue<string>(), Does.Contain("without line items"));
            Assert.That(preview["url"]!.GetValue<string>(), Does.EndWith("/partner/api/orders/ORD-10042"));
            Assert.That(JsonNode.Parse(preview["body"]!.GetValue<string>())!["reference"]!.GetValue<string>(), Is.EqualTo("ORD-10042"));
        }

        var unusable = await ProblemAsync(worker, HttpMethod.Post, "/admin/targets/partner/preview", new JsonObject { ["object"] = "customer" });
        Assert.That(unusable.Status, Is.EqualTo(HttpStatusCode.BadRequest), unusable.Text);
        Assert.That(unusable.Problem["errors"]!["body"]![0]!.GetValue<string>(), Does.Contain("neither a Stripe event"));
        var unknown = await ProblemAsync(worker, HttpMethod.Post, "/admin/targets/nobody/preview", null);
        Assert.That(unknown.Status, Is.EqualTo(HttpStatusCode.NotFound), unknown.Text);
        Assert.That(_partner.LogEntries, Is.Empty, "a preview sends nothing");
        Assert.That(_stripe.LogEntries, Is.Empty, "nor reads Stripe");
    }

    [Test]
    public async Task A_broken_template_is_422_naming_the_field_and_position_and_other_invalid_input_stays_400()
    {
        await using var worker = await StartWorkerAsync();

        // Does not parse: the output tag on line 3 is not closed.
        var unparsed = await ProblemAsync(worker, HttpMethod.Post, "/admin/targets", Target("{\n  \"reference\":\n    \"{{ order.order_id \"\n}"));
        Assert.That(unparsed.Status, Is.EqualTo(HttpStatusCode.UnprocessableEntity), unparsed.Text);
        Assert.Multiple(() =>
        {
            Assert.That(unparsed.Problem["field"]!.GetValue<string>(), Is.EqualTo("template"));
            Assert.That(unparsed.Problem["line"]!.GetValue<int>(), Is.GreaterThanOrEqualTo(3), "the position in the template");
            Assert.That(unparsed.Problem["column"]!.GetValue<int>(), Is.Positive);
            Assert.That(unparsed.Problem["in"]!.GetValue<string>(), Is.EqualTo("template"));
            Assert.That(unparsed.Problem["errors"]!.AsObject().Select(e => e.Key), Is.EqualTo(new[] { "template" }));
            Assert.That(unparsed.Problem["errors"]!["template"]![0]!.GetValue<string>(), Does.Contain("does not parse").And.Contain("line "));
            Assert.That(unparsed.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        });

        // Renders, but not JSON: a string written without quotes; the position is in the output.
        var notJson = await ProblemAsync(worker, HttpMethod.Post, "/admin/targets", Target("{\n  \"email\": {{ order.customer.email }}\n}"));
        Assert.That(notJson.Status, Is.EqualTo(HttpStatusCode.UnprocessableEntity), notJson.Text);
        Assert.That(notJson.Problem["field"]!.GetValue<string>(), Is.EqualTo("template"));
        Assert.That(notJson.Problem["line"]!.GetValue<int>(), Is.EqualTo(2));
        Assert.That(notJson.Problem["in"]!.GetValue<string>(), Is.EqualTo("output"));
        Assert.That(notJson.Text, Does.Contain("not valid JSON"));

        // Fails to render: an unknown filter.
        var unknownFilter = await ProblemAsync(worker, HttpMethod.Post, "/admin/targets", Target("{\"reference\": \"{{ order.order_id | no_such_filter }}\"}"));
        Assert.That(unknownFilter.Status, Is.EqualTo(HttpStatusCode.UnprocessableEntity), unknownFilter.Text);
        Assert.That(unknownFilter.Problem["field"]!.GetValue<string>(), Is.EqualTo("template"));
        Assert.That(unknownFilter.Text, Does.Contain("no_such_filter"));

        // templatePath: refused, naming the field and what to send instead.
        var withPath = Target(null);
        withPath["templatePath"] = "partner.liquid";
        var refusedPath = await ProblemAsync(worker, HttpMethod.Post, "/admin/targets", withPath);
        Assert.That(refusedPath.Status, Is.EqualTo(HttpStatusCode.BadRequest), refusedPath.Text);
        Assert.That(refusedPath.Problem["errors"]!.AsObject().Select(e => e.Key), Is.EqualTo(new[] { "templatePath" }));
        Assert.That(refusedPath.Problem["errors"]!["templatePath"]![0]!.GetValue<string>(),
            Does.Contain("only the configuration file may name template files; send the template inline in `template`"));

        // Other invalid input stays 400, also beside a broken template.
        var badMethod = Target(Template);
        badMethod["method"] = "DELETE";
        var refusedMethod = await ProblemAsync(worker, HttpMethod.Post, "/admin/targets", badMethod);
        Assert.That(refusedMethod.Status, Is.EqualTo(HttpStatusCode.BadRequest), refusedMethod.Text);
        Assert.That(refusedMethod.Problem["errors"]!.AsObject().Select(e => e.Key), Is.EqualTo(new[] { "method" }));

        var both = Target("{{ order.order_id");
        both["mode"] = "sometimes";
        var refusedBoth = await ProblemAsync(worker, HttpMethod.Post, "/admin/targets", both);
        Assert.That(refusedBoth.Status, Is.EqualTo(HttpStatusCode.BadRequest), refusedBoth.Text);
        Assert.That(refusedBoth.Problem["errors"]!.AsObject().Select(e => e.Key), Does.Contain("mode").And.Contain("template"));

        // Nothing was stored, and the worker still serves: the good target is created, then a PUT with a broken template is 422 too.
        using (var created = await SendAsync(worker, HttpMethod.Post, "/admin/targets", Target(Template)))
        {
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created), await created.Content.ReadAsStringAsync());
        }

        var brokenPut = await ProblemAsync(worker, HttpMethod.Put, "/admin/targets/partner", Target("{% if order %}"));
        Assert.That(brokenPut.Status, Is.EqualTo(HttpStatusCode.UnprocessableEntity), brokenPut.Text);
        using (var shown = await SendAsync(worker, HttpMethod.Get, "/admin/targets/partner"))
        {
            Assert.That(JsonNode.Parse(await shown.Content.ReadAsStringAsync())!["template"]!.GetValue<string>(), Is.EqualTo(Template), "the refused PUT changed nothing");
        }
    }

    private JsonObject Target(string? template)
    {
        var target = new JsonObject
        {
            ["name"] = "partner",
            ["url"] = _partner.Url + "/partner/api/",
            ["events"] = new JsonArray("checkout.session.completed"),
            ["mode"] = "live",
            ["allAccounts"] = true,
            ["headers"] = new JsonObject { ["X-Partner-Key"] = PartnerKey },
            ["method"] = "put",
            ["path"] = "/orders/{{ order.metadata.order_id }}",
            ["contentType"] = "application/json",
        };
        if (template is not null)
        {
            target["template"] = template;
        }

        return target;
    }

    private async Task<WorkerHost> StartWorkerAsync() => await WorkerHost.StartAsync(new Dictionary<string, string?>
    {
        ["RabbitMq:Uri"] = _node.AmqpUri(await _node.CreateVirtualHostAsync()).ToString(),
        ["Store:DataDirectory"] = _dataDirectory,
        ["Store:EncryptionKey"] = EncryptionKey,
        ["Stripe:ApiKeys:Live"] = "sk_live_managed_templates_e2e_0000",
        ["Stripe:ApiBase"] = _stripe.Url,
        ["Manifest:Path"] = TestManifest.WithConnectSrc(_partner.Url + "/partner/api/"),
        ["Admin:Tokens:0:Token"] = WriteToken,
        ["Admin:Tokens:0:Scope"] = "write",
        ["Admin:Tokens:0:Name"] = "ops-write",
    });

    private static Microsoft.AspNetCore.Http.HeaderDictionary HeadersOf(WireMock.IRequestMessage request) =>
        new(request.Headers!.ToDictionary(h => h.Key, h => new Microsoft.Extensions.Primitives.StringValues(h.Value.ToArray())));

    private static async Task<(HttpStatusCode Status, JsonObject Problem, string Text, HttpContentHeaders Headers)> ProblemAsync(
        WorkerHost worker, HttpMethod method, string path, JsonObject? body)
    {
        using var response = await SendAsync(worker, method, path, body);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonNode.Parse(text) as JsonObject ?? [], text, response.Content.Headers);
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
