using System.Net;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Manifest;

namespace SyncWorker.Forwarding.Health;

/// <summary>
/// <c>Notifications:*</c>: the operations webhook told when a target is disabled for failing. Off by default (the log
/// says it either way).
/// </summary>
public sealed class NotificationOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Notifications";

    /// <summary>
    /// <c>Url</c>: where notifications are POSTed (JSON, Standard Webhooks headers). Default none: nothing is sent. Must be
    /// allowed by the manifest's <c>connect-src</c>, and https in the Production environment unless its host is a loopback
    /// address.
    /// </summary>
    public string? Url { get; set; }

    /// <summary>
    /// <c>SigningSecret</c>: the Standard Webhooks secret (<c>whsec_…</c>) notifications are signed with, as deliveries are.
    /// Required with <see cref="Url"/>. Never logged.
    /// </summary>
    public string? SigningSecret { get; set; }

    /// <summary>True when a URL is set.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(Url);
}

/// <summary>Start-up checks of <see cref="NotificationOptions"/>: every message names the key and the fix, never the secret.</summary>
public sealed class NotificationOptionsValidation(AppManifest manifest, IHostEnvironment environment) : IValidateOptions<NotificationOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, NotificationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = Check(options, new ConnectSrcPolicy(manifest), manifest.SourcePath, environment.IsProduction()).ToList();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>What is wrong with <paramref name="options"/>.</summary>
    public static IEnumerable<string> Check(NotificationOptions options, ConnectSrcPolicy connectSrc, string manifestPath, bool production)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(connectSrc);
        const string UrlKey = NotificationOptions.Section + ":Url";
        const string SecretKey = NotificationOptions.Section + ":SigningSecret";
        if (!options.Enabled)
        {
            if (!string.IsNullOrWhiteSpace(options.SigningSecret))
            {
                yield return $"{SecretKey} is set without {UrlKey}: set {UrlKey} to your operations webhook (for example https://ops.example.com/hooks/syncworker), or remove the secret.";
            }

            yield break;
        }

        if (!Uri.TryCreate(options.Url, UriKind.Absolute, out var url) || url.Scheme is not ("https" or "http"))
        {
            yield return $"{UrlKey} must be an absolute http or https URL, for example https://ops.example.com/hooks/syncworker (the value given is not shown).";
        }
        else if (!string.IsNullOrEmpty(url.UserInfo))
        {
            yield return $"{UrlKey} contains credentials (user:password@…), which are not allowed and not shown here: the notification is authenticated by its signature ({SecretKey}).";
        }
        else
        {
            if (url.Scheme == Uri.UriSchemeHttp && production && !IsLoopback(url))
            {
                yield return $"{UrlKey} uses http://{url.Authority} in the Production environment: notifications go over HTTPS only. Use an https:// URL, or a loopback host (localhost, 127.0.0.0/8, ::1).";
            }

            if (!connectSrc.Allows(url))
            {
                yield return $"{UrlKey} sends to {url.AbsoluteUri}, which the manifest {manifestPath} does not allow: add that URL (or a folder URL ending in '/' above it) to ui_extension.content_security_policy.connect-src, or correct {UrlKey}.";
            }
        }

        if (!StandardWebhookSigner.TryParseSecret(options.SigningSecret, out _, out var error))
        {
            yield return $"{SecretKey} {error.Replace("set the target's signing secret", $"set {SecretKey}", StringComparison.Ordinal)} The notification is signed with it as deliveries are.";
        }
    }

    private static bool IsLoopback(Uri url) =>
        string.Equals(url.IdnHost, "localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(url.IdnHost, out var address) && IPAddress.IsLoopback(address));
}
