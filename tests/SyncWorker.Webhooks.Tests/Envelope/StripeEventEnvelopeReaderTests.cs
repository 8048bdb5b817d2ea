using System.Text;
using System.Text.Json;
using SyncWorker.Webhooks.Envelope;

namespace SyncWorker.Webhooks.Tests.Envelope;

[TestFixture]
public sealed class StripeEventEnvelopeReaderTests
{
    private const string LineItemsResponse = "checkout.session.line_items.response.json";

    private static string EventsDirectory => Path.Combine(AppContext.BaseDirectory, "Fixtures", "events");

    public static IEnumerable<TestCaseData> EventFiles() =>
        Directory.GetFiles(EventsDirectory, "*.json")
            .Select(Path.GetFileName)
            .Where(name => name != LineItemsResponse)
            .Order(StringComparer.Ordinal)
            .Select(name => new TestCaseData(name).SetArgDisplayNames(name!));

    [Test]
    public void Fixture_folder_holds_the_expected_events()
    {
        Assert.That(EventFiles().Count(), Is.GreaterThanOrEqualTo(11));
    }

    [TestCaseSource(nameof(EventFiles))]
    public void Every_fixture_event_reads_the_same_fields_as_a_full_JSON_parse(string file)
    {
        byte[] body = File.ReadAllBytes(Path.Combine(EventsDirectory, file));
        using JsonDocument document = JsonDocument.Parse(body);
        JsonElement root = document.RootElement;
        JsonElement dataObject = root.GetProperty("data").GetProperty("object");

        bool ok = StripeEventEnvelopeReader.TryRead(body, out StripeEventEnvelope? envelope, out string? error);

        Assert.That(ok, Is.True, error);
        Assert.That(error, Is.Null);
        Assert.That(envelope, Is.EqualTo(new StripeEventEnvelope(
            root.GetProperty("id").GetString()!,
            root.GetProperty("type").GetString()!,
            root.TryGetProperty("account", out JsonElement account) ? account.GetString() : null,
            root.GetProperty("livemode").GetBoolean(),
            root.GetProperty("api_version").GetString(),
            root.GetProperty("created").GetInt64(),
            dataObject.GetProperty("object").GetString()!,
            dataObject.TryGetProperty("id", out JsonElement id) ? id.GetString() : null)));
    }

    [Test]
    public void Checkout_session_completed_reads_its_routing_fields()
    {
        StripeEventEnvelope envelope = ReadFile("checkout.session.completed.json");

        Assert.That(envelope, Is.EqualTo(new StripeEventEnvelope(
            Id: "evt_1Qx7ExampleCsCompleted01",
            Type: "checkout.session.completed",
            Account: "acct_1Qx7ExampleMrch01",
            Livemode: true,
            ApiVersion: "2026-07-29.dahlia",
            Created: 1786003295,
            ObjectType: "checkout.session",
            ObjectId: "cs_live_a1Qx7ExampleSessionIdForDocsOnly000000000000000000000000")));
    }

    [Test]
    public void Account_application_authorized_reads_account_not_context()
    {
        StripeEventEnvelope envelope = ReadFile("account.application.authorized.json");

        Assert.That(envelope, Is.EqualTo(new StripeEventEnvelope(
            "evt_1Qx7ExampleAppAuthorize1",
            "account.application.authorized",
            "acct_1Qx7ExampleMrch01",
            true,
            "2023-10-16",
            1785916800,
            "application",
            "ca_ExampleAppClientId0000000000000")));
    }

    [Test]
    public void Stripe_net_test_fixture_reads_its_test_mode_fields()
    {
        StripeEventEnvelope envelope = ReadFile("stripe-dotnet_event_test_signature.json");

        Assert.That(envelope, Is.EqualTo(new StripeEventEnvelope(
            "evt_123", "customer.created", "acct_123", false, "2017-05-25", 1533204620, "customer", "cus_123")));
    }

    [Test]
    public void Line_items_list_response_is_refused_as_not_an_event()
    {
        string error = Refuse(File.ReadAllBytes(Path.Combine(EventsDirectory, LineItemsResponse)));

        Assert.That(error, Does.Contain("\"list\"").And.Contain("not \"event\""));
    }

    [Test]
    public void Thin_event_notification_is_refused_with_a_snapshot_hint()
    {
        const string thin = """
            {"id":"evt_test_65R9Ijk8fJz1Qx7","object":"v2.core.event","type":"v1.billing.meter.error_report_triggered",
             "livemode":false,"created":"2024-09-17T06:20:52.246Z",
             "related_object":{"id":"mtr_test_123","type":"billing.meter","url":"/v1/billing/meters/mtr_test_123"}}
            """;

        string error = Refuse(thin);

        Assert.That(error, Does.Contain("snapshot").And.Contain("v2.core.event"));
    }

