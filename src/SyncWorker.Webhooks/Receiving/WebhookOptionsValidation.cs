using Microsoft.Extensions.Options;

namespace SyncWorker.Webhooks.Receiving;

/// <summary>Start-up validation of <c>Stripe:*</c>: each message names the key and the fix, never a secret's value.</summary>
internal sealed class StripeOptionsValidation : IValidateOptions<StripeOptions>
{
    public ValidateOptionsResult Validate(string? name, StripeOptions options)
    {
        var errors = new List<string>(options.BindingErrors);
        if (options.WebhookSecrets.Count == 0)
        {
            errors.Add(
                "Stripe:WebhookSecrets is empty: set at least one webhook signing secret (whsec_…), for example the " +
                "environment variable Stripe__WebhookSecrets__0=whsec_… . Stripe shows it under Developers > Webhooks > " +
                "your endpoint > Signing secret; `stripe listen` prints one for local testing.");
        }

        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < options.WebhookSecrets.Count; i++)
        {
            var secret = options.WebhookSecrets[i].Secret;
            var key = $"Stripe:WebhookSecrets:{i}";
            if (string.IsNullOrWhiteSpace(secret))
            {
                errors.Add($"{key} is empty: give the endpoint signing secret (whsec_…) or remove the entry.");
            }
            else if (!secret.StartsWith("whsec_", StringComparison.Ordinal) || secret.Length < 16)
            {
                errors.Add(
                    $"{key} does not look like a Stripe webhook signing secret: it must start with 'whsec_'. " +
                    "Copy the endpoint's signing secret, not an API key (sk_…, rk_…).");
            }
            else if (!seen.TryAdd(secret, i))
            {
                errors.Add($"{key} repeats Stripe:WebhookSecrets:{seen[secret]}: remove one of them.");
            }
        }

        if (options.SignatureToleranceSeconds is < 1 or > 3600)
        {
            errors.Add(
                $"Stripe:SignatureToleranceSeconds must be between 1 and 3600 (got {options.SignatureToleranceSeconds}); " +
                "the default 300 is Stripe's. Zero would switch off replay protection and is not allowed.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Start-up validation of <c>Webhooks:*</c>.</summary>
internal sealed class WebhookOptionsValidation : IValidateOptions<WebhookOptions>
{
    public ValidateOptionsResult Validate(string? name, WebhookOptions options)
    {
        var errors = new List<string>();
        if (options.MaxBodyBytes is < 1024 or > 16 * 1024 * 1024)
        {
            errors.Add(
                $"Webhooks:MaxBodyBytes must be between 1024 and 16777216 (got {options.MaxBodyBytes}); the default " +
                "524288 (512 KiB) holds any Stripe event.");
        }

        if (options.PublishTimeoutSeconds is < 1 or > 60)
        {
            errors.Add(
                $"Webhooks:PublishTimeoutSeconds must be between 1 and 60 (got {options.PublishTimeoutSeconds}); " +
                "keep it below Stripe's request timeout so a slow broker gives 503 and a retry, not a dropped request.");
        }

        if (options.RetryAfterSeconds is < 1 or > 3600)
        {
            errors.Add($"Webhooks:RetryAfterSeconds must be between 1 and 3600 (got {options.RetryAfterSeconds}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
