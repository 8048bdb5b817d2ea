using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging;
using Polly.CircuitBreaker;
using Polly.Timeout;
using SyncWorker.Forwarding.Targets;

namespace SyncWorker.Forwarding.Delivery;

/// <summary>
/// <see cref="ITargetSender"/> over the named clients that
/// <see cref="TargetHttpClientServiceCollectionExtensions.AddTargetHttpClients"/> registers: one POST per delivery,
/// retried, signed and timed by the client's handlers; the outcome becomes a <see cref="DeliveryReport"/> or a
/// <see cref="DeliveryFailedException"/> whose message names the target, the delivery, the status or error and the
/// attempts, and never a secret, a header value, a signature or the body.
/// </summary>
public sealed partial class HttpTargetSender : ITargetSender
{
    /// <summary>Prefix of the named clients: <c>syncworker-target-{Name}</c>.</summary>
    public const string ClientNamePrefix = "syncworker-target-";

    private static readonly string[] ReservedHeaders =
    [
        StandardWebhookHandler.WebhookIdHeader,
        StandardWebhookHandler.WebhookTimestampHeader,
        StandardWebhookHandler.WebhookSignatureHeader,
        StandardWebhookHandler.IdempotencyKeyHeader,
        "Content-Type",
        "Content-Length",
        "Host",
        "User-Agent",
    ];

    private readonly IHttpClientFactory _clients;
    private readonly ManagedTargetClients? _managed;
    private readonly TargetHttpClientCatalog _targets;
    private readonly TimeProvider _time;
    private readonly ILogger<HttpTargetSender> _logger;
    private readonly RequestTemplates.TargetRequestBuilder _requests;

    /// <summary>Created by dependency injection; <see cref="TargetHttpClientServiceCollectionExtensions.AddTargetHttpClients"/> registers what it needs.</summary>
    public HttpTargetSender(
        IHttpClientFactory clients,
        TargetHttpClientCatalog targets,
        TimeProvider time,
        ILogger<HttpTargetSender> logger,
        ManagedTargetClients? managed = null,
        RequestTemplates.TargetRequestBuilder? requests = null)
    {
        _managed = managed;
        _requests = requests ?? new RequestTemplates.TargetRequestBuilder(Microsoft.Extensions.Options.Options.Create(new TargetTemplatesOptions()));
        ArgumentNullException.ThrowIfNull(clients);
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _clients = clients;
        _targets = targets;
        _time = time;
        _logger = logger;
    }

    /// <summary>The named <see cref="HttpClient"/> of a target: <c>syncworker-target-{targetName}</c>.</summary>
    public static string ClientName(string targetName) => ClientNamePrefix + targetName;

