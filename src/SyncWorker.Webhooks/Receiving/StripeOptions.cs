using SyncWorker.Webhooks.Signatures;

namespace SyncWorker.Webhooks.Receiving;

/// <summary>Configuration section <c>Stripe</c>: how incoming webhooks are authenticated.</summary>
public sealed class StripeOptions
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Stripe";

    /// <summary>
    /// <c>Stripe:WebhookSecrets</c>: the endpoint signing secrets (<c>whsec_…</c>) accepted, in order. Several
    /// at once let a secret be rolled without downtime. Each entry is either a plain string or an object
    /// <c>{ "Secret": "whsec_…", "TestOnly": true }</c> or <c>{ "Secret": "whsec_…", "Mode": "sandbox" }</c> (<c>Mode</c>:
    /// <c>live</c>, <c>test</c> or <c>sandbox</c>); a test-only or sandbox secret never authenticates a live-mode event, and
    /// the events a sandbox secret verifies use <c>Stripe:ApiKeys:Sandbox</c>.
    /// Required; no default.
    /// </summary>
    public IReadOnlyList<WebhookSecret> WebhookSecrets { get; set; } = [];

    /// <summary>
    /// <c>Stripe:SignatureToleranceSeconds</c>: how far the signature timestamp may be from now, in either
    /// direction, before the delivery is refused as a replay. Default 300 (Stripe's libraries); 1 to 3600.
    /// </summary>
    public int SignatureToleranceSeconds { get; set; } = 300;

    /// <summary>Problems found while binding <see cref="WebhookSecrets"/>, reported by validation at start.</summary>
    internal List<string> BindingErrors { get; } = [];
}
