using System.Text.Json.Serialization;

namespace SyncWorker.Forwarding.Targets.Managed;

/// <summary>
/// A target as the admin API takes it (<c>POST /admin/targets</c>, <c>PUT /admin/targets/{name}</c>): the fields of
/// <c>Fulfillment:Targets:N</c> in camelCase, and <c>allAccounts</c>. Unknown fields are refused.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class TargetDocument
{
    /// <summary>
    /// Fields of <c>Fulfillment:Targets:N</c> the admin API refuses, each with why and what to send instead (the answer to
    /// an unknown field names these specifically).
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> RefusedFields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["templatePath"] = "only the configuration file may name template files; send the template inline in `template`",
    };

    /// <summary>Unique name (lower-case letters, digits, dashes; 1 to 48). In a <c>PUT</c>, the path's name (may be left out).</summary>
    public string? Name { get; set; }

    /// <summary>Where deliveries are POSTed; allowed by the manifest's connect-src; https for a live target in Production.</summary>
    public string? Url { get; set; }

    /// <summary>Event types (patterns with <c>*</c>) permitted by the manifest.</summary>
    public List<string>? Events { get; set; }

    /// <summary><c>live</c> or <c>test</c>; required.</summary>
    public string? Mode { get; set; }

    /// <summary><c>order</c> (default) or <c>event</c>.</summary>
    public string? Format { get; set; }

    /// <summary>
    /// <c>whsec_…</c>. Left out of a <c>POST</c>: generated and returned once in the answer. Left out of a <c>PUT</c>: the
    /// current one is kept (change it with <c>rotate-secret</c>).
    /// </summary>
    public string? SigningSecret { get; set; }

    /// <summary>The merchant accounts (<c>acct_…</c>) the target serves; or <see cref="AllAccounts"/>.</summary>
    public List<string>? Accounts { get; set; }

    /// <summary>True for a target of every account; must be said explicitly (and then <see cref="Accounts"/> is empty).</summary>
    public bool? AllAccounts { get; set; }

    /// <summary>Extra request headers (a partner's API key). In a <c>PUT</c>, a null value keeps the stored value of that header.</summary>
    public Dictionary<string, string?>? Headers { get; set; }

    /// <summary>
    /// How requests authenticate to the partner's API besides the signature (<c>type</c> <c>None</c>, <c>Bearer</c>,
    /// <c>Basic</c>, <c>OAuth2ClientCredentials</c>). Its secrets (<c>token</c>, <c>password</c>, <c>clientSecret</c>) are
    /// sealed in the store and never shown again; left out of a <c>PUT</c>, a secret keeps its stored value.
    /// </summary>
    public TargetAuthOptions? Auth { get; set; }

    /// <summary>
    /// An inline Liquid template of the request body, rendered with <c>order</c> (Format order) or <c>event</c> (Format
    /// event); checked against the example order when given: a template that does not parse or render, or renders invalid
    /// JSON for a JSON <c>contentType</c>, is refused with 422 and its line and column. Default: none (the order
    /// document or event as it is). Files (<c>templatePath</c>) are for the configuration file only.
    /// </summary>
    public string? Template { get; set; }

    /// <summary>The request's media type (default <c>application/json</c>; a JSON type makes the rendered body be checked as JSON).</summary>
    public string? ContentType { get; set; }

    /// <summary><c>POST</c> (default), <c>PUT</c> or <c>PATCH</c>.</summary>
    public string? Method { get; set; }

    /// <summary>A Liquid template appended to <c>url</c>, such as <c>/orders/{{ order.order_id }}</c> (values URL-escaped); starts with <c>/</c> or <c>?</c>.</summary>
    public string? Path { get; set; }

    /// <summary>Per-attempt timeout, 1 to 120 s (default 10).</summary>
    public double? TimeoutSeconds { get; set; }

    /// <summary>Deliveries in flight at once per instance, 1 to 64 (default 4).</summary>
    public int? MaxConcurrency { get; set; }

    /// <summary>In-process retries (defaults when left out).</summary>
    public TargetRetryOptions? Retry { get; set; }

    /// <summary>Circuit breaker (defaults when left out).</summary>
    public TargetCircuitBreakerOptions? CircuitBreaker { get; set; }

    /// <summary>Durable redeliveries (defaults when left out).</summary>
    public TargetRedeliveryOptions? Redelivery { get; set; }

    /// <summary>Requests per second per instance (no limit when left out).</summary>
    public TargetRateLimitOptions? RateLimit { get; set; }

    /// <summary>Hours of failing without a single success before the target is disabled (72 when left out; 0: never).</summary>
    public int? DisableAfterHours { get; set; }
}

