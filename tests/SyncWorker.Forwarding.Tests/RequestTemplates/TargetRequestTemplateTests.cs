using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Options;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Forwarding.RequestTemplates;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Forwarding.Tests.Targets;
using SyncWorker.Manifest;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;
using static SyncWorker.Forwarding.Tests.Delivery.DeliveryFixture;

namespace SyncWorker.Forwarding.Tests.RequestTemplates;

/// <summary>Body templates, methods and paths: rendering, escaping, errors with positions, start-time checks, the wire.</summary>
[TestFixture]
public sealed class TargetRequestTemplateTests
{
    private const string Url = "https://fulfillment.example.com/webhooks/partner";

    /// <summary>Quotes, a backslash, a newline, a tab, accents, CJK and an emoji: everything JSON must escape or keep.</summary>
    private const string HardName = "Jenny \"JJ\" O'Rosen \\ back\nslash\tZoë 東京 🚚";

    private static readonly TargetRequestBuilder Builder = new(Options.Create(new TargetTemplatesOptions()), ManifestLoader.Load(TargetTestData.RepoManifestPath));

    private static TargetOptions Target(Action<TargetOptions> configure)
    {
        var target = new TargetOptions
        {
            Name = "partner",
            Url = Url,
            Mode = "live",
            Events = ["checkout.session.completed"],
            SigningSecret = TargetTestData.SigningSecret,
        };
        configure(target);
        return target;
    }

    /// <summary>The example order with the customer's name replaced.</summary>
    private static byte[] OrderNamed(string name)
    {
        var order = JsonNode.Parse(ExampleOrder.OrderDocument.Span)!;
        order["customer"]!["name"] = name;
        order["metadata"]!["order_id"] = "ORD/10042 ?#é";
        return Encoding.UTF8.GetBytes(order.ToJsonString());
    }

    private static TargetDelivery Delivery(byte[] body) => new("msg_1", "msg_1", body, "order cs_test (order.paid)");

