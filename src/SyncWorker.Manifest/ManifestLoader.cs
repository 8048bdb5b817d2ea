using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace SyncWorker.Manifest;

/// <summary>
/// Loads and validates a Stripe App manifest (v1 <c>stripe-app.json</c>).
/// </summary>
/// <remarks>
/// Validation covers what SyncWorker depends on, following Stripe's published schema for those fields:
/// <c>id</c>, <c>version</c>, <c>name</c>, <c>permissions</c> and
/// <c>ui_extension.content_security_policy.connect-src</c>. Other top-level keys are accepted because the
/// published schema lags Stripe's CLI, and permission IDs are not checked against the schema's stale enum.
/// </remarks>
public static partial class ManifestLoader
{
    /// <summary>Stripe's reference page for the manifest, quoted in every validation message.</summary>
    public const string ReferenceUrl = "https://docs.stripe.com/stripe-apps/reference/app-manifest";

    private const string ConnectSrcField = "ui_extension.content_security_policy.connect-src";

    private static readonly JsonDocumentOptions DocumentOptions = new()
    {
        AllowTrailingCommas = false,
        CommentHandling = JsonCommentHandling.Disallow,
        AllowDuplicateProperties = false,
    };

    /// <summary>Reads and validates the manifest file at <paramref name="path"/>.</summary>
    /// <param name="path">The manifest file; relative paths resolve against the current directory.</param>
    /// <returns>The manifest, with <see cref="AppManifest.SourcePath"/> set to the file's full path.</returns>
    /// <exception cref="ManifestException">The file is missing, unreadable, not JSON, or not a valid manifest.</exception>
    public static AppManifest Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);

        var fullPath = Path.GetFullPath(path);
        string json;
        try
        {
            json = File.ReadAllText(fullPath);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ManifestException(
                $"Manifest '{path}' was not found (looked for '{fullPath}'). Point SyncWorker at the app's stripe-app.json. See {ReferenceUrl}",
                path,
                field: null,
                ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ManifestException(
                $"Manifest '{path}' could not be read: {ex.Message}",
                path,
                field: null,
                ex);
        }

        return Parse(json, path, fullPath);
    }

    /// <summary>Validates a manifest held in memory.</summary>
    /// <param name="json">The manifest text.</param>
    /// <param name="sourceName">The name used in error messages and as <see cref="AppManifest.SourcePath"/>.</param>
    /// <exception cref="ManifestException">The text is not JSON or not a valid manifest.</exception>
    public static AppManifest Parse(string json, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentException.ThrowIfNullOrWhiteSpace(sourceName);
        return Parse(json, sourceName, sourceName);
    }

    private static AppManifest Parse(string json, string displayName, string sourcePath)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, DocumentOptions);
        }
        catch (JsonException ex)
        {
            throw NotJson(displayName, ex);
        }

        using (document)
        {
            return new Validator(displayName).Validate(document.RootElement, sourcePath);
        }
    }

    private static ManifestException NotJson(string displayName, JsonException ex)
    {
        var reason = ex.Message;
        var locationSuffix = reason.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (locationSuffix > 0)
        {
            reason = reason[..locationSuffix];
        }

        // JsonException positions are zero-based; editors count from one. Some errors (duplicate keys) carry none.
        var location = ex.LineNumber is { } line
            ? string.Create(CultureInfo.InvariantCulture, $" at line {line + 1}, position {(ex.BytePositionInLine ?? 0) + 1}")
            : string.Empty;

        return new ManifestException(
            $"Manifest '{displayName}' is not valid JSON{location}: {reason} Fix the JSON (the manifest is one JSON object, each key once, without comments or trailing commas). See {ReferenceUrl}",
            displayName,
            field: null,
            ex);
    }

    [GeneratedRegex(@"^[a-zA-Z0-9_\-\.]+\z", RegexOptions.CultureInvariant)]
    private static partial Regex IdPattern();

    // Stripe's schema pattern, unchanged: http(s), then at least one character after a slash that follows the host.
    [GeneratedRegex(@"^https?://.*/.+", RegexOptions.CultureInvariant)]
    private static partial Regex ConnectSrcPattern();

    private sealed class Validator(string displayName)
    {
        public AppManifest Validate(JsonElement root, string sourcePath)
        {
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw Invalid("$", $"must be a JSON object holding the app's id, version, name and permissions, not {Describe(root.ValueKind)}.");
            }

            var id = RequiredString(root, "id", "the app's unique ID, for example \"com.example.syncworker\"");
            if (!IdPattern().IsMatch(id))
            {
                throw Invalid("id", $"'{id}' may contain only letters, digits, '_', '-' and '.', for example \"com.example.syncworker\".");
            }

            var version = RequiredString(root, "version", "any non-empty version string you choose, for example \"1.0.0\"");
            var name = RequiredString(root, "name", "the name merchants see in the Dashboard");
            var permissions = Permissions(root);
            var connectSrc = ConnectSrc(root);

            return new AppManifest(id, version, name, sourcePath, permissions, connectSrc);
        }

        private List<ManifestPermission> Permissions(JsonElement root)
        {
            if (!root.TryGetProperty("permissions", out var array))
            {
                throw Invalid("permissions", "is required (an array of {\"permission\": ..., \"purpose\": ...} objects; a backend app that receives events needs at least event_read).");
            }

            if (array.ValueKind != JsonValueKind.Array)
            {
                throw Invalid("permissions", $"must be an array of {{\"permission\": ..., \"purpose\": ...}} objects, not {Describe(array.ValueKind)}.");
            }

            var permissions = new List<ManifestPermission>(array.GetArrayLength());
            var firstIndex = new Dictionary<string, int>(StringComparer.Ordinal);
            var index = 0;
            foreach (var item in array.EnumerateArray())
            {
                var itemPath = string.Create(CultureInfo.InvariantCulture, $"permissions[{index}]");
                if (item.ValueKind != JsonValueKind.Object)
                {
                    throw Invalid(itemPath, $"must be an object with \"permission\" and \"purpose\", not {Describe(item.ValueKind)}.");
                }

                var permission = RequiredString(
                    item,
                    "permission",
                    "a permission ID such as \"event_read\"; see https://docs.stripe.com/stripe-apps/reference/permissions",
                    itemPath + ".");
                var purpose = RequiredString(
                    item,
                    "purpose",
                    "a sentence telling merchants why the app needs the permission",
                    itemPath + ".");

                if (!firstIndex.TryAdd(permission, index))
                {
                    throw Invalid(
                        itemPath + ".permission",
                        string.Create(CultureInfo.InvariantCulture, $"'{permission}' is already listed at permissions[{firstIndex[permission]}]: list each permission once."));
                }

                permissions.Add(new ManifestPermission(permission, purpose));
                index++;
            }

            return permissions;
        }

        private List<string> ConnectSrc(JsonElement root)
        {
            var connectSrc = new List<string>();
            if (!root.TryGetProperty("ui_extension", out var uiExtension))
            {
                return connectSrc;
            }

            if (uiExtension.ValueKind != JsonValueKind.Object)
            {
                throw Invalid("ui_extension", $"must be an object, not {Describe(uiExtension.ValueKind)}.");
            }

            if (!uiExtension.TryGetProperty("content_security_policy", out var policy))
            {
                return connectSrc;
            }

            if (policy.ValueKind != JsonValueKind.Object)
            {
                throw Invalid("ui_extension.content_security_policy", $"must be an object, not {Describe(policy.ValueKind)}.");
            }

            if (!policy.TryGetProperty("connect-src", out var urls) || urls.ValueKind == JsonValueKind.Null)
            {
                return connectSrc;
            }

            if (urls.ValueKind != JsonValueKind.Array)
            {
                throw Invalid(ConnectSrcField, $"must be null or an array of URLs, not {Describe(urls.ValueKind)}.");
            }

            var index = 0;
            foreach (var url in urls.EnumerateArray())
            {
                var urlPath = string.Create(CultureInfo.InvariantCulture, $"{ConnectSrcField}[{index}]");
                if (url.ValueKind != JsonValueKind.String)
                {
                    throw Invalid(urlPath, $"must be a URL string, not {Describe(url.ValueKind)}.");
                }

                var value = url.GetString()!;
                if (!ConnectSrcPattern().IsMatch(value))
                {
                    throw Invalid(
                        urlPath,
                        $"'{value}' must be an http(s) URL with a path, for example \"https://api.example.com/orders\" (that URL only) or \"https://api.example.com/v1/\" (everything below it).");
                }

                connectSrc.Add(value);
                index++;
            }

            return connectSrc;
        }

        private string RequiredString(JsonElement obj, string property, string explanation, string pathPrefix = "")
        {
            var field = pathPrefix + property;
            if (!obj.TryGetProperty(property, out var value))
            {
                throw Invalid(field, $"is required ({explanation}).");
            }

            if (value.ValueKind != JsonValueKind.String)
            {
                throw Invalid(field, $"must be a string ({explanation}), not {Describe(value.ValueKind)}.");
            }

            var text = value.GetString()!;
            if (string.IsNullOrWhiteSpace(text))
            {
                throw Invalid(field, $"must not be empty ({explanation}).");
            }

            return text;
        }

        private ManifestException Invalid(string field, string problem) =>
            new($"Manifest '{displayName}' is invalid: {field} {problem} See {ReferenceUrl}", displayName, field);

        private static string Describe(JsonValueKind kind) => kind switch
        {
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => "an array",
            JsonValueKind.String => "a string",
            JsonValueKind.Number => "a number",
            JsonValueKind.True or JsonValueKind.False => "a boolean",
            JsonValueKind.Null => "null",
            _ => "undefined",
        };
    }
}