/// <summary>The body of <c>POST /admin/targets/{name}/rotate-secret</c> (may be empty).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class RotateSecretRequest
{
    /// <summary>The new secret (<c>whsec_…</c>); generated when left out, and returned once.</summary>
    public string? SigningSecret { get; set; }

    /// <summary>How long requests carry the old secret's signature too, in hours (0 to 720); default <c>Targets:SecretOverlapHours</c>.</summary>
    public double? OverlapHours { get; set; }
}

/// <summary>
/// A target as the admin API shows it. Secrets are never shown after creation: <see cref="SigningSecretLast4"/> and each
/// header's last four characters (<c>…abcd</c>) tell them apart. <see cref="SigningSecret"/> is there only in the answer
/// that created it (generated) or rotated it.
/// </summary>
public sealed record TargetView
{
    /// <summary>The name.</summary>
    public required string Name { get; init; }

    /// <summary><c>configuration</c> (the file; read-only here) or <c>api</c> (the store).</summary>
    public required string Source { get; init; }

    /// <summary><c>active</c>, <c>draining</c> or <c>discarding</c>.</summary>
    public required string State { get; init; }

    /// <summary>The URL.</summary>
    public required string Url { get; init; }

    /// <summary>Event patterns.</summary>
    public required IReadOnlyList<string> Events { get; init; }

    /// <summary><c>live</c> or <c>test</c>.</summary>
    public required string Mode { get; init; }

    /// <summary><c>order</c> or <c>event</c>.</summary>
    public required string Format { get; init; }

    /// <summary>The accounts served (empty with <see cref="AllAccounts"/>).</summary>
    public required IReadOnlyList<string> Accounts { get; init; }

    /// <summary>True when the target serves every account.</summary>
    public required bool AllAccounts { get; init; }

    /// <summary>Header names with the last four characters of their values.</summary>
    public required IReadOnlyDictionary<string, string> Headers { get; init; }

    /// <summary>The signing secret's last four characters.</summary>
    public required string SigningSecretLast4 { get; init; }

    /// <summary>The full signing secret: only in the answer that generated or rotated it.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? SigningSecret { get; init; }

    /// <summary>Until when requests also carry the previous secret's signature (a rotation's overlap).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? PreviousSecretUntil { get; init; }

    /// <summary>In the answer to a removal being drained or discarded: the deliveries queued or waiting then.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Queued { get; init; }

    /// <summary>How requests authenticate to the partner's API; secrets by their last four characters.</summary>
    public TargetAuthView? Auth { get; init; }

    /// <summary>The inline body template, when there is one.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Template { get; init; }

    /// <summary>The body template's file (targets of the configuration file only).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? TemplatePath { get; init; }

    /// <summary>The request's media type, when set (default <c>application/json</c>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ContentType { get; init; }

    /// <summary>The method, when set (default <c>POST</c>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Method { get; init; }

    /// <summary>The path template appended to the URL, when set.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Path { get; init; }

    /// <summary>Per-attempt timeout.</summary>
    public required double TimeoutSeconds { get; init; }

    /// <summary>Concurrency per instance.</summary>
    public required int MaxConcurrency { get; init; }

    /// <summary>In-process retries.</summary>
    public required TargetRetryOptions Retry { get; init; }

    /// <summary>Circuit breaker.</summary>
    public required TargetCircuitBreakerOptions CircuitBreaker { get; init; }

    /// <summary>Durable redeliveries.</summary>
    public required TargetRedeliveryOptions Redelivery { get; init; }

    /// <summary>Requests per second per instance (<c>perSecond</c> 0: no limit).</summary>
    public TargetRateLimitOptions? RateLimit { get; init; }

    /// <summary>Hours of failing without a single success before the target is disabled (0: never).</summary>
    public int DisableAfterHours { get; init; }

    /// <summary>When it was created (targets of the API).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? CreatedAt { get; init; }

    /// <summary>Who created it: the admin token's name, or <c>user@host</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? CreatedBy { get; init; }

    /// <summary>When it last changed.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? UpdatedAt { get; init; }

    /// <summary>Who last changed it.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? UpdatedBy { get; init; }
}

/// <summary>A target's secrets as the store keeps them (sealed with <c>Store:EncryptionKey</c>).</summary>
internal sealed class TargetSecrets
{
    public string SigningSecret { get; set; } = "";

    public Dictionary<string, string> Headers { get; set; } = [];

    public string? PreviousSigningSecret { get; set; }

    public DateTimeOffset? PreviousUntil { get; set; }

    public TargetAuthSecrets? Auth { get; set; }
}
