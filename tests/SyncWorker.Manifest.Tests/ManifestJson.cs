using System.Text.Json.Nodes;

namespace SyncWorker.Manifest.Tests;

/// <summary>Builds small manifests in memory for loader and policy tests.</summary>
internal static class ManifestJson
{
    public const string SourceName = "manifest/stripe-app.json";

    /// <summary>A valid backend-only manifest; tests change one field to make it invalid.</summary>
    public static JsonObject Valid() => new()
    {
        ["id"] = "com.example.syncworker",
        ["version"] = "1.0.0",
        ["name"] = "SyncWorker",
        ["icon"] = "",
        ["permissions"] = new JsonArray(
            Permission("event_read", "Receive webhook events."),
            Permission("checkout_session_read", "Read completed Checkout Sessions."),
            Permission("charge_read", "Receive refund events.")),
        ["ui_extension"] = new JsonObject
        {
            ["content_security_policy"] = new JsonObject
            {
                ["connect-src"] = new JsonArray("https://fulfillment.example.com/webhooks/"),
                ["image-src"] = null,
                ["purpose"] = "Send orders to the fulfillment partner.",
            },
        },
    };

    public static JsonObject Permission(string permission, string purpose) => new()
    {
        ["permission"] = permission,
        ["purpose"] = purpose,
    };

    public static JsonObject WithPermissions(params string[] permissions)
    {
        var manifest = Valid();
        manifest["permissions"] = new JsonArray(
            permissions.Select(p => (JsonNode)Permission(p, $"Needed for {p}.")).ToArray());
        return manifest;
    }

    public static AppManifest Parse(JsonObject manifest) => ManifestLoader.Parse(manifest.ToJsonString(), SourceName);
}
