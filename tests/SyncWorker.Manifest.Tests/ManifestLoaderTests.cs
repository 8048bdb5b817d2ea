using System.Text.Json.Nodes;

namespace SyncWorker.Manifest.Tests;

public class ManifestLoaderTests
{
    private string _tempDir = null!;

    [SetUp]
    public void CreateTempDir()
    {
        _tempDir = Path.Combine(Path.GetTempPath(), "SyncWorker.Manifest.Tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_tempDir);
    }

    [TearDown]
    public void DeleteTempDir() => Directory.Delete(_tempDir, recursive: true);

    [Test]
    public void Load_reads_the_repository_manifest()
    {
        var manifest = ManifestLoader.Load(RepoPaths.RepoManifest);

        Assert.Multiple(() =>
        {
            Assert.That(manifest.Id, Is.EqualTo("com.example.syncworker"));
            Assert.That(manifest.Version, Is.EqualTo("0.1.0"));
            Assert.That(manifest.Name, Is.EqualTo("SyncWorker"));
            Assert.That(manifest.SourcePath, Is.EqualTo(Path.GetFullPath(RepoPaths.RepoManifest)));
            Assert.That(manifest.Permissions, Has.Count.EqualTo(5));
            Assert.That(
                manifest.ConnectSrc,
                Is.EqualTo(new[] { "https://fulfillment.example.com/webhooks/", "http://localhost:9090/fulfillment/" }));
        });
    }

    [Test]
    public void Load_sets_SourcePath_to_the_full_path_of_a_relative_path()
    {
        var file = Path.Combine(_tempDir, "stripe-app.json");
        File.WriteAllText(file, ManifestJson.Valid().ToJsonString());
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, file);

        var manifest = ManifestLoader.Load(relative);

        Assert.That(manifest.SourcePath, Is.EqualTo(file));
    }

    [TestCase("dubinc_dub.stripe-app.json", "dub.co", 8)]
    [TestCase("stripe-apps_dropbox-oauth-pkce.stripe-app.json", "com.example.dropbox-oauth-pkce", 1)]
    [TestCase("stripe-apps_install-webhooks.stripe-app.json", "com.example.install-webhooks", 0)]
    [TestCase("stripe-apps_wordpress-plugin-oauth.stripe-app.json", "com.example.wordpress-stripe-plugin-oauth", 1)]
    // Has the obsolete top-level 'app_backend' key: unknown top-level keys are allowed.
    [TestCase("stripe-apps_shippo-best-rate.stripe-app.json", "com.shippo.best-rate", 2)]
    public void Load_accepts_the_example_manifest(string fileName, string expectedId, int expectedPermissions)
    {
        var manifest = ManifestLoader.Load(RepoPaths.FixtureManifest(fileName));

        Assert.That(manifest.Id, Is.EqualTo(expectedId));
        Assert.That(manifest.Permissions, Has.Count.EqualTo(expectedPermissions));
    }

    [Test]
    public void Load_rejects_the_full_page_example_because_it_has_no_permissions()
    {
        const string fileName = "stripe-apps_full-page.stripe-app.json";

        var ex = Assert.Throws<ManifestException>(() => ManifestLoader.Load(RepoPaths.FixtureManifest(fileName)));

        Assert.That(ex.Field, Is.EqualTo("permissions"));
        Assert.That(ex.Message, Does.Contain(fileName).And.Contain("permissions is required"));
    }

    [Test]
    public void Load_of_a_missing_file_names_the_file()
    {
        var path = Path.Combine(_tempDir, "missing", "stripe-app.json");

        var ex = Assert.Throws<ManifestException>(() => ManifestLoader.Load(path));

        Assert.That(ex.Path, Is.EqualTo(path));
        Assert.That(ex.Field, Is.Null);
        Assert.That(ex.Message, Does.Contain($"'{path}'").And.Contain("was not found"));
        Assert.That(ex.InnerException, Is.InstanceOf<IOException>());
    }