    /// <inheritdoc />
    public async Task<DeliveryReport> SendAsync(string targetName, TargetDelivery delivery, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(targetName);
        ArgumentNullException.ThrowIfNull(delivery);
        RequireHeaderToken(delivery.WebhookId, nameof(delivery));
        RequireHeaderToken(delivery.IdempotencyKey, nameof(delivery));
        HttpClient? managedClient = null;
        if (!_targets.TryGet(targetName, out TargetOptions? target)
            && (_managed is null || !_managed.TryGet(targetName, out target, out managedClient)))
        {
            throw new ArgumentException($"No fulfillment target named '{targetName}' was registered with AddTargetHttpClients or is managed at run time.", nameof(targetName));
        }

        RequestTemplates.TargetRequest built;
        try
        {
            // The one place a delivery becomes a request (targets preview uses it too): template, method, path, content type.
            built = _requests.Build(target, delivery);
        }
        catch (DeliveryFailedException failure)
        {
            throw Failed(failure);
        }

        // The rendered body is what is sent and signed, the same bytes on every attempt.
        delivery = delivery with { Body = built.Body };
        var attempts = new DeliveryAttempts(delivery, _time);
        using var request = RequestTemplates.TargetRequestBuilder.CreateMessage(built);
        request.Options.Set(DeliveryAttempts.Key, attempts);

        HttpClient client = managedClient ?? _clients.CreateClient(ClientName(target.Name));
        long started = _time.GetTimestamp();
        HttpResponseMessage response;
        try
        {
            // Headers only: the body of the answer is not needed, and nothing would time its download out.
            response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (TargetAuthException exception) when (!cancellationToken.IsCancellationRequested)
        {
            // No credentials for the target (its token endpoint refused or failed): the request was not sent.
            throw Failed(new DeliveryFailedException(
                $"Delivering {delivery.Description} to target '{target.Name}' failed{(attempts.Count > 0 ? " after " + AttemptCount(attempts.Count) : "")}: {exception.Message}.",
                exception.IsPermanent,
                attempts.Count,
                (int?)attempts.LastStatus,
                exception)
            {
                Requests = attempts.Sent,
            });
        }
        catch (Exception exception) when (exception is HttpRequestException or TimeoutRejectedException or BrokenCircuitException or TargetHeldException
            && !cancellationToken.IsCancellationRequested)
        {
            throw Failed(new DeliveryFailedException(
                FailureWithoutAnswer(target, delivery, attempts, exception),
                isPermanent: false,
                attempts.Count,
                (int?)attempts.LastStatus,
                exception)
            {
                CircuitOpen = exception is BrokenCircuitException,
                RetryAfter = (exception as BrokenCircuitException)?.RetryAfter ?? (exception as TargetHeldException)?.RetryAfter,
                Requests = attempts.Sent,
            });
        }

        using (response)
        {
            int status = (int)response.StatusCode;
            if (status is >= 200 and <= 299)
            {
                var report = new DeliveryReport(status, attempts.Count, _time.GetElapsedTime(started)) { Requests = attempts.Sent };
                LogDelivered(_logger, delivery.Description, target.Name, status, report.Attempts, report.Elapsed.TotalMilliseconds);
                return report;
            }

            bool retryable = DeliveryResilience.IsRetryableStatus(response.StatusCode);
            string message = retryable
                ? FailureAfterRetries(target, delivery, attempts, response)
                : Refusal(target, delivery, attempts, response, request.RequestUri!);
            throw Failed(new DeliveryFailedException(message, isPermanent: !retryable, attempts.Count, status)
            {
                RetryAfter = retryable ? DeliveryResilience.RetryAfter(response, _time) : null,
                Requests = attempts.Sent,
            });
        }
    }

    /// <summary>
    /// Start-up checks of the delivery settings of one target (<paramref name="key"/> is its configuration path, such as
    /// <c>Fulfillment:Targets:0</c>): signing secret, extra headers, timeout, concurrency, retry and circuit breaker.
    /// Each message names the full key and the allowed range, never a secret or a header value. Name, Url, Mode, Events
    /// and the manifest's connect-src are checked elsewhere.
    /// </summary>
    public static IEnumerable<string> ValidateTarget(TargetOptions t, string key)
    {
        ArgumentNullException.ThrowIfNull(t);
        ArgumentException.ThrowIfNullOrEmpty(key);

        if (!StandardWebhookSigner.TryParseSecret(t.SigningSecret, out _, out string? secretError))
        {
            yield return $"{key}:SigningSecret {secretError}";
        }

        foreach ((string name, string value) in t.Headers ?? [])
        {
            if (string.IsNullOrWhiteSpace(name))
            {
                yield return $"{key}:Headers has an entry without a name: give the header's name or remove the entry.";
                continue;
            }

            string headerKey = $"{key}:Headers:{Printable(name)}";
            if (!IsToken(name))
            {
                yield return $"{headerKey} is not a valid HTTP header name: use only letters, digits and !#$%&'*+-.^_`|~.";
            }
            else if (ReservedHeaders.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                yield return
                    $"{headerKey} cannot be configured: SyncWorker sets webhook-id, webhook-timestamp, webhook-signature, " +
                    "Idempotency-Key, Content-Type, Content-Length, Host and User-Agent itself. Remove the entry.";
            }

            if (value is null || value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
            {
                yield return $"{headerKey} must be a single line: the value contains a line break (CR or LF) or a NUL character.";
            }
        }

        if (!(t.TimeoutSeconds is >= 1 and <= 120))
        {
            yield return Invariant($"{key}:TimeoutSeconds must be between 1 and 120 (got {t.TimeoutSeconds}).");
        }

        if (t.MaxConcurrency is < 1 or > 64)
        {
            yield return Invariant($"{key}:MaxConcurrency must be between 1 and 64 (got {t.MaxConcurrency}).");
        }

        if (t.Retry is not { } retry)
        {
            yield return $"{key}:Retry is missing: remove the null to use the defaults.";
        }
        else
        {
            if (retry.MaxRetryAttempts is < 0 or > 20)
            {
                yield return Invariant($"{key}:Retry:MaxRetryAttempts must be between 0 and 20 (got {retry.MaxRetryAttempts}).");
            }

            if (!(retry.BaseDelaySeconds is >= 0.01 and <= 60))
            {
                yield return Invariant($"{key}:Retry:BaseDelaySeconds must be between 0.01 and 60 (got {retry.BaseDelaySeconds}).");
            }

            if (!(retry.MaxDelaySeconds >= retry.BaseDelaySeconds && retry.MaxDelaySeconds <= 3600))
            {
                yield return Invariant(
                    $"{key}:Retry:MaxDelaySeconds must be at least Retry:BaseDelaySeconds ({retry.BaseDelaySeconds}) and at most 3600 (got {retry.MaxDelaySeconds}).");
            }

            if (!(retry.MaxRetryAfterSeconds is >= 1 and <= 3600))
            {
                yield return Invariant($"{key}:Retry:MaxRetryAfterSeconds must be between 1 and 3600 (got {retry.MaxRetryAfterSeconds}).");
            }
        }

        if (t.CircuitBreaker is not { } circuit)
        {
            yield return $"{key}:CircuitBreaker is missing: remove the null to use the defaults.";
        }
        else
        {
            if (!(circuit.FailureRatio is > 0 and <= 1))
            {
                yield return Invariant($"{key}:CircuitBreaker:FailureRatio must be above 0 and at most 1 (got {circuit.FailureRatio}).");
            }

            if (circuit.MinimumThroughput < 2)
            {
                yield return Invariant($"{key}:CircuitBreaker:MinimumThroughput must be at least 2 (got {circuit.MinimumThroughput}).");
            }

            if (!(circuit.SamplingDurationSeconds is >= 0.5 and <= 3600))
            {
                yield return Invariant(
                    $"{key}:CircuitBreaker:SamplingDurationSeconds must be between 0.5 and 3600 (got {circuit.SamplingDurationSeconds}).");
            }

            if (!(circuit.BreakDurationSeconds is >= 0.5 and <= 3600))
            {
                yield return Invariant(
                    $"{key}:CircuitBreaker:BreakDurationSeconds must be between 0.5 and 3600 (got {circuit.BreakDurationSeconds}).");
            }
        }
    }

    private DeliveryFailedException Failed(DeliveryFailedException failure)
    {
        LogFailed(_logger, failure.IsPermanent, failure.Attempts, failure.Message);
        return failure;
    }

    /// <summary>A 3xx or a 4xx other than 408/429: retrying cannot change the answer.</summary>
    private static string Refusal(TargetOptions target, TargetDelivery delivery, DeliveryAttempts attempts, HttpResponseMessage response, Uri requestUri)
    {
        string answered = $"Target '{target.Name}' answered {Status(response.StatusCode)}";
        string to = $"to {delivery.Description} after {AttemptCount(attempts.Count)}";
        if ((int)response.StatusCode is >= 300 and <= 399)
        {
            Uri? location = response.Headers.Location;
            string where = location is null
                ? "without a Location"
                : $"redirecting to host {new Uri(requestUri, location).Authority}";
            return $"{answered} {where} {to}; redirects are not followed, so a delivery never reaches a host that is not " +
                "configured: set the target's Url to the address that answers.";
        }

        return $"{answered} {to}; not retried: a 4xx means the target refuses this delivery.";
    }

    /// <summary>The last answer was 408, 429 or 5xx: the retries are spent, or the answer asked for too long a wait.</summary>
    private string FailureAfterRetries(TargetOptions target, TargetDelivery delivery, DeliveryAttempts attempts, HttpResponseMessage response)
    {
        string last = $"last: {Status(response.StatusCode)}";
        TimeSpan? retryAfter = DeliveryResilience.RetryAfter(response, _time);
        if (retryAfter > TimeSpan.FromSeconds(target.Retry.MaxRetryAfterSeconds))
        {
            double asked = retryAfter.Value.TotalSeconds;
            double allowed = target.Retry.MaxRetryAfterSeconds;
            last += Invariant($" asking to retry after {asked:0.#} s (Retry-After), longer than the {allowed:0.#} s Retry:MaxRetryAfterSeconds allows in process");
        }

        return $"Delivering {delivery.Description} to target '{target.Name}' failed after {AttemptCount(attempts.Count)}; {last}.";
    }

    /// <summary>The pipeline threw: the last attempt timed out or failed on the network, or the circuit is open.</summary>
    private static string FailureWithoutAnswer(TargetOptions target, TargetDelivery delivery, DeliveryAttempts attempts, Exception exception)
    {
        string start = $"Delivering {delivery.Description} to target '{target.Name}'";
        if (exception is BrokenCircuitException broken)
        {
            string reopens = broken.RetryAfter is TimeSpan wait ? Invariant($" for about {Math.Ceiling(wait.TotalSeconds)} s more") : "";
            string open = $"the target's circuit is open{reopens} after repeated failures, so no further request was sent";
            return attempts.Count == 0
                ? $"{start} was not attempted: {open}."
                : $"{start} failed after {AttemptCount(attempts.Count)}; {LastOf(target, attempts)}; then {open}.";
        }

        if (exception is TargetHeldException)
        {
            return attempts.Count == 0 ? $"{start} was not attempted: {exception.Message}." : $"{start} failed after {AttemptCount(attempts.Count)}; then {exception.Message}.";
        }

        return $"{start} failed after {AttemptCount(attempts.Count)}; last: {Describe(target, exception)}.";
    }

    private static string LastOf(TargetOptions target, DeliveryAttempts attempts) =>
        attempts.LastStatus is HttpStatusCode status ? $"last: {Status(status)}"
        : attempts.LastException is { } exception ? $"last: {Describe(target, exception)}"
        : "last: no answer";

    private static string Describe(TargetOptions target, Exception exception) => exception switch
    {
        TimeoutRejectedException or OperationCanceledException => Invariant($"no answer within the {target.TimeoutSeconds:0.##} s timeout (TimeoutSeconds)"),
        HttpRequestException http => $"network error ({http.HttpRequestError}): {http.Message}",
        _ => exception.GetType().Name,
    };

    private static string Status(HttpStatusCode status)
    {
        string reason = ReasonPhrases.GetReasonPhrase((int)status);
        return reason.Length == 0
            ? ((int)status).ToString(CultureInfo.InvariantCulture)
            : Invariant($"{(int)status} {reason}");
    }

    private static string AttemptCount(int count) => count == 1 ? "1 attempt" : Invariant($"{count} attempts");

    private static string Invariant(FormattableString text) => FormattableString.Invariant(text);

    private static void RequireHeaderToken(string value, string paramName)
    {
        if (string.IsNullOrEmpty(value) || value.Any(c => c is < '!' or > '~'))
        {
            throw new ArgumentException("WebhookId and IdempotencyKey must be non-empty printable ASCII without spaces.", paramName);
        }
    }

    private static bool IsToken(string name) =>
        name.All(c => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal));

    private static string Printable(string name) =>
        string.Concat(name.Select(c => char.IsControl(c) ? '?' : c));

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Delivered {Delivery} to target {Target}: {StatusCode} after {Attempts} attempt(s) in {ElapsedMs:0} ms")]
    private static partial void LogDelivered(ILogger logger, string delivery, string target, int statusCode, int attempts, double elapsedMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Delivery failed (permanent: {Permanent}, attempts: {Attempts}): {Reason}")]
    private static partial void LogFailed(ILogger logger, bool permanent, int attempts, string reason);
}
