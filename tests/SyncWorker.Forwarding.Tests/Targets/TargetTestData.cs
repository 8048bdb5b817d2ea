using System.Text.Json.Nodes;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Manifest;

namespace SyncWorker.Forwarding.Tests.Targets;

/// <summary>Manifests, targets and events for the target tests.</summary>
internal static class TargetTestData
{
    public const string ManifestName = "test-stripe-app.json";
    public const string Merchant = "acct_1Qx7ExampleMrch01";
    public const string OtherMerchant = "acct_1Qx7ExampleMrch99";

    /// <summary>A Standard Webhooks secret of 32 bytes.</summary>
    public static readonly string SigningSecret =
        "whsec_" + Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)(i * 41)).ToArray());

    private static readonly Lazy<string> LazyRoot = new(FindRoot);

    /// <summary>The directory holding SyncWorker.sln, found by walking up from the test output.</summary>
    public static string RepoRoot => LazyRoot.Value;

    public static string RepoManifestPath => Path.Combine(RepoRoot, "manifest", "stripe-app.json");

    /// <summary>
    /// A valid manifest with <c>event_read</c> and <paramref name="permissions"/>, whose connect-src is
    /// <paramref name="connectSrc"/> (null writes <c>"connect-src": null</c>), parsed by the real loader.
    /// </summary>
    public static AppManifest Manifest(IEnumerable<string>? connectSrc, params string[] permissions)
    {
        var granted = new JsonArray { Permission("event_read") };
        foreach (var permission in permissions)
        {
            granted.Add(Permission(permission));
        }

        var urls = connectSrc is null ? null : new JsonArray(connectSrc.Select(url => (JsonNode?)JsonValue.Create(url)).ToArray());
        var root = new JsonObject
        {
            ["id"] = "com.example.syncworker.tests",
            ["version"] = "1.0.0",
            ["name"] = "SyncWorker tests",
            ["permissions"] = granted,
            ["ui_extension"] = new JsonObject
            {
                ["content_security_policy"] = new JsonObject { ["connect-src"] = urls },
            },
        };
        return ManifestLoader.Parse(root.ToJsonString(), ManifestName);
    }

    public static StripeEventReceived Event(string type, bool livemode = true, string? account = Merchant) =>
        new(
            "evt_1Qx7ExampleRouteTest01",
            type,
            account,
            livemode,
            "2025-03-31.basil",
            new DateTimeOffset(2026, 8, 6, 5, 59, 0, TimeSpan.Zero),
            "checkout.session",
            "cs_test_route",
            new DateTimeOffset(2026, 8, 6, 6, 0, 0, TimeSpan.Zero),
            "{}");

    public static TargetOptions Target(string mode = "live", string[]? events = null, string[]? accounts = null) => new()
    {
        Name = "warehouse",
        Url = "https://fulfillment.example.com/webhooks/orders",
        Mode = mode,
        Events = [.. events ?? ["checkout.session.completed"]],
        Accounts = [.. accounts ?? []],
        SigningSecret = SigningSecret,
    };

    private static JsonObject Permission(string permission) => new()
    {
        ["permission"] = permission,
        ["purpose"] = "Needed by the tests.",
    };

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SyncWorker.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException(
            $"No SyncWorker.sln above '{AppContext.BaseDirectory}'; run the tests from a checkout of the repository.");
    }
}