    [TestCase("")]
    [TestCase("   ")]
    [TestCase("not json")]
    [TestCase("{")]
    [TestCase("{\"id\":")]
    [TestCase("{\"id\":\"evt_1\",}")]
    [TestCase("{\"id\":\"evt_1\" \"type\":\"x\"}")]
    [TestCase("{\"id\":'evt_1'}")]
    [TestCase("{} {}")]
    [TestCase("{}x")]
    [TestCase("{/* comment */}")]
    public void Body_that_is_not_one_JSON_object_is_refused(string body)
    {
        string error = Refuse(body);

        Assert.That(error, Does.StartWith("The request body"));
    }

    [Test]
    public void Invalid_JSON_error_gives_the_position()
    {
        string error = Refuse("{\n  \"id\": nope\n}");

        Assert.That(error, Does.Contain("not valid JSON").And.Contain("line 2"));
    }

    [TestCase("[]", "array")]
    [TestCase("[{\"id\":\"evt_1\",\"object\":\"event\"}]", "array")]
    [TestCase("\"evt_1\"", "string")]
    [TestCase("42", "number")]
    [TestCase("null", "null")]
    [TestCase("true", "boolean")]
    public void JSON_that_is_not_an_object_is_refused(string body, string kind)
    {
        Assert.That(Refuse(body), Does.Contain($"a JSON {kind}, not an object"));
    }

    [TestCase("\"id\":\"evt_1\",", "\"id\":\"ch_1\",", "does not start with evt_")]
    [TestCase("\"id\":\"evt_1\",", "\"id\":\"EVT_1\",", "does not start with evt_")]
    [TestCase("\"id\":\"evt_1\",", "", "no \"id\"")]
    [TestCase("\"id\":\"evt_1\",", "\"id\":42,", "no \"id\"")]
    [TestCase("\"object\":\"event\",", "", "no \"object\"")]
    [TestCase("\"object\":\"event\",", "\"object\":\"charge\",", "\"charge\", not \"event\"")]
    [TestCase("\"type\":\"customer.created\",", "", "no \"type\"")]
    [TestCase("\"type\":\"customer.created\",", "\"type\":\"\",", "no \"type\"")]
    [TestCase("\"created\":1786003260,", "", "\"created\"")]
    [TestCase("\"created\":1786003260,", "\"created\":\"1786003260\",", "\"created\"")]
    [TestCase("\"created\":1786003260,", "\"created\":1786003260.5,", "\"created\"")]
    [TestCase("\"livemode\":true,", "", "\"livemode\"")]
    [TestCase("\"livemode\":true,", "\"livemode\":\"true\",", "\"livemode\"")]
    [TestCase("\"account\":\"acct_1\",", "\"account\":{\"id\":\"acct_1\"},", "\"account\"")]
    [TestCase("\"api_version\":\"2026-07-29.dahlia\",", "\"api_version\":20260729,", "\"api_version\"")]
    public void Event_with_a_missing_or_wrong_field_is_refused(string original, string replacement, string expectedInError)
    {
        string body = MinimalEvent.Replace(original, replacement, StringComparison.Ordinal);
        Assert.That(body, Is.Not.EqualTo(MinimalEvent), "test setup: the field to replace is in the event");

        Assert.That(Refuse(body), Does.Contain(expectedInError));
    }

    [TestCase("\"data\":{\"previous_attributes\":{}}", "data.object is missing")]
    [TestCase("\"data\":{\"object\":null}", "data.object is missing")]
    [TestCase("\"data\":{\"object\":[]}", "not a JSON object")]
    [TestCase("\"data\":{\"object\":\"cus_1\"}", "not a JSON object")]
    [TestCase("\"data\":[]", "no \"data\" object")]
    [TestCase("\"data\":null", "no \"data\" object")]
    [TestCase("\"data\":{\"object\":{\"id\":\"cus_1\"}}", "no \"object\" string")]
    [TestCase("\"data\":{\"object\":{\"id\":\"cus_1\",\"object\":7}}", "no \"object\" string")]
    [TestCase("\"data\":{\"object\":{\"id\":1,\"object\":\"customer\"}}", "data.object.id")]
    public void Event_with_a_missing_or_wrong_data_object_is_refused(string data, string expectedInError)
    {
        string body = MinimalEvent.Replace(MinimalData, data, StringComparison.Ordinal);

        Assert.That(Refuse(body), Does.Contain(expectedInError));
    }

