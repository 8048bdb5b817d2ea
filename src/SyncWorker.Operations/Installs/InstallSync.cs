using System.Net;
using Microsoft.Extensions.Configuration;
using Stripe;
using Stripe.Apps;
using SyncWorker.Contracts;
using SyncWorker.Operations.Cli;
using SyncWorker.Store.Installs;

namespace SyncWorker.Operations.Installs;

/// <summary>One account and mode whose row <c>installs sync</c> looked at: its status before and after.</summary>
/// <param name="Account">The merchant (<c>acct_…</c>).</param>
/// <param name="Mode"><c>live</c>, <c>test</c> or <c>sandbox</c>.</param>
/// <param name="Before">The registry's status before (null: not recorded).</param>
/// <param name="After">The status the Install API gives (<c>uninstalled</c> for a recorded install it no longer lists).</param>
public sealed record InstallSyncChange(string Account, string Mode, string? Before, string After);

/// <summary>What <c>installs sync --json</c> prints.</summary>
/// <param name="Store">The store it wrote.</param>
/// <param name="Modes">The modes listed (those with a key).</param>
/// <param name="Skipped">The modes not listed, each with why.</param>
/// <param name="Listed">Installs the API listed.</param>
/// <param name="Changes">Rows whose status changed or that were not recorded before.</param>
public sealed record InstallSyncResult(string Store, IReadOnlyList<string> Modes, IReadOnlyList<string> Skipped, int Listed, IReadOnlyList<InstallSyncChange> Changes);

/// <summary>
/// <c>installs sync</c>: lists the app's installs with Stripe's Install API (<c>GET /v1/apps/installs?app=…</c>, every
/// page) in each mode that has a key (<see cref="StripeModeKeys"/>: a live key lists live installs, a test key test ones,
/// <c>Stripe:ApiKeys:Sandbox</c> the managed sandbox's, recorded as sandbox installs) and writes what it says into the install registry, as of now: an install listed is recorded with its status and
/// permissions; a recorded install of that mode the API no longer lists is recorded as uninstalled. Install events older
/// than the sync then change nothing (the registry keeps the newest word).
/// </summary>
internal static class InstallSync
{
    /// <summary>The configuration key of the app's id in Stripe (<c>app_…</c>), which the Install API filters by.</summary>
    public const string AppIdKey = "Installs:AppId";

    /// <summary>Installs per page: the largest <c>limit</c> Stripe allows.</summary>
    public const int PageSize = 100;

