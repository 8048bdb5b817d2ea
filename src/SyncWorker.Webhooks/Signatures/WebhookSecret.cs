namespace SyncWorker.Webhooks.Signatures;

/// <summary>
/// One endpoint signing secret (<c>whsec_…</c>) that <see cref="StripeSignatureVerifier"/> accepts.
/// Several can be configured at once: one per mode (test/live) and, during a secret roll, the old
/// and the new secret side by side.
/// </summary>
/// <param name="Secret">
/// The signing secret exactly as Stripe shows it, <c>whsec_</c> prefix included: Stripe keys the
/// HMAC with the UTF-8 bytes of the whole string.
/// </param>
/// <param name="TestOnly">
/// <see langword="true"/> for a test-mode (or sandbox) endpoint secret. The verifier reports which
/// secret matched so the caller can refuse live-mode events signed with a test secret.
/// </param>
/// <remarks>
/// A sandbox secret (<see cref="ForSandbox"/>) is <see cref="TestOnly"/> and <see cref="Sandbox"/>: it never authenticates a
/// live-mode event, and the events it verifies use the sandbox's API key.
/// </remarks>
public sealed record WebhookSecret(string Secret, bool TestOnly)
{
    /// <summary>
    /// The signing secret. Never log it: <see cref="ToString"/> redacts it. Only null is refused here,
    /// so configuration binding can collect every problem and report it by key; an empty or blank
    /// secret is refused by <see cref="StripeSignatureVerifier"/>'s constructor.
    /// </summary>
    public string Secret { get; init; } = Secret ?? throw new ArgumentNullException(nameof(Secret));

    /// <summary>
    /// True for the secret of a managed sandbox's endpoint (<c>Mode: sandbox</c>): the events it verifies are sandbox
    /// events, whose Stripe calls use <c>Stripe:ApiKeys:Sandbox</c>. Always <see cref="TestOnly"/> as well.
    /// </summary>
    public bool Sandbox { get; private init; }

    /// <summary>The secret of a managed sandbox's endpoint: test-only, and marking what it verifies as sandbox events.</summary>
    public static WebhookSecret ForSandbox(string secret) => new(secret, TestOnly: true) { Sandbox = true };

    /// <summary>
    /// A redacted description such as <c>whsec_…(redacted, test-only)</c>: safe for logs and
    /// problem bodies. It shows at most the well-known prefix, never any secret character.
    /// </summary>
    public override string ToString()
    {
        string prefix = Secret.StartsWith("whsec_", StringComparison.Ordinal) ? "whsec_…"
            : Secret.StartsWith("absec_", StringComparison.Ordinal) ? "absec_…"
            : "…";
        return Sandbox ? prefix + "(redacted, sandbox)" : TestOnly ? prefix + "(redacted, test-only)" : prefix + "(redacted)";
    }
}
