namespace SyncWorker.Forwarding.Targets;

/// <summary>Configuration section <c>Fulfillment</c>.</summary>
public sealed class FulfillmentOptions
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Fulfillment";

    /// <summary><c>Fulfillment:Targets</c>: where orders go. May be empty (nothing is forwarded).</summary>
    public List<TargetOptions> Targets { get; set; } = [];
}

/// <summary>One fulfillment target: <c>Fulfillment:Targets:N:*</c>.</summary>
public sealed partial class TargetOptions
{
    /// <summary>Format value for order documents.</summary>
    public const string OrderFormat = "order";

    /// <summary>Format value for the raw Stripe event.</summary>
    public const string EventFormat = "event";

    /// <summary>
    /// <c>Name</c>: unique, lower-case letters, digits and dashes (1 to 48 characters); used in queue names
    /// (<c>syncworker.target.{name}</c>) and logs. Required.
    /// </summary>
    public string Name { get; set; } = "";

    /// <summary>
    /// <c>Url</c>: where deliveries are POSTed (http or https). Must be allowed by the manifest's
    /// <c>ui_extension.content_security_policy.connect-src</c>. Required.
    /// </summary>
    public string Url { get; set; } = "";

    /// <summary>
    /// <c>Events</c>: event types this target wants; <c>*</c> matches any run of characters (<c>checkout.session.*</c>,
    /// <c>*</c>). Each must be permitted by the manifest. At least one is required.
    /// </summary>
    public List<string> Events { get; set; } = [];

    /// <summary>
    /// <c>Mode</c>: <c>live</c> or <c>test</c>. Required, no default: a test-mode order must never reach a live partner
    /// by accident, nor a live order a test endpoint.
    /// </summary>
    public string? Mode { get; set; }

    /// <summary><c>Accounts</c>: Stripe account ids (<c>acct_…</c>) this target serves; empty means every installing account.</summary>
    public List<string> Accounts { get; set; } = [];

    /// <summary><c>Format</c>: <c>order</c> (default; the order document) or <c>event</c> (the raw Stripe event).</summary>
    public string Format { get; set; } = OrderFormat;

    /// <summary>
    /// <c>SigningSecret</c>: <c>whsec_</c> followed by base64 of 24 to 64 random bytes, as Standard Webhooks defines.
    /// The target verifies <c>webhook-signature</c> with it. Required; never logged.
    /// </summary>
    public string SigningSecret { get; set; } = "";

    /// <summary>
    /// <c>Headers</c>: extra request headers, for example a partner's API key. They may not replace the headers
    /// SyncWorker sets (<c>webhook-*</c>, <c>Idempotency-Key</c>, <c>Content-Type</c>, <c>Host</c>, <c>Content-Length</c>).
    /// Values are never logged.
    /// </summary>
    public Dictionary<string, string> Headers { get; set; } = [];

    /// <summary><c>Auth</c>: how requests authenticate to the partner's API besides the signature. Default <c>Type: None</c>.</summary>
    public TargetAuthOptions Auth { get; set; } = new();

    /// <summary><c>TimeoutSeconds</c>: per-attempt timeout. Default 10; 1 to 120.</summary>
    public double TimeoutSeconds { get; set; } = 10;

    /// <summary>
    /// <c>MaxConcurrency</c>: deliveries in flight to this target at once, per SyncWorker instance. Default 4; 1 to 64.
    /// </summary>
    public int MaxConcurrency { get; set; } = 4;

    /// <summary><c>Retry</c>: in-process retries of one delivery.</summary>
    public TargetRetryOptions Retry { get; set; } = new();

    /// <summary><c>CircuitBreaker</c>: stops calling a failing target for a while.</summary>
    public TargetCircuitBreakerOptions CircuitBreaker { get; set; } = new();

    /// <summary><c>Redelivery</c>: durable retries, waiting in RabbitMQ, after the in-process retries are spent.</summary>
    public TargetRedeliveryOptions Redelivery { get; set; } = new();

    /// <summary><c>RateLimit</c>: requests per second to the target, per instance. Off by default.</summary>
    public TargetRateLimitOptions RateLimit { get; set; } = new();