    public static async Task<InstallSyncResult> RunAsync(
        IConfiguration configuration, IInstallRegistry registry, TimeProvider time, string storeDescription, CancellationToken cancellationToken)
    {
        var appId = configuration[AppIdKey]?.Trim();
        if (string.IsNullOrEmpty(appId) || !appId.StartsWith("app_", StringComparison.Ordinal) || appId.Any(char.IsWhiteSpace))
        {
            throw CliException.Configuration(
                $"{AppIdKey} {(string.IsNullOrEmpty(appId) ? "is not set" : $"'{appId}' is not an app id")}: installs sync lists the installs of one app. " +
                "Set it to your app's id in Stripe (app_…, shown on the app's page in the Dashboard; environment variable Installs__AppId).");
        }

        var apiBaseText = configuration["Stripe:ApiBase"];
        var apiBase = string.IsNullOrWhiteSpace(apiBaseText) ? "https://api.stripe.com" : apiBaseText.Trim().TrimEnd('/');
        if (!Uri.TryCreate(apiBase, UriKind.Absolute, out var apiUri) || apiUri.Scheme is not ("https" or "http"))
        {
            throw CliException.Configuration("Stripe:ApiBase must be an absolute http(s) URL; leave it unset for Stripe's API (https://api.stripe.com).");
        }

        var modes = new List<string>();
        var skipped = new List<string>();
        var changes = new List<InstallSyncChange>();
        var listed = 0;
        var now = time.GetUtcNow();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        // Sandboxes before test mode: a sandbox's installs say livemode false as test-mode ones do, and an install the
        // sandbox's key lists is no test-mode install the test key missed.
        var sandboxAccounts = new HashSet<string>(StringComparer.Ordinal);
        foreach (var environment in new[] { StripeEnvironment.Live, StripeEnvironment.Sandbox, StripeEnvironment.Test })
        {
            var mode = environment.Name();
            var livemode = environment == StripeEnvironment.Live;
            var sandbox = environment == StripeEnvironment.Sandbox;
            if (StripeModeKeys.For(environment, configuration[StripeModeKeys.ApiKeySetting], configuration[StripeModeKeys.LiveKeySetting],
                    configuration[StripeModeKeys.TestKeySetting], configuration[StripeModeKeys.SandboxKeySetting]) is not { } key)
            {
                skipped.Add(sandbox
                    ? $"{mode}: no key ({StripeModeKeys.SandboxKeySetting} is not set)"
                    : $"{mode}: no key ({StripeModeKeys.SettingOf(environment)} is not set and {StripeModeKeys.ApiKeySetting} is not a {mode} key)");
                continue;
            }

            modes.Add(mode);
            var client = new StripeClient(new StripeClientOptions { ApiKey = key.Key, ApiBase = apiBase, HttpClient = new SystemNetHttpClient(http) });
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var rows = (await registry.ListAsync(cancellationToken)).Where(r => r.Livemode == livemode).ToList();
            // The status each listed account had in this mode's rows (a sandbox's row recorded before sandboxes were told
            // apart included), and the rows of this mode a missed uninstall is looked for in.
            var was = rows.ToDictionary(r => r.Account, r => r.Status, StringComparer.Ordinal);
            var before = rows
                .Where(r => r.Sandbox == sandbox && !(environment == StripeEnvironment.Test && sandboxAccounts.Contains(r.Account)))
                .ToDictionary(r => r.Account, r => r.Status, StringComparer.Ordinal);
            try
            {
                await foreach (var install in client.V1.Apps.Installs.ListAutoPagingAsync(new InstallListOptions { App = appId, Limit = PageSize }, cancellationToken: cancellationToken))
                {
                    if (string.IsNullOrEmpty(install.Account) || install.Livemode != livemode || (environment == StripeEnvironment.Test && sandboxAccounts.Contains(install.Account)))
                    {
                        continue;
                    }

                    listed++;
                    seen.Add(install.Account);
                    if (sandbox)
                    {
                        sandboxAccounts.Add(install.Account);
                    }

                    var status = InstallStatus.FromStripe(install.Status);
                    await registry.ApplyAsync(new InstallChange(install.Account, livemode, status, install.PermissionsGranted ?? [], install.PermissionsPending ?? [], install.Id ?? "installs sync", now, sandbox), cancellationToken);
                    var previous = was.GetValueOrDefault(install.Account);
                    if (previous != status)
                    {
                        changes.Add(new InstallSyncChange(install.Account, mode, previous, status));
                    }
                }
            }
            catch (StripeException exception)
            {
                var answered = $"Stripe's API at {apiUri.GetComponents(UriComponents.SchemeAndServer, UriFormat.UriEscaped)} answered {(int)exception.HttpStatusCode} to GET /v1/apps/installs ({mode} mode)";
                throw exception.HttpStatusCode switch
                {
                    HttpStatusCode.Unauthorized => CliException.Failed($"{answered}: {key.Setting} was revoked, expired or mistyped. Check it. Nothing more was synced."),
                    HttpStatusCode.Forbidden or HttpStatusCode.NotFound => CliException.Failed(
                        $"{answered}: {key.Setting} may not list {AppIdKey}'s installs (another account's app, or a restricted key without access). Check both. Nothing more was synced."),
                    _ => CliException.Failed($"{answered}{(exception.StripeResponse?.RequestId is { } id ? $" (request {id})" : "")}. Try again later; nothing more was synced."),
                };
            }

            foreach (var (account, status) in before)
            {
                if (status == InstallStatus.Installed && !seen.Contains(account))
                {
                    // Recorded as installed, not among the app's installs: an uninstall whose event was missed.
                    await registry.ApplyAsync(new InstallChange(account, livemode, InstallStatus.Uninstalled, null, null, "installs sync", now, sandbox), cancellationToken);
                    changes.Add(new InstallSyncChange(account, mode, status, InstallStatus.Uninstalled));
                }
            }
        }

        return new InstallSyncResult(storeDescription, modes, skipped, listed, changes);
    }
}
