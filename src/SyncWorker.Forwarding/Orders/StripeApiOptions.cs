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
    /// Gets or sets <c>Stripe:ApiBase</c>: the base URL of Stripe's API, an absolute http(s) URL. Change it only to
    /// point SyncWorker at a stand-in (tests, <c>stripe-mock</c>) or an egress proxy.
    /// </summary>
    /// <value>The default value is <c>https://api.stripe.com</c>.</value>
    public string ApiBase { get; set; } = DefaultApiBase;
}
