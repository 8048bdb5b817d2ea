using Microsoft.Extensions.Configuration;
using SyncWorker.Manifest;
using SyncWorker.Operations.Cli;

namespace SyncWorker.Operations.Backfill;

/// <summary>
/// What <c>backfill</c> reads from the worker's configuration besides <c>RabbitMq:Uri</c>: the Stripe API key and base URL,
/// and the app manifest (for the permission check the receiver applies). Every problem is a configuration error
/// (exit 78) that names the key; the API key's value is never shown.
/// </summary>
internal sealed class BackfillSettings
{
    public const string ApiKeyKey = "Stripe:ApiKey";
    public const string ApiBaseKey = "Stripe:ApiBase";
    public const string ManifestPathKey = "Manifest:Path";
    public const string DefaultApiBase = "https://api.stripe.com";
    public const string DefaultManifestPath = "manifest/stripe-app.json";

    private static readonly string[] SecretKeyPrefixes = ["sk_", "rk_"];

    private BackfillSettings(string apiKey, string keySetting, Uri apiBase, PermissionPolicy policy)
    {
        ApiKey = apiKey;
        KeySetting = keySetting;
        ApiBase = apiBase;
        Policy = policy;
    }

    /// <summary>The secret (<c>sk_…</c>) or restricted (<c>rk_…</c>) key. Never printed.</summary>
    public string ApiKey { get; }

    /// <summary>The setting the key came from (<c>Stripe:ApiKey</c>, <c>Stripe:ApiKeys:Live</c> or <c>Stripe:ApiKeys:Test</c>), for messages.</summary>
    public string KeySetting { get; }

    /// <summary><c>Stripe:ApiBase</c>, default <see cref="DefaultApiBase"/>.</summary>
    public Uri ApiBase { get; }

    /// <summary>The manifest's permission policy: what Stripe would have delivered to the app.</summary>
    public PermissionPolicy Policy { get; }

    /// <summary>
    /// Reads and checks the settings, in this order: the key (<c>Stripe:ApiKey</c>, else <c>Stripe:ApiKeys:Live</c>, else
    /// <c>Stripe:ApiKeys:Test</c>), <c>Stripe:ApiBase</c>, <c>Manifest:Path</c>.
    /// </summary>
    public static BackfillSettings Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        // Stripe:ApiKey when set; else the live key, else the test key (a deployment with per-mode keys only). One mode per
        // run: to backfill the other mode, run it again with Stripe__ApiKey set to that mode's key.
        var (apiKey, setting) = new[] { ApiKeyKey, Contracts.StripeModeKeys.LiveKeySetting, Contracts.StripeModeKeys.TestKeySetting }
            .Select(key => (Value: configuration[key]?.Trim(), Key: key))
            .FirstOrDefault(candidate => !string.IsNullOrEmpty(candidate.Value));
        if (string.IsNullOrEmpty(apiKey))
        {
            throw CliException.Configuration(
                $"{ApiKeyKey} is not set (nor {Contracts.StripeModeKeys.LiveKeySetting} or {Contracts.StripeModeKeys.TestKeySetting}). backfill lists events with Stripe's API: set {ApiKeyKey} (environment variable " +
                "Stripe__ApiKey) to the app's secret key (sk_…) or a restricted key (rk_…) that may read events, of the mode to backfill.");
        }

        if (!SecretKeyPrefixes.Any(prefix => apiKey.StartsWith(prefix, StringComparison.Ordinal)) || apiKey.Any(char.IsWhiteSpace))
        {
            throw CliException.Configuration(
                $"{setting} is not a secret key (sk_…) or restricted key (rk_…) without spaces: publishable keys (pk_…) and " +
                "webhook secrets (whsec_…) cannot list events. Set it to the app's secret key or a restricted key that may read events.");
        }

        var apiBaseText = configuration[ApiBaseKey];
        if (string.IsNullOrWhiteSpace(apiBaseText))
        {
            apiBaseText = DefaultApiBase;
        }

        if (!Uri.TryCreate(apiBaseText.Trim(), UriKind.Absolute, out var apiBase) || apiBase.Scheme is not ("https" or "http"))
        {
            throw CliException.Configuration(
                $"{ApiBaseKey} must be an absolute http(s) URL; leave it unset for Stripe's API ({DefaultApiBase}).");
        }

        var configuredManifest = configuration[ManifestPathKey];
        var manifestPath = ResolveManifestPath(
            string.IsNullOrWhiteSpace(configuredManifest) ? DefaultManifestPath : configuredManifest.Trim(),
            Environment.CurrentDirectory,
            AppContext.BaseDirectory);
        AppManifest manifest;
        try
        {
            manifest = ManifestLoader.Load(manifestPath);
        }
        catch (ManifestException exception)
        {
            throw CliException.Configuration(
                $"{ManifestPathKey}: {exception.Message} backfill feeds only events the manifest permits, as the receiver does.");
        }

        return new BackfillSettings(apiKey, setting, apiBase, new PermissionPolicy(manifest, EventPermissionTable.LoadEmbedded()));
    }

    /// <summary>
    /// As the worker resolves <c>Manifest:Path</c>: a rooted path as is; a relative one in the working directory first,
    /// then in the application's directory (where the build copies the repository's manifest). When neither exists, the
    /// working-directory path, which is where an operator expects it and what the error then names.
    /// </summary>
    internal static string ResolveManifestPath(string configured, string workingDirectory, string applicationDirectory)
    {
        if (Path.IsPathRooted(configured))
        {
            return configured;
        }

        var fromWorkingDirectory = Path.GetFullPath(configured, workingDirectory);
        if (File.Exists(fromWorkingDirectory))
        {
            return fromWorkingDirectory;
        }

        var fromApplication = Path.GetFullPath(configured, applicationDirectory);
        return File.Exists(fromApplication) ? fromApplication : fromWorkingDirectory;
    }
}
