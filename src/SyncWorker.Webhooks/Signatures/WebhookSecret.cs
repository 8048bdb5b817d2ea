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
public sealed record WebhookSecret(string Secret, bool TestOnly)
{
    /// <summary>
    /// The signing secret. Never log it: <see cref="ToString"/> redacts it. Only null is refused here,
    /// so configuration binding can collect every problem and report it by key; an empty or blank
    /// secret is refused by <see cref="StripeSignatureVerifier"/>'s constructor.
    /// </summary>
    public string Secret { get; init; } = Secret ?? throw new ArgumentNullException(nameof(Secret));

    /// <summary>
    /// A redacted description such as <c>whsec_…(redacted, test-only)</c>: safe for logs and
    /// problem bodies. It shows at most the well-known prefix, never any secret character.
    /// </summary>
    public override string ToString()
    {
        string prefix = Secret.StartsWith("whsec_", StringComparison.Ordinal) ? "whsec_…"
            : Secret.StartsWith("absec_", StringComparison.Ordinal) ? "absec_…"
            : "…";
        return TestOnly ? prefix + "(redacted, test-only)" : prefix + "(redacted)";
    }
}
