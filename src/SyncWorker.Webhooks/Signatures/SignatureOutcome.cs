namespace SyncWorker.Webhooks.Signatures;

/// <summary>
/// The result of checking a <c>Stripe-Signature</c> header, in the order the checks run
/// (header present → well-formed → has a v1 signature → a v1 matches → timestamp within tolerance).
/// </summary>
public enum SignatureOutcome
{
    /// <summary>A v1 signature matched a configured secret and the timestamp is within tolerance.</summary>
    Valid,

    /// <summary>The header is absent, empty or whitespace.</summary>
    MissingHeader,

    /// <summary>
    /// The header cannot be parsed: an item without <c>=</c>, an empty item, <c>t</c> missing,
    /// duplicated or not a non-negative integer, or every <c>v1</c> value malformed.
    /// </summary>
    MalformedHeader,

    /// <summary>The header is well-formed but has no <c>v1</c> item (only other schemes such as <c>v0</c>, which are ignored).</summary>
    NoV1Signature,

    /// <summary>No <c>v1</c> signature matches the body signed with any configured secret.</summary>
    NoMatchingSignature,

    /// <summary>A signature matched but <c>t</c> is more than the tolerance in the past (stale or replayed).</summary>
    TimestampTooOld,

    /// <summary>A signature matched but <c>t</c> is more than the tolerance in the future (clock skew).</summary>
    TimestampInFuture,
}
