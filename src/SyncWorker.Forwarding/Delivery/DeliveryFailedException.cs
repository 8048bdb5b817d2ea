namespace SyncWorker.Forwarding.Delivery;

/// <summary>
/// A delivery (or what it needs, such as line items from Stripe) failed. <see cref="IsPermanent"/> failures are not
/// retried; the others were retried in process until the retries were spent. Either way the message goes to the
/// target's dead-letter queue with this exception's message as the reason; it is never acknowledged away.
/// The message never contains a secret, a signature or a payload.
/// </summary>
public sealed class DeliveryFailedException : Exception
{
    public DeliveryFailedException()
    {
    }

    public DeliveryFailedException(string message)
        : base(message)
    {
    }

    public DeliveryFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public DeliveryFailedException(string message, bool isPermanent, int attempts, int? statusCode, Exception? innerException = null)
        : base(message, innerException)
    {
        IsPermanent = isPermanent;
        Attempts = attempts;
        StatusCode = statusCode;
    }

    /// <summary>True when retrying cannot help (a 4xx other than 408/429, a redirect, a revoked Stripe key).</summary>
    public bool IsPermanent { get; }

    /// <summary>Attempts made, the first included.</summary>
    public int Attempts { get; }

    /// <summary>The last HTTP status received, if any.</summary>
    public int? StatusCode { get; }

    /// <summary>How long the target (its <c>Retry-After</c>) or its open circuit asks to wait, when known.</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>Each HTTP request made to the target in this round, oldest first; empty when none was.</summary>
    public IReadOnlyList<SentRequest> Requests { get; init; } = [];

    /// <summary>True when the target's circuit breaker is open: the target is unhealthy, not this delivery.</summary>
    public bool CircuitOpen { get; init; }
}
