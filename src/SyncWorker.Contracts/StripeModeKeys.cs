namespace SyncWorker.Contracts;

/// <summary>
/// Which Stripe API key serves a mode: <c>Stripe:ApiKeys:Live</c> or <c>Stripe:ApiKeys:Test</c> when set, else
/// <c>Stripe:ApiKey</c> for the mode its prefix names (<c>sk_live_</c>/<c>rk_live_</c>, <c>sk_test_</c>/<c>rk_test_</c>;
/// a key whose prefix names no mode serves both). A sandbox event (<see cref="StripeEnvironment.Sandbox"/>) is served by
/// <c>Stripe:ApiKeys:Sandbox</c> only: a sandbox has keys of its own, and no other key reads its objects. Shared by the forward
/// stage and the operations verbs.
/// </summary>
public static class StripeModeKeys
{
    /// <summary>The configuration key of the one key of earlier versions.</summary>
    public const string ApiKeySetting = "Stripe:ApiKey";

    /// <summary>The configuration key of the live-mode key.</summary>
    public const string LiveKeySetting = "Stripe:ApiKeys:Live";

    /// <summary>The configuration key of the test-mode key.</summary>
    public const string TestKeySetting = "Stripe:ApiKeys:Test";

    /// <summary>The configuration key of the managed sandbox's key.</summary>
    public const string SandboxKeySetting = "Stripe:ApiKeys:Sandbox";

    /// <summary>The configuration key of the key of <paramref name="environment"/>'s own (not <see cref="ApiKeySetting"/>).</summary>
    public static string SettingOf(StripeEnvironment environment) => environment switch
    {
        StripeEnvironment.Live => LiveKeySetting,
        StripeEnvironment.Test => TestKeySetting,
        _ => SandboxKeySetting,
    };

    /// <summary>
    /// The key that serves <paramref name="environment"/> and the setting it comes from; null when none does. A sandbox is
    /// served by <paramref name="sandboxKey"/> alone.
    /// </summary>
    public static (string Key, string Setting)? For(StripeEnvironment environment, string? apiKey, string? liveKey, string? testKey, string? sandboxKey) =>
        environment == StripeEnvironment.Sandbox
            ? string.IsNullOrWhiteSpace(sandboxKey) ? null : (sandboxKey, SandboxKeySetting)
            : For(environment == StripeEnvironment.Live, apiKey, liveKey, testKey);

    /// <summary>True for a live-mode key, false for a test-mode key, null when its prefix does not say.</summary>
    public static bool? IsLive(string? key) =>
        key is null ? null
        : key.StartsWith("sk_live_", StringComparison.Ordinal) || key.StartsWith("rk_live_", StringComparison.Ordinal) ? true
        : key.StartsWith("sk_test_", StringComparison.Ordinal) || key.StartsWith("rk_test_", StringComparison.Ordinal) ? false
        : null;

    /// <summary>The key that serves <paramref name="livemode"/> and the setting it comes from; null when none does.</summary>
    public static (string Key, string Setting)? For(bool livemode, string? apiKey, string? liveKey, string? testKey)
    {
        if ((livemode ? liveKey : testKey) is { Length: > 0 } own && !string.IsNullOrWhiteSpace(own))
        {
            return (own, livemode ? LiveKeySetting : TestKeySetting);
        }

        if (string.IsNullOrWhiteSpace(apiKey))
        {
            return null;
        }

        return IsLive(apiKey) is { } live && live != livemode ? null : (apiKey, ApiKeySetting);
    }
}
