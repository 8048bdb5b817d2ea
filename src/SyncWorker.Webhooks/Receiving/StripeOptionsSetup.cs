using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using SyncWorker.Webhooks.Signatures;

namespace SyncWorker.Webhooks.Receiving;

/// <summary>
/// Binds <c>Stripe:*</c>. <c>Stripe:WebhookSecrets</c> entries may be plain strings (environment variable
/// <c>Stripe__WebhookSecrets__0=whsec_…</c>) or objects with <c>Secret</c>, <c>TestOnly</c> and <c>Mode</c>
/// (<c>live</c>, <c>test</c> or <c>sandbox</c>), which the standard binder cannot mix, so that list is read here. A
/// <c>TestOnly</c> that contradicts <c>Mode</c> is refused at start, naming the key.
/// </summary>
internal sealed class StripeOptionsSetup(IConfiguration configuration) : IConfigureOptions<StripeOptions>
{
    private const string StripeModeKeysSetting = Contracts.StripeModeKeys.SandboxKeySetting;

    public void Configure(StripeOptions options)
    {
        var section = configuration.GetSection(StripeOptions.Section);
        if (section["SignatureToleranceSeconds"] is { } tolerance)
        {
            if (int.TryParse(tolerance, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds))
            {
                options.SignatureToleranceSeconds = seconds;
            }
            else
            {
                options.BindingErrors.Add(
                    $"Stripe:SignatureToleranceSeconds must be a whole number of seconds (got '{tolerance}'). Use 300 unless you know why not.");
            }
        }

        var secrets = new List<WebhookSecret>();
        foreach (var entry in section.GetSection("WebhookSecrets").GetChildren()
                     .OrderBy(child => int.TryParse(child.Key, CultureInfo.InvariantCulture, out var index) ? index : int.MaxValue))
        {
            var key = $"Stripe:WebhookSecrets:{entry.Key}";
            if (entry.Value is { } plain)
            {
                secrets.Add(new WebhookSecret(plain.Trim(), TestOnly: false));
                continue;
            }

            var secret = entry["Secret"]?.Trim() ?? "";
            bool? testOnly = null;
            if (entry["TestOnly"] is { } flag)
            {
                if (bool.TryParse(flag, out var parsed))
                {
                    testOnly = parsed;
                }
                else
                {
                    options.BindingErrors.Add($"{key}:TestOnly must be true or false (got '{flag}').");
                }
            }

            var mode = entry["Mode"]?.Trim();
            switch (mode?.ToLowerInvariant())
            {
                case null or "":
                    secrets.Add(new WebhookSecret(secret, testOnly ?? false));
                    break;
                case "live" when testOnly is true:
                    options.BindingErrors.Add(
                        $"{key} has Mode live and TestOnly true, which contradict each other: a live endpoint's secret must " +
                        $"authenticate live events. Remove {key}:TestOnly, or set {key}:Mode to test if it is a test-mode endpoint's secret.");
                    break;
                case "live":
                    secrets.Add(new WebhookSecret(secret, TestOnly: false));
                    break;
                case "test" when testOnly is false:
                    options.BindingErrors.Add(
                        $"{key} has Mode test and TestOnly false, which contradict each other: a test-mode endpoint's secret " +
                        $"never authenticates live events. Remove {key}:TestOnly (Mode test is enough), or set {key}:Mode to live.");
                    break;
                case "test":
                    secrets.Add(new WebhookSecret(secret, TestOnly: true));
                    break;
                case "sandbox" when testOnly is not null:
                    options.BindingErrors.Add(
                        $"{key} has Mode sandbox and TestOnly {(testOnly.Value ? "true" : "false")}: remove {key}:TestOnly. A sandbox " +
                        $"secret never authenticates live events, and its events use {StripeModeKeysSetting}; for a test-mode " +
                        $"endpoint's secret set {key}:Mode to test instead.");
                    break;
                case "sandbox":
                    secrets.Add(WebhookSecret.ForSandbox(secret));
                    break;
                default:
                    options.BindingErrors.Add(
                        $"{key}:Mode must be live, test or sandbox (got '{mode}'): sandbox for the secret of your app's managed " +
                        "sandbox's endpoint, test for a test-mode endpoint's, live (or no Mode) for a live endpoint's.");
                    break;
            }
        }

        options.WebhookSecrets = secrets;
    }
}
