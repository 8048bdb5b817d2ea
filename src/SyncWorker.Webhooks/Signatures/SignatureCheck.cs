namespace SyncWorker.Webhooks.Signatures;

/// <summary>What <see cref="StripeSignatureVerifier.Verify"/> found. Carries no secret and no expected signature.</summary>
public sealed class SignatureCheck
{
    private SignatureCheck(SignatureOutcome outcome, long timestamp, WebhookSecret? matchedSecret, string problem)
    {
        Outcome = outcome;
        Timestamp = timestamp;
        MatchedSecret = matchedSecret;
        Problem = problem;
    }

    /// <summary>Which check decided the result.</summary>
    public SignatureOutcome Outcome { get; }

    /// <summary><see langword="true"/> only when <see cref="Outcome"/> is <see cref="SignatureOutcome.Valid"/>.</summary>
    public bool IsValid => Outcome == SignatureOutcome.Valid;

    /// <summary>The header's <c>t</c> in Unix seconds, or 0 when the header had no parsable <c>t</c>.</summary>
    public long Timestamp { get; }

    /// <summary>
    /// The secret whose signature matched, set only when <see cref="Outcome"/> is
    /// <see cref="SignatureOutcome.Valid"/>. When several configured secrets match, one that is not
    /// <see cref="WebhookSecret.TestOnly"/> is preferred.
    /// </summary>
    public WebhookSecret? MatchedSecret { get; }

    /// <summary>
    /// A sentence for the <c>detail</c> of an RFC 7807 problem body: which check failed and what to do.
    /// Empty when valid. Never contains a secret or the expected signature.
    /// </summary>
    public string Problem { get; }

    internal static SignatureCheck Valid(long timestamp, WebhookSecret matchedSecret) =>
        new(SignatureOutcome.Valid, timestamp, matchedSecret, string.Empty);

    internal static SignatureCheck Failed(SignatureOutcome outcome, long timestamp, string problem) =>
        new(outcome, timestamp, null, problem);

    /// <summary>The outcome and timestamp; no secret material.</summary>
    public override string ToString() =>
        IsValid ? $"{Outcome} (t={Timestamp}, secret {MatchedSecret})" : $"{Outcome} (t={Timestamp})";
}