    [Test]
    public void A_name_with_quotes_backslashes_newlines_and_non_ASCII_text_renders_as_valid_JSON_that_reads_back_the_same()
    {
        var target = Target(t => t.Template = """
            {
              "name": "{{ order.customer.name }}",
              "literal": {{ order.customer.name | json }},
              "phone": {{ order.shipping.phone | json }},
              "total": {{ order.amounts.total }},
              "items": {{ order.line_items | size }}
            }
            """);

        var request = Builder.Build(target, Delivery(OrderNamed(HardName)));

        using var parsed = JsonDocument.Parse(request.Body);
        var root = parsed.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("name").GetString(), Is.EqualTo(HardName));
            Assert.That(root.GetProperty("literal").GetString(), Is.EqualTo(HardName));
            Assert.That(root.GetProperty("phone").ValueKind, Is.EqualTo(JsonValueKind.Null), "null written by json as null");
            Assert.That(root.GetProperty("total").GetInt64(), Is.EqualTo(5000));
            Assert.That(root.GetProperty("items").GetInt32(), Is.EqualTo(1));
            Assert.That(Encoding.UTF8.GetString(request.Body.Span), Does.Contain("Zoë 東京"), "text outside ASCII stays UTF-8");
            Assert.That(request.ContentType, Is.EqualTo("application/json"));
            Assert.That(request.Method, Is.EqualTo(HttpMethod.Post));
        });
    }

    [Test]
    public void Without_JSON_escaping_the_same_name_would_break_the_body()
    {
        // The control for the test above: with a non-JSON content type values are written as they are.
        var target = Target(t =>
        {
            t.Template = """{"name": "{{ order.customer.name }}"}""";
            t.ContentType = "text/plain";
        });

        var request = Builder.Build(target, Delivery(OrderNamed(HardName)));

        Assert.That(Encoding.UTF8.GetString(request.Body.Span), Is.EqualTo("{\"name\": \"" + HardName + "\"}"));
        Assert.That(() => JsonDocument.Parse(request.Body), Throws.InstanceOf<JsonException>());
    }

    [Test]
    public void A_JSON_body_that_is_not_valid_JSON_is_a_permanent_failure_naming_the_target_and_the_output_position()
    {
        var target = Target(t => t.Template = "{\n  \"name\": {{ order.customer.name }}\n}");

        var failure = Assert.Throws<DeliveryFailedException>(() => Builder.Build(target, Delivery(OrderNamed("Jenny"))))!;

        Assert.Multiple(() =>
        {
            Assert.That(failure.IsPermanent, Is.True);
            Assert.That(failure.Attempts, Is.Zero);
            Assert.That(failure.Message, Does.StartWith("Target 'partner': the body rendered from Template is not valid JSON at line 2, column 11 of the output"));
            Assert.That(failure.Message, Does.Not.Contain("Jenny"), "no payload in a failure");
        });
    }

    [Test]
    public void A_template_that_does_not_parse_names_its_line_and_column()
    {
        var exception = Assert.Throws<TargetTemplateException>(() => TargetTemplate.Parse("{\n  \"id\": \"{{ order.order_id }}\",\n  \"x\": {% if %}\n}"))!;

        Assert.That(exception.Position, Is.Not.Null);
        Assert.That(exception.Position!.Line, Is.EqualTo(3));
        Assert.That(exception.Message, Does.StartWith("at line 3, column "));
    }

    [Test]
    public void A_render_error_is_permanent_and_names_the_position_of_the_unknown_filter()
    {
        var target = Target(t => t.Template = "{\n  \"id\": \"{{ order.order_id | no_such_filter }}\"\n}");

        var failure = Assert.Throws<DeliveryFailedException>(() => Builder.Build(target, Delivery(OrderNamed("Jenny"))))!;

        Assert.That(failure.IsPermanent, Is.True);
        Assert.That(failure.Message, Does.Contain("the body template (Template) failed to render at line 2, column 30: Undefined filter 'no_such_filter'"));
    }

    [Test]
    public void Method_and_a_templated_path_are_used_and_the_path_values_are_URL_escaped()
    {
        var target = Target(t =>
        {
            t.Method = "put";
            t.Path = "/orders/{{ order.metadata.order_id }}";
        });

        var request = Builder.Build(target, Delivery(OrderNamed("Jenny")));

        Assert.Multiple(() =>
        {
            Assert.That(request.Method, Is.EqualTo(HttpMethod.Put));
            Assert.That(request.Url.AbsoluteUri, Is.EqualTo(Url + "/orders/ORD%2F10042%20%3F%23%C3%A9"));
            Assert.That(request.Body.ToArray(), Is.EqualTo(OrderNamed("Jenny")), "no template: the order document as it is");
        });
    }

    [Test]
    public void A_path_that_leaves_the_manifests_connect_src_is_a_permanent_failure_naming_the_target()
    {
        // https://fulfillment.example.com/webhooks/ is listed; /admin is not under it.
        var target = Target(t =>
        {
            t.Url = "https://fulfillment.example.com/webhooks";
            t.Path = "/../admin/{{ order.order_id }}";
        });

        var failure = Assert.Throws<DeliveryFailedException>(() => Builder.Build(target, Delivery(OrderNamed("Jenny"))))!;

        Assert.That(failure.IsPermanent, Is.True);
        Assert.That(failure.Message, Does.StartWith("Target 'partner': the URL made from Url and Path '/../admin/{{ order.order_id }}' (on https://fulfillment.example.com) is not allowed by the manifest's connect-src"));
    }

    [Test]
    public void At_start_a_broken_template_file_stops_the_process_with_the_target_the_file_and_the_position()
    {
        var directory = Directory.CreateTempSubdirectory("syncworker-templates-");
        try
        {
            File.WriteAllText(Path.Combine(directory.FullName, "broken.liquid"), "{\n  \"id\": {{ order.order_id | json }},\n  \"x\": {% for %}\n}");
            var target = Target(t => t.TemplatePath = "broken.liquid");

            var failures = ValidateAtStart(target, directory.FullName);

            var file = Path.Combine(directory.FullName, "broken.liquid");
            Assert.That(failures, Has.Length.EqualTo(1));
            Assert.That(failures[0], Is.EqualTo(
                $"Fulfillment:Targets:0:TemplatePath: Fulfillment:Targets:0 ('partner') has a template that does not parse: the body template {file} at line 3, column 14: Invalid 'for' tag."));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Test]
    public void At_start_a_template_is_rendered_against_the_example_order_and_a_missing_file_is_named()
    {
        var target = Target(t => t.Template = "{\"id\": {{ order.order_id }}}");
        var missing = Target(t => t.TemplatePath = "/nonexistent/partner.liquid");
        var wrongMethod = Target(t => t.Method = "DELETE");

        Assert.Multiple(() =>
        {
            Assert.That(ValidateAtStart(target, "/tmp"), Is.EqualTo(new[]
            {
                "Fulfillment:Targets:0:Template: Fulfillment:Targets:0 ('partner') fails with the example order of ORDER-DOCUMENT.md: the body rendered " +
                "from Template is not valid JSON at line 1, column 8 of the output (write values inside quotes, \"{{ x }}\", or as literals with {{ x | json }}).",
            }));
            Assert.That(ValidateAtStart(missing, "/tmp").Single(), Does.StartWith(
                "Fulfillment:Targets:0:TemplatePath: Fulfillment:Targets:0 ('partner')'s template file /nonexistent/partner.liquid cannot be read"));
            Assert.That(ValidateAtStart(wrongMethod, "/tmp"), Is.EqualTo(new[] { "Fulfillment:Targets:0:Method must be POST (the default), PUT or PATCH; got 'DELETE'." }));
            Assert.That(ValidateAtStart(Target(t => t.Template = "{\"id\": {{ order.order_id | json }}}"), "/tmp"), Is.Empty);
        });
    }

    [Test]
    public async Task A_templated_target_receives_the_rendered_body_with_its_method_and_path_and_a_valid_signature()
    {
        using var server = WireMockServer.Start();
        server.Given(Request.Create().UsingPut()).RespondWith(Response.Create().WithStatusCode(HttpStatusCode.OK));
        var target = SyncWorker.Forwarding.Tests.Delivery.DeliveryFixture.Target(server, t =>
        {
            t.Method = "PUT";
            t.Path = "/{{ order.order_id }}";
            t.Template = """{"orderNumber": {{ order.order_id | json }}, "customer": "{{ order.customer.name }}"}""";
        });
        await using var services = Services(null, target);
        var sender = (HttpTargetSender)services.GetService(typeof(ITargetSender))!;

        await sender.SendAsync("wms", Delivery(OrderNamed(HardName)), CancellationToken.None);

        var entry = Requests(server).Single();
        var body = JsonDocument.Parse(BodyBytes(entry)).RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(entry.RequestMessage!.Method, Is.EqualTo("PUT"));
            Assert.That(entry.RequestMessage.Path, Is.EqualTo("/hooks/orders/cs_live_a1Qx7ExampleSessionIdForDocsOnly000000000000000000000000"));
            Assert.That(body.GetProperty("customer").GetString(), Is.EqualTo(HardName));
            Assert.That(Header(entry, "Idempotency-Key"), Is.EqualTo("msg_1"));
            Assert.That(Header(entry, "Content-Type"), Is.EqualTo("application/json"));
        });
        Assert.DoesNotThrow(() => VerifyWithStandardWebhooks(entry, Secret), "signed over the rendered body");
    }

    private static string[] ValidateAtStart(TargetOptions target, string directory)
    {
        var manifest = ManifestLoader.Load(TargetTestData.RepoManifestPath);
        var validation = new FulfillmentOptionsValidation(
            manifest,
            new PermissionPolicy(manifest, EventPermissionTable.LoadEmbedded()),
            Options.Create(new StripeApiOptions { ApiKey = "sk_live_validation-only-not-a-real-key" }),
            new HostingEnvironment { EnvironmentName = "Development" },
            templates: Options.Create(new TargetTemplatesOptions { Directory = directory }));
        return validation.Validate(Options.DefaultName, new FulfillmentOptions { Targets = [target] }).Failures?.ToArray() ?? [];
    }
}