    [TestCase("\"data\":{\"object\":{\"object\":\"customer\"}}")]
    [TestCase("\"data\":{\"object\":{\"id\":null,\"object\":\"customer\"}}")]
    public void Data_object_without_an_id_reads_with_a_null_ObjectId(string data)
    {
        StripeEventEnvelope envelope = Read(MinimalEvent.Replace(MinimalData, data, StringComparison.Ordinal));

        Assert.That(envelope.ObjectId, Is.Null);
        Assert.That(envelope.ObjectType, Is.EqualTo("customer"));
    }

    [Test]
    public void Platform_event_without_account_and_old_event_with_null_api_version_read()
    {
        string body = MinimalEvent
            .Replace("\"account\":\"acct_1\",", "", StringComparison.Ordinal)
            .Replace("\"api_version\":\"2026-07-29.dahlia\",", "\"api_version\":null,", StringComparison.Ordinal);

        StripeEventEnvelope envelope = Read(body);

        Assert.That(envelope.Account, Is.Null);
        Assert.That(envelope.ApiVersion, Is.Null);
        Assert.That(Read(MinimalEvent.Replace("\"acct_1\"", "null", StringComparison.Ordinal)).Account, Is.Null);
    }

    [TestCase("\"type\":\"customer.created\",", "\"type\":\"customer.created\",\"type\":\"charge.refunded\",", "\"type\"")]
    [TestCase("\"id\":\"evt_1\",", "\"id\":\"evt_1\",\"id\":\"evt_2\",", "\"id\"")]
    [TestCase("\"account\":\"acct_1\",", "\"account\":\"acct_1\",\"account\":\"acct_2\",", "\"account\"")]
    [TestCase("\"object\":{\"id\":\"cus_1\",", "\"object\":{\"id\":\"cus_1\",\"id\":\"cus_2\",", "\"data.object.id\"")]
    [TestCase("\"object\":\"customer\"", "\"object\":\"customer\",\"object\":\"charge\"", "\"data.object.object\"")]
    public void Duplicate_routing_keys_are_refused(string original, string duplicated, string key)
    {
        string body = MinimalEvent.Replace(original, duplicated, StringComparison.Ordinal);
        Assert.That(body, Is.Not.EqualTo(MinimalEvent), "test setup");

        Assert.That(Refuse(body), Does.Contain($"key {key} more than once"));
    }

    [Test]
    public void Duplicate_data_object_is_refused()
    {
        string body = MinimalEvent.Replace(MinimalData, "\"data\":{\"object\":{\"object\":\"customer\"},\"object\":{\"object\":\"charge\"}}", StringComparison.Ordinal);

        Assert.That(Refuse(body), Does.Contain("\"data.object\" more than once"));
    }

    [Test]
    public void Duplicate_unknown_keys_are_tolerated()
    {
        string body = MinimalEvent.Replace("{\"id\":\"evt_1\"", "{\"pending_webhooks\":1,\"pending_webhooks\":2,\"id\":\"evt_1\"", StringComparison.Ordinal);

        Assert.That(Read(body).Id, Is.EqualTo("evt_1"));
    }

    [Test]
    public void Nested_keys_named_like_routing_fields_do_not_confuse_the_reader()
    {
        const string body = """
            {
              "request": {"id": "req_1", "idempotency_key": null, "object": "request", "type": "nested"},
              "data": {
                "previous_attributes": {"object": "charge", "id": "ch_old", "data": {"object": {"object": "x"}}},
                "object": {
                  "lines": {"object": "list", "data": [{"id": "il_1", "object": "line_item"}, [[], {}], null]},
                  "metadata": {"id": "meta", "object": "nope"},
                  "object": "invoice",
                  "id": "in_1"
                },
                "extra": [1, 2.5e3, -0.0, true, false, null, "s", {"object": "y"}]
              },
              "context": "acct_other",
              "type": "invoice.paid",
              "created": 1786006806,
              "livemode": false,
              "object": "event",
              "api_version": "2026-07-29.dahlia",
              "account": "acct_1",
              "id": "evt_nested"
            }
            """;

        Assert.That(Read(body), Is.EqualTo(new StripeEventEnvelope(
            "evt_nested", "invoice.paid", "acct_1", false, "2026-07-29.dahlia", 1786006806, "invoice", "in_1")));
    }