    /// <summary>
    /// <c>DisableAfterHours</c>: hours of failed attempts without a single success after which the target is disabled
    /// (its queue keeps filling, nothing is attempted until <c>targets enable</c>). Default 72; 0: never; at most 8760.
    /// </summary>
    public int DisableAfterHours { get; set; } = Health.TargetDisableValidation.DefaultHours;

    /// <summary>True for <c>Mode: live</c>.</summary>
    public bool IsLive => string.Equals(Mode, "live", StringComparison.OrdinalIgnoreCase);
}

/// <summary>
/// <c>Fulfillment:Targets:N:Retry:*</c>: retries with exponential backoff and jitter on network errors, timeouts,
/// 408, 429 and 5xx, honouring <c>Retry-After</c>. Other 4xx and 3xx are not retried.
/// </summary>
public sealed class TargetRetryOptions
{
    /// <summary><c>MaxRetryAttempts</c>: retries after the first attempt. Default 4; 0 to 20.</summary>
    public int MaxRetryAttempts { get; set; } = 4;

    /// <summary><c>BaseDelaySeconds</c>: first backoff delay, doubled each retry, with jitter. Default 1; 0.01 to 60.</summary>
    public double BaseDelaySeconds { get; set; } = 1;

    /// <summary><c>MaxDelaySeconds</c>: cap of one backoff delay. Default 30; at least <see cref="BaseDelaySeconds"/>, at most 3600.</summary>
    public double MaxDelaySeconds { get; set; } = 30;

    /// <summary>
    /// <c>MaxRetryAfterSeconds</c>: the longest <c>Retry-After</c> waited in process; a longer one ends the in-process
    /// retries (the delivery fails and is dead-lettered with that reason). Default 120; 1 to 3600.
    /// </summary>
    public double MaxRetryAfterSeconds { get; set; } = 120;
}

/// <summary><c>Fulfillment:Targets:N:CircuitBreaker:*</c>: one circuit per target.</summary>
public sealed class TargetCircuitBreakerOptions
{
    /// <summary><c>FailureRatio</c>: share of failed attempts in the sampling window that opens the circuit. Default 0.5; above 0, at most 1.</summary>
    public double FailureRatio { get; set; } = 0.5;

    /// <summary><c>MinimumThroughput</c>: attempts in the window before the ratio counts. Default 10; at least 2.</summary>
    public int MinimumThroughput { get; set; } = 10;

    /// <summary><c>SamplingDurationSeconds</c>: the window. Default 30; 0.5 to 3600.</summary>
    public double SamplingDurationSeconds { get; set; } = 30;

    /// <summary><c>BreakDurationSeconds</c>: how long the circuit stays open. Default 30; 0.5 to 3600.</summary>
    public double BreakDurationSeconds { get; set; } = 30;
}

/// <summary>
/// <c>Fulfillment:Targets:N:Redelivery:*</c>: when a delivery still fails transiently after its in-process retries, it waits
/// in RabbitMQ (a delay queue per delay, not memory, not a consumer slot) and comes back on this schedule; after the last
/// delay it is dead-lettered with its full history. Needs the RabbitMQ transport.
/// </summary>
public sealed class TargetRedeliveryOptions
{
    /// <summary>
    /// The default schedule, about 75 hours in all (Stripe itself retries for three days): 5 s, 5 min, 30 min, 2 h, 5 h,
    /// 10 h, 10 h, 12 h, 12 h, 12 h, 12 h.
    /// </summary>
    public static readonly IReadOnlyList<double> DefaultDelaysSeconds = SyncWorker.Contracts.Topology.DefaultRedeliveryDelaysSeconds;

    /// <summary>
    /// <c>DelaysSeconds</c>: the wait before each redelivery, in whole seconds (1 to 86400), 1 to 30 entries.
    /// Default <see cref="DefaultDelaysSeconds"/>.
    /// </summary>
    public double[]? DelaysSeconds { get; set; }

    /// <summary><c>Enabled</c>: false dead-letters a delivery as soon as its in-process retries are spent. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary><c>Jitter</c>: each wait is varied by up to this share either way (0 to 0.5). Default 0.2 (±20%).</summary>
    public double Jitter { get; set; } = 0.2;

    /// <summary>The effective schedule in whole seconds.</summary>
    public IReadOnlyList<long> Schedule => Enabled
        ? (DelaysSeconds ?? DefaultDelaysSeconds).Select(seconds => (long)Math.Round(seconds)).ToArray()
        : [];
}
