namespace SyncWorker.Webhooks.Receiving;

/// <summary>Configuration section <c>Webhooks</c>: limits of the receiving endpoint.</summary>
public sealed class WebhookOptions
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Webhooks";

    /// <summary>
    /// <c>Webhooks:MaxBodyBytes</c>: the largest request body read; a larger one is answered 413.
    /// Default 524288 (512 KiB). 1024 to 16777216.
    /// </summary>
    public int MaxBodyBytes { get; set; } = 512 * 1024;

    /// <summary>
    /// <c>Webhooks:PublishTimeoutSeconds</c>: how long a request waits for the broker's confirmation before it is
    /// answered 503 (Stripe then retries). Default 10. 1 to 60; keep it below Stripe's own request timeout.
    /// </summary>
    public int PublishTimeoutSeconds { get; set; } = 10;

    /// <summary>
    /// <c>Webhooks:RetryAfterSeconds</c>: the <c>Retry-After</c> value sent with a 503. Default 30. 1 to 3600.
    /// </summary>
    public int RetryAfterSeconds { get; set; } = 30;
}