    [Test]
    public void Load_of_invalid_json_gives_the_line_and_position()
    {
        var path = Path.Combine(_tempDir, "stripe-app.json");
        File.WriteAllText(path, "{\n  \"id\": \"com.example.app\",\n  \"version\": 1.0.0\n}\n");

        var ex = Assert.Throws<ManifestException>(() => ManifestLoader.Load(path));

        Assert.That(ex.Path, Is.EqualTo(path));
        Assert.That(ex.Field, Is.Null);
        Assert.That(ex.Message, Does.Contain($"Manifest '{path}' is not valid JSON at line 3, position "));
        Assert.That(ex.Message, Does.Not.Contain("LineNumber:"), "the zero-based JsonException location is replaced");
    }

    [TestCase("{ \"id\": \"a\", }", 1, TestName = "Parse_rejects_a_trailing_comma")]
    [TestCase("// comment\n{}", 1, TestName = "Parse_rejects_comments")]
    [TestCase("", 1, TestName = "Parse_rejects_an_empty_document")]
    public void Parse_rejects_json_the_stripe_cli_would_not_read(string json, int line)
    {
        var ex = Assert.Throws<ManifestException>(() => ManifestLoader.Parse(json, ManifestJson.SourceName));

        Assert.That(ex.Message, Does.Contain($"Manifest '{ManifestJson.SourceName}' is not valid JSON at line {line},"));
    }

    [TestCase("id")]
    [TestCase("version")]
    [TestCase("name")]
    [TestCase("permissions")]
    public void Parse_requires_the_field(string field)
    {
        var json = ManifestJson.Valid();
        json.Remove(field);

        AssertInvalid(json, field, $"{field} is required (");
    }

    [TestCase("id", "")]
    [TestCase("version", "")]
    [TestCase("name", " ")]
    public void Parse_rejects_an_empty_string(string field, string value)
    {
        var json = ManifestJson.Valid();
        json[field] = value;

        AssertInvalid(json, field, $"{field} must not be empty");
    }

    [TestCase("id")]
    [TestCase("version")]
    [TestCase("name")]
    public void Parse_rejects_a_non_string(string field)
    {
        var json = ManifestJson.Valid();
        json[field] = 1;

        AssertInvalid(json, field, $"{field} must be a string");
    }

    [TestCase("com example")]
    [TestCase("com/example")]
    [TestCase("com.example\n")]
    public void Parse_rejects_an_id_outside_the_schema_pattern(string id)
    {
        var json = ManifestJson.Valid();
        json["id"] = id;

        AssertInvalid(json, "id", "may contain only letters, digits");
    }

    [Test]
    public void Parse_rejects_a_permission_without_purpose_and_explains_what_purpose_is()
    {
        var json = ManifestJson.Valid();
        json["permissions"]![1]!.AsObject().Remove("purpose");

        var ex = AssertInvalid(json, "permissions[1].purpose", "permissions[1].purpose is required");

        Assert.That(
            ex.Message,
            Is.EqualTo(
                "Manifest 'manifest/stripe-app.json' is invalid: permissions[1].purpose is required "
                + "(a sentence telling merchants why the app needs the permission). "
                + "See https://docs.stripe.com/stripe-apps/reference/app-manifest"));
    }

    [Test]
    public void Parse_rejects_a_permission_item_without_permission()
    {
        var json = ManifestJson.Valid();
        json["permissions"]![2]!.AsObject().Remove("permission");

        AssertInvalid(json, "permissions[2].permission", "permissions[2].permission is required");
    }

    [Test]
    public void Parse_rejects_a_permission_item_that_is_not_an_object()
    {
        var json = ManifestJson.Valid();
        json["permissions"]!.AsArray().Add("event_read");

        AssertInvalid(json, "permissions[3]", "permissions[3] must be an object");
    }

    [Test]
    public void Parse_rejects_permissions_that_are_not_an_array()
    {
        var json = ManifestJson.Valid();
        json["permissions"] = new JsonObject();

        AssertInvalid(json, "permissions", "permissions must be an array");
    }

    [Test]
    public void Parse_rejects_a_duplicate_permission_and_names_both_entries()
    {
        var json = ManifestJson.Valid();
        json["permissions"]!.AsArray().Add(ManifestJson.Permission("checkout_session_read", "Again."));

        AssertInvalid(json, "permissions[3].permission", "'checkout_session_read' is already listed at permissions[1]");
    }