    [Test]
    public void Large_event_with_nested_unknown_fields_reads_correctly()
    {
        var builder = new StringBuilder();
        builder.Append("{\"data\":{\"object\":{\"line_items\":[");
        for (int i = 0; i < 400; i++)
        {
            builder.Append(i == 0 ? "" : ",")
                .Append("{\"id\":\"li_").Append(i).Append("\",\"object\":\"item\",\"description\":\"Zoë Müller — pack ").Append(i)
                .Append("\",\"price\":{\"id\":\"price_").Append(i).Append("\",\"product\":{\"metadata\":{\"tags\":[[\"a\",[\"b\",{\"object\":\"deep\"}]]]}}},\"quantity\":").Append(i)
                .Append('}');
        }

        builder.Append("],\"object\":\"checkout.session\",\"id\":\"cs_big\"},\"previous_attributes\":{\"status\":\"open\"}},");
        builder.Append("\"unknown\":").Append(new string('[', 40)).Append(new string(']', 40)).Append(',');
        builder.Append("\"id\":\"evt_big\",\"object\":\"event\",\"type\":\"checkout.session.completed\",\"account\":null,");
        builder.Append("\"livemode\":true,\"api_version\":\"2026-07-29.dahlia\",\"created\":1786003295}");
        byte[] body = Encoding.UTF8.GetBytes(builder.ToString());
        Assert.That(body, Has.Length.GreaterThan(64 * 1024), "test setup: the payload is large");
        Assert.That(() => JsonDocument.Parse(body).Dispose(), Throws.Nothing, "test setup: the payload is valid JSON");

        StripeEventEnvelope envelope = Read(body);

        Assert.That(envelope, Is.EqualTo(new StripeEventEnvelope(
            "evt_big", "checkout.session.completed", null, true, "2026-07-29.dahlia", 1786003295, "checkout.session", "cs_big")));
    }

    [Test]
    public void Non_ascii_and_escaped_strings_are_decoded()
    {
        string body = MinimalEvent.Replace("\"type\":\"customer.created\"", "\"type\":\"customer.cr\\u0065ated\",\"name\":\"Zoë Müller 🎁\"", StringComparison.Ordinal);

        Assert.That(Read(body).Type, Is.EqualTo("customer.created"));
    }

    [Test]
    public void Leading_byte_order_mark_is_tolerated()
    {
        byte[] body = [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(MinimalEvent)];

        Assert.That(Read(body).Id, Is.EqualTo("evt_1"));
    }

    [Test]
    public void Invalid_UTF8_in_a_routing_string_is_refused()
    {
        byte[] body = Encoding.UTF8.GetBytes(MinimalEvent.Replace("customer.created", "customer.cXeated", StringComparison.Ordinal));
        int index = Encoding.UTF8.GetString(body).IndexOf('X', StringComparison.Ordinal);
        body[index] = 0xFF;

        Assert.That(Refuse(body), Does.StartWith("The request body"));
    }

    [Test]
    public void Minimal_event_reads()
    {
        Assert.That(Read(MinimalEvent), Is.EqualTo(new StripeEventEnvelope(
            "evt_1", "customer.created", "acct_1", true, "2026-07-29.dahlia", 1786003260, "customer", "cus_1")));
    }

    private const string MinimalData = "\"data\":{\"object\":{\"id\":\"cus_1\",\"object\":\"customer\"}}";

    private const string MinimalEvent =
        "{\"id\":\"evt_1\",\"object\":\"event\",\"account\":\"acct_1\",\"api_version\":\"2026-07-29.dahlia\",\"created\":1786003260,"
        + "\"type\":\"customer.created\",\"livemode\":true," + MinimalData + "}";

    private static StripeEventEnvelope ReadFile(string file) => Read(File.ReadAllBytes(Path.Combine(EventsDirectory, file)));

    private static StripeEventEnvelope Read(string json) => Read(Encoding.UTF8.GetBytes(json));

    private static StripeEventEnvelope Read(byte[] json)
    {
        bool ok = StripeEventEnvelopeReader.TryRead(json, out StripeEventEnvelope? envelope, out string? error);
        Assert.That(ok, Is.True, error);
        Assert.That(error, Is.Null);
        return envelope!;
    }

    private static string Refuse(string json) => Refuse(Encoding.UTF8.GetBytes(json));

    private static string Refuse(byte[] json)
    {
        bool ok = StripeEventEnvelopeReader.TryRead(json, out StripeEventEnvelope? envelope, out string? error);
        Assert.That(ok, Is.False, "expected the body to be refused");
        Assert.That(envelope, Is.Null);
        Assert.That(error, Is.Not.Null.And.Not.Empty);
        return error!;
    }
}
