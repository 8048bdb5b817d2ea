using SyncWorker.Contracts;
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
    /// <summary>The message when no key is set.</summary>
    internal const string ApiKeyRequired =
        "Stripe:ApiKey (or Stripe:ApiKeys:Live and Stripe:ApiKeys:Test, a key per mode) is required when a target uses Format order: " +
        "set it to a secret key (sk_…) or restricted key (rk_…) with checkout_session_read.";

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
    /// What is wrong with <paramref name="options"/> for reading Checkout Sessions: no key at all, a key that is not a
    /// secret or restricted key, a per-mode key of the other mode, a bad <c>Stripe:ApiBase</c>; empty when nothing is.
    /// Call it only when a target uses <c>Format: order</c>.
    /// </summary>
    public static IEnumerable<string> Validate(StripeApiOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        var keys = new (string Setting, string? Key, bool? Live)[]
        {
            (StripeApiOptions.ApiKeySetting, options.ApiKey, null),
            (StripeApiOptions.LiveKeySetting, options.ApiKeys.Live, true),
            (StripeApiOptions.TestKeySetting, options.ApiKeys.Test, false),
            (StripeApiOptions.SandboxKeySetting, options.ApiKeys.Sandbox, false),
        };
        if (keys.All(k => string.IsNullOrWhiteSpace(k.Key)))
        {
            errors.Add(ApiKeyRequired);
        }

        foreach (var (setting, key, mode) in keys.Where(k => !string.IsNullOrWhiteSpace(k.Key)))
        {
            if (!SecretKeyPrefixes.Any(prefix => key!.StartsWith(prefix, StringComparison.Ordinal)))
            {
                errors.Add(
                    $"{setting} is not a secret key (sk_…) or restricted key (rk_…): publishable keys (pk_…) and webhook " +
                    "secrets (whsec_…) cannot read Checkout Sessions. Set it to a secret or restricted key with checkout_session_read.");
            }
            else if (key!.Any(char.IsWhiteSpace))
            {
                errors.Add($"{setting} contains whitespace: copy the key again, without spaces or line breaks.");
            }
            else if (mode is { } wanted && StripeModeKeys.IsLive(key) is { } actual && actual != wanted)
            {
                errors.Add(
                    $"{setting} is a {(actual ? "live" : "test")}-mode key: it must be a {(wanted ? "live" : "test")} key " +
                    $"({(wanted ? "sk_live_… or rk_live_…" : "sk_test_… or rk_test_…")})" +
                    (setting == StripeApiOptions.SandboxKeySetting ? ": sandbox events are test-mode events, which a live key cannot read." : "."));
            }
        }

        if (!Uri.TryCreate(options.ApiBase, UriKind.Absolute, out var apiBase) || apiBase.Scheme is not ("https" or "http"))
        {
            errors.Add($"Stripe:ApiBase must be an absolute http(s) URL; leave it unset for Stripe's API ({StripeApiOptions.DefaultApiBase}).");
        }

        return errors;
    }

    /// <summary>
    /// <see cref="Validate(StripeApiOptions)"/> when one of <paramref name="targets"/> uses <c>Format: order</c>, plus a
    /// key for the mode of each order target (one key reads one mode's sessions); empty when no target uses
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
        if (errors.Count > 0)
        {
            return errors;
        }

        for (var i = 0; i < targets.Count; i++)
        {
            var target = targets[i];
            if (!IsOrderTarget(target))
            {
                continue;
            }

            var label = string.IsNullOrWhiteSpace(target.Name) ? $"Fulfillment:Targets:{i}" : $"Fulfillment:Targets:{i} ('{target.Name}')";
            var live = target.IsLive;
            if (!live && !string.Equals(target.Mode, "test", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (options.KeyFor(live) is null)
            {
                var mode = live ? "live" : "test";
                var legacy = string.IsNullOrWhiteSpace(options.ApiKey) ? "" : $" (Stripe:ApiKey is a {(live ? "test" : "live")}-mode key)";
                errors.Add(
                    $"{label} is a {mode} target with Format order, but no key reads {mode} Checkout Sessions{legacy}: set {(live ? StripeApiOptions.LiveKeySetting : StripeApiOptions.TestKeySetting)} to a {mode} key " +
                    $"({(live ? "sk_live_… or rk_live_…" : "sk_test_… or rk_test_…")}), or set the target's Mode to {(live ? "test" : "live")}.");
            }
        }

        var sandboxSecrets = options.SandboxWebhookSecrets;
        if (sandboxSecrets.Count > 0 && options.KeyFor(StripeEnvironment.Sandbox) is null)
        {
            var testOrderTargets = targets
                .Select((target, i) => (target, i))
                .Where(t => IsOrderTarget(t.target) && string.Equals(t.target.Mode, "test", StringComparison.OrdinalIgnoreCase))
                .Select(t => string.IsNullOrWhiteSpace(t.target.Name) ? $"Fulfillment:Targets:{t.i}" : $"Fulfillment:Targets:{t.i} ('{t.target.Name}')")
                .ToList();
            if (testOrderTargets.Count > 0)
            {
                errors.Add(
                    $"{string.Join(" and ", sandboxSecrets)} {(sandboxSecrets.Count == 1 ? "is a secret" : "are secrets")} tagged Mode sandbox, and " +
                    $"{string.Join(", ", testOrderTargets)} {(testOrderTargets.Count == 1 ? "is a test target" : "are test targets")} with Format order, " +
                    $"which receive sandbox events, but {StripeApiOptions.SandboxKeySetting} is not set: the sandbox's Checkout Sessions can be read only " +
                    $"with its own key. Set {StripeApiOptions.SandboxKeySetting} to the managed sandbox's secret key (sk_…) or restricted key (rk_…) " +
                    "with checkout_session_read, or remove the sandbox secret.");
            }
        }

        return errors;
    }

    /// <summary>
    /// The keys (<c>Stripe:WebhookSecrets:N</c>) of the webhook secrets whose <c>Mode</c> is <c>sandbox</c>, in
    /// <paramref name="configuration"/> (the receiver's options parse and check them; here only the tag matters).
    /// </summary>
    public static IReadOnlyList<string> SandboxSecretKeys(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return configuration.GetSection("Stripe:WebhookSecrets").GetChildren()
            .Where(entry => string.Equals(entry["Mode"]?.Trim(), "sandbox", StringComparison.OrdinalIgnoreCase))
            .Select(entry => $"Stripe:WebhookSecrets:{entry.Key}")
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    private static bool IsOrderTarget(TargetOptions target) =>
        string.Equals(target.Format, TargetOptions.OrderFormat, StringComparison.Ordinal);
}
