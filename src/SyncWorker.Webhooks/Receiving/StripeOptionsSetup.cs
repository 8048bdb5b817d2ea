using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using SyncWorker.Webhooks.Signatures;

namespace SyncWorker.Webhooks.Receiving;

/// <summary>
/// Binds <c>Stripe:*</c>. <c>Stripe:WebhookSecrets</c> entries may be plain strings (environment variable
/// <c>Stripe__WebhookSecrets__0=whsec_…</c>) or objects with <c>Secret</c> and <c>TestOnly</c>, which the
/// standard binder cannot mix, so that list is read here.
/// </summary>
internal sealed class StripeOptionsSetup(IConfiguration configuration) : IConfigureOptions<StripeOptions>
{
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
            var testOnly = false;
            if (entry["TestOnly"] is { } flag && !bool.TryParse(flag, out testOnly))
            {
                options.BindingErrors.Add($"{key}:TestOnly must be true or false (got '{flag}').");
            }

            secrets.Add(new WebhookSecret(secret, testOnly));
        }

        options.WebhookSecrets = secrets;
    }
}
