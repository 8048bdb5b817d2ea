using SyncWorker.Contracts;

namespace SyncWorker.Forwarding.Orders;

/// <summary>
/// Configuration section <c>Stripe</c> (shared with the receiver's <c>Stripe:WebhookSecrets</c>): how SyncWorker calls
/// Stripe's API to read the line items of Checkout Sessions for order documents. Needed only when a target uses
/// <c>Format: order</c>.
/// </summary>
public sealed class StripeApiOptions
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Stripe";

    /// <summary>The default of <see cref="ApiBase"/>: Stripe's API.</summary>
    public const string DefaultApiBase = "https://api.stripe.com";

    /// <summary>
    /// Gets or sets <c>Stripe:ApiKey</c>: the app's secret key (<c>sk_…</c>) or a restricted key (<c>rk_…</c>) with
    /// <c>checkout_session_read</c>, of the account that owns the app; calls for an installing merchant send that
    /// merchant's account in <c>Stripe-Account</c>. A key serves one mode: a live key (<c>sk_live_</c>, <c>rk_live_</c>)
    /// reads only live sessions, a test key only test sessions. Never logged, never part of an error message.
    /// Environment: <c>Stripe__ApiKey</c>.
    /// </summary>
    /// <value>
    /// The default value is empty: required when a target uses <c>Format: order</c>, unused otherwise.
    /// </value>
    public string ApiKey { get; set; } = "";

    /// <summary>
    /// Gets <c>Stripe:ApiKeys:Live</c> and <c>Stripe:ApiKeys:Test</c>: a key per mode, so that live and test-mode order
    /// targets run in one deployment; each Stripe call uses the key of its event's mode. Where one is not set,
    /// <see cref="ApiKey"/> serves the mode its prefix names (<c>sk_live_</c>/<c>rk_live_</c> or
    /// <c>sk_test_</c>/<c>rk_test_</c>; a key whose prefix names no mode serves both).
    /// </summary>
    public StripeApiKeys ApiKeys { get; set; } = new();

    /// <summary>The key that reads <paramref name="livemode"/>'s objects and the setting it comes from; null when none does.</summary>
    public (string Key, string Setting)? KeyFor(bool livemode) => StripeModeKeys.For(livemode, ApiKey, ApiKeys.Live, ApiKeys.Test);

    /// <summary>
    /// The key that reads <paramref name="environment"/>'s objects and the setting it comes from; null when none does. A
    /// sandbox's objects are read with <c>Stripe:ApiKeys:Sandbox</c> only.
    /// </summary>
    public (string Key, string Setting)? KeyFor(StripeEnvironment environment) =>
        StripeModeKeys.For(environment, ApiKey, ApiKeys.Live, ApiKeys.Test, ApiKeys.Sandbox);

    /// <summary>
    /// The configuration keys (<c>Stripe:WebhookSecrets:N</c>) of the webhook secrets tagged <c>Mode: sandbox</c>, read from
    /// configuration at start (not bound): with a test-mode order target, they make <c>Stripe:ApiKeys:Sandbox</c> required.
    /// Empty where the secrets are not configured (a forwarder of a split deployment).
    /// </summary>
    public IReadOnlyList<string> SandboxWebhookSecrets { get; set; } = [];

    /// <summary>The configuration key of <see cref="ApiKey"/>.</summary>
    public const string ApiKeySetting = StripeModeKeys.ApiKeySetting;

    /// <summary>The configuration key of the live-mode key.</summary>
    public const string LiveKeySetting = StripeModeKeys.LiveKeySetting;

    /// <summary>The configuration key of the test-mode key.</summary>
    public const string TestKeySetting = StripeModeKeys.TestKeySetting;

    /// <summary>The configuration key of the managed sandbox's key.</summary>
    public const string SandboxKeySetting = StripeModeKeys.SandboxKeySetting;

    /// <summary>
    /// Gets or sets <c>Stripe:ApiBase</c>: the base URL of Stripe's API, an absolute http(s) URL. Change it only to
    /// point SyncWorker at a stand-in (tests, <c>stripe-mock</c>) or an egress proxy.
    /// </summary>
    /// <value>The default value is <c>https://api.stripe.com</c>.</value>
    public string ApiBase { get; set; } = DefaultApiBase;
}

/// <summary><c>Stripe:ApiKeys</c>: a key per mode (never logged, never part of an error message).</summary>
public sealed class StripeApiKeys
{
    /// <summary>Gets or sets <c>Stripe:ApiKeys:Live</c>: a live-mode key (<c>sk_live_…</c> or <c>rk_live_…</c>).</summary>
    public string? Live { get; set; }

    /// <summary>Gets or sets <c>Stripe:ApiKeys:Test</c>: a test-mode key (<c>sk_test_…</c> or <c>rk_test_…</c>).</summary>
    public string? Test { get; set; }

    /// <summary>
    /// Gets or sets <c>Stripe:ApiKeys:Sandbox</c>: the managed sandbox's key, used for the events that a webhook secret
    /// tagged <c>Mode: sandbox</c> verified (a sandbox has keys of its own: no other key reads its objects).
    /// </summary>
    public string? Sandbox { get; set; }
}
