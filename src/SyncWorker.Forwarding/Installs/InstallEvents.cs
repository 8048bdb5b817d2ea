using System.Text.Json;
using SyncWorker.Contracts;
using SyncWorker.Store.Installs;

namespace SyncWorker.Forwarding.Installs;

/// <summary>
/// Reads what Stripe's install events say about an install: <c>account.application.authorized</c> (installed) and
/// <c>account.application.deauthorized</c> (uninstalled), for the event's <c>account</c> and mode, and the App Installs
/// API's <c>apps.install.created</c> / <c>updated</c> (the install object's <c>status</c>, <c>account</c>,
/// <c>livemode</c>, <c>permissions_granted</c>, <c>permissions_pending</c>) and <c>apps.install.deleted</c> (uninstalled).
/// An event verified by a secret tagged <c>Mode: sandbox</c> records a sandbox's install.
/// </summary>
public static class InstallEvents
{
    /// <summary>The event types the install registry reads.</summary>
    public static readonly IReadOnlySet<string> Types = new HashSet<string>(StringComparer.Ordinal)
    {
        "account.application.authorized",
        "account.application.deauthorized",
        "apps.install.created",
        "apps.install.updated",
        "apps.install.deleted",
    };

    /// <summary>True for an event type the install registry reads.</summary>
    public static bool IsInstallEvent(string eventType) => Types.Contains(eventType);

    /// <summary>
    /// The change <paramref name="evt"/> says, or null when it names no merchant account (the app's own account: a private
    /// app, which is installed as long as it runs) or is no install event.
    /// </summary>
    /// <exception cref="JsonException">The payload is not the JSON of a Stripe event.</exception>
    public static InstallChange? Read(StripeEventReceived evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        switch (evt.Type)
        {
            case "account.application.authorized":
                return evt.Account is { Length: > 0 } installed ? new InstallChange(installed, evt.Livemode, InstallStatus.Installed, null, null, evt.EventId, evt.Created, evt.Sandbox) : null;
            case "account.application.deauthorized":
                return evt.Account is { Length: > 0 } uninstalled ? new InstallChange(uninstalled, evt.Livemode, InstallStatus.Uninstalled, null, null, evt.EventId, evt.Created, evt.Sandbox) : null;
            case "apps.install.created" or "apps.install.updated" or "apps.install.deleted":
                break;
            default:
                return null;
        }

        using var document = JsonDocument.Parse(evt.Payload.Utf8);
        var install = document.RootElement.TryGetProperty("data", out var data) && data.TryGetProperty("object", out var o) && o.ValueKind == JsonValueKind.Object
            ? o
            : default;
        var account = String(install, "account") ?? evt.Account;
        if (account is not { Length: > 0 })
        {
            return null;
        }

        var livemode = install.ValueKind == JsonValueKind.Object && install.TryGetProperty("livemode", out var live) && live.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? live.GetBoolean()
            : evt.Livemode;
        var status = evt.Type == "apps.install.deleted" ? InstallStatus.Uninstalled : InstallStatus.FromStripe(String(install, "status"));
        return new InstallChange(account, livemode, status, Permissions(install, "permissions_granted"), Permissions(install, "permissions_pending"), evt.EventId, evt.Created, evt.Sandbox);
    }

    private static string? String(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    // A list of permission names, or of objects naming one ({"permission": "event_read", …}); null when absent.
    private static string[]? Permissions(JsonElement install, string name)
    {
        if (install.ValueKind != JsonValueKind.Object || !install.TryGetProperty(name, out var list) || list.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        return list.EnumerateArray()
            .Select(item => item.ValueKind == JsonValueKind.String ? item.GetString() : String(item, "permission"))
            .Where(permission => permission is { Length: > 0 })
            .Select(permission => permission!)
            .ToArray();
    }
}
