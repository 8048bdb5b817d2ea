using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using SyncWorker.Forwarding.Targets;

namespace SyncWorker.Forwarding.Orders;

/// <summary>
/// Start-up validation of <see cref="StripeApiOptions"/>, meaningful only when a target uses <c>Format: order</c>
/// (only order documents call Stripe's API). Every message names the key and the fix and never echoes the key's value.
/// </summary>
/// <remarks>
/// The targets are read straight from configuration (<c>Fulfillment:Targets</c>), not through
/// <c>IOptions&lt;FulfillmentOptions&gt;</c>: the targets' own validation reads <c>IOptions&lt;StripeApiOptions&gt;</c>,
/// and two validators reading each other's options would recurse while the first value is being created.
/// </remarks>
public sealed class StripeApiOptionsValidation(IConfiguration configuration) : IValidateOptions<StripeApiOptions>
{
    /// <summary>The message when the key is missing.</summary>
    internal const string ApiKeyRequired =
        "Stripe:ApiKey is required when a target uses Format order: set it to a secret key (sk_…) or restricted key (rk_…) with checkout_session_read.";

    private static readonly string[] SecretKeyPrefixes = ["sk_", "rk_"];

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, StripeApiOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var targets = configuration.GetSection(FulfillmentOptions.Section).Get<FulfillmentOptions>()?.Targets ?? [];
        var errors = Validate(options, targets).ToList();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>
    /// What is wrong with <paramref name="options"/> for reading Checkout Sessions; empty when nothing is. Call it only
    /// when a target uses <c>Format: order</c>.
    /// </summary>
    public static IEnumerable<string> Validate(StripeApiOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        var key = options.ApiKey;
        if (string.IsNullOrWhiteSpace(key))
        {
            errors.Add(ApiKeyRequired);
        }
        else if (!SecretKeyPrefixes.Any(prefix => key.StartsWith(prefix, StringComparison.Ordinal)))
        {
            errors.Add(
                "Stripe:ApiKey is not a secret key (sk_…) or restricted key (rk_…): publishable keys (pk_…) and webhook " +
                "secrets (whsec_…) cannot read Checkout Sessions. Set it to a secret or restricted key with checkout_session_read.");
        }
        else if (key.Any(char.IsWhiteSpace))
        {
            errors.Add("Stripe:ApiKey contains whitespace: copy the key again, without spaces or line breaks.");
        }

        if (!Uri.TryCreate(options.ApiBase, UriKind.Absolute, out var apiBase) || apiBase.Scheme is not ("https" or "http"))
        {
            errors.Add($"Stripe:ApiBase must be an absolute http(s) URL; leave it unset for Stripe's API ({StripeApiOptions.DefaultApiBase}).");
        }

        return errors;
    }

    /// <summary>
    /// <see cref="Validate(StripeApiOptions)"/> when one of <paramref name="targets"/> uses <c>Format: order</c>, plus the
    /// key's mode against those targets' modes (one key reads one mode's sessions); empty when no target uses
    /// <c>Format: order</c>.
    /// </summary>
    public static IEnumerable<string> Validate(StripeApiOptions options, IReadOnlyList<TargetOptions> targets)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(targets);
        var errors = new List<string>();
        if (!targets.Any(IsOrderTarget))
        {
            return errors;
        }

        errors.AddRange(Validate(options));
        var keyMode = StripeKeys.ModeOf(options.ApiKey);
        for (var i = 0; i < targets.Count; i++)
        {
            var target = targets[i];
            if (!IsOrderTarget(target) || keyMode is null)
            {
                continue;
            }

            var label = string.IsNullOrWhiteSpace(target.Name) ? $"Fulfillment:Targets:{i}" : $"Fulfillment:Targets:{i} ('{target.Name}')";
            if (target.IsLive && keyMode == StripeKeyMode.Test)
            {
                errors.Add(
                    $"{label} is a live target with Format order, but Stripe:ApiKey is a test-mode key, which cannot read live " +
                    "Checkout Sessions: set Stripe:ApiKey to a live key (sk_live_… or rk_live_…), or set the target's Mode to test.");
            }
            else if (string.Equals(target.Mode, "test", StringComparison.OrdinalIgnoreCase) && keyMode == StripeKeyMode.Live)
            {
                errors.Add(
                    $"{label} is a test target with Format order, but Stripe:ApiKey is a live-mode key, which cannot read test " +
                    "Checkout Sessions: serve test targets from another SyncWorker with a test key, or use Format event for this target.");
            }
        }

        return errors;
    }

    private static bool IsOrderTarget(TargetOptions target) =>
        string.Equals(target.Format, TargetOptions.OrderFormat, StringComparison.Ordinal);
}