    [Test]
    public void Parse_does_not_check_permission_names_against_the_stale_schema_enum()
    {
        var manifest = ManifestJson.Parse(ManifestJson.WithPermissions("event_read", "billing_meter_read"));

        Assert.That(manifest.Grants("billing_meter_read"), Is.True);
    }

    [TestCase("https://api.example.com")]
    [TestCase("https://api.example.com/")]
    [TestCase("ftp://api.example.com/orders")]
    [TestCase("api.example.com/orders")]
    public void Parse_rejects_a_connect_src_url_without_a_path(string url)
    {
        var json = ManifestJson.Valid();
        json["ui_extension"]!["content_security_policy"]!["connect-src"]!.AsArray().Add(url);

        AssertInvalid(
            json,
            "ui_extension.content_security_policy.connect-src[1]",
            $"ui_extension.content_security_policy.connect-src[1] '{url}' must be an http(s) URL with a path");
    }

    [Test]
    public void Parse_rejects_connect_src_that_is_a_string()
    {
        var json = ManifestJson.Valid();
        json["ui_extension"]!["content_security_policy"]!["connect-src"] = "https://api.example.com/orders";

        AssertInvalid(
            json,
            "ui_extension.content_security_policy.connect-src",
            "connect-src must be null or an array of URLs");
    }

    [Test]
    public void Parse_rejects_a_connect_src_entry_that_is_not_a_string()
    {
        var json = ManifestJson.Valid();
        json["ui_extension"]!["content_security_policy"]!["connect-src"]!.AsArray().Add(42);

        AssertInvalid(json, "ui_extension.content_security_policy.connect-src[1]", "must be a URL string");
    }

    [Test]
    public void Parse_rejects_a_duplicate_key_because_it_is_ambiguous()
    {
        var ex = Assert.Throws<ManifestException>(
            () => ManifestLoader.Parse("{\n\"id\": \"a\",\n\"id\": \"b\"\n}", ManifestJson.SourceName));

        Assert.That(ex.Message, Does.StartWith($"Manifest '{ManifestJson.SourceName}' is not valid JSON: "));
        Assert.That(ex.Message, Does.Contain("'id'"));
    }

    [Test]
    public void Parse_rejects_a_document_that_is_not_an_object()
    {
        var ex = Assert.Throws<ManifestException>(() => ManifestLoader.Parse("[]", ManifestJson.SourceName));

        Assert.That(ex.Field, Is.EqualTo("$"));
    }

    [Test]
    public void Parse_accepts_unknown_top_level_keys()
    {
        var json = ManifestJson.Valid();
        json["app_backend"] = new JsonObject { ["webhooks"] = null };
        json["extensions"] = null;

        Assert.That(ManifestJson.Parse(json).Id, Is.EqualTo("com.example.syncworker"));
    }

    [Test]
    public void Parse_uses_the_source_name_as_SourcePath()
    {
        Assert.That(ManifestJson.Parse(ManifestJson.Valid()).SourcePath, Is.EqualTo(ManifestJson.SourceName));
    }

    [Test]
    public void Load_names_the_path_as_given_in_validation_messages()
    {
        var path = Path.Combine(_tempDir, "stripe-app.json");
        var json = ManifestJson.Valid();
        json.Remove("name");
        File.WriteAllText(path, json.ToJsonString());

        var ex = Assert.Throws<ManifestException>(() => ManifestLoader.Load(path));

        Assert.That(ex.Path, Is.EqualTo(path));
        Assert.That(ex.Message, Does.StartWith($"Manifest '{path}' is invalid: name is required"));
    }

    private static ManifestException AssertInvalid(JsonObject json, string field, string expectedText)
    {
        var ex = Assert.Throws<ManifestException>(() => ManifestJson.Parse(json));

        Assert.Multiple(() =>
        {
            Assert.That(ex.Path, Is.EqualTo(ManifestJson.SourceName));
            Assert.That(ex.Field, Is.EqualTo(field));
            Assert.That(ex.Message, Does.StartWith($"Manifest '{ManifestJson.SourceName}' is invalid: {field} "));
            Assert.That(ex.Message, Does.Contain(expectedText));
            Assert.That(ex.Message, Does.EndWith(ManifestLoader.ReferenceUrl));
        });
        return ex;
    }
}
