using System.Globalization;
using System.Net.Http.Headers;
using System.Reflection;

namespace SyncWorker.Forwarding.Delivery;

/// <summary>
/// The innermost handler of a target's client, inside the resilience handler, so it runs on every attempt: it signs
/// the attempt with a fresh <c>webhook-timestamp</c>, sets SyncWorker's headers and the target's extra headers, and
/// records what the attempt got in the request's <see cref="DeliveryAttempts"/>.
/// </summary>
internal sealed class StandardWebhookHandler(
    string targetName,
    StandardWebhookSigner signer,
    IReadOnlyList<KeyValuePair<string, string>> extraHeaders,
    TimeProvider timeProvider,
    StandardWebhookSigner? previous = null,
    DateTimeOffset? previousUntil = null) : DelegatingHandler
{
    internal const string WebhookIdHeader = "webhook-id";
    internal const string WebhookTimestampHeader = "webhook-timestamp";
    internal const string WebhookSignatureHeader = "webhook-signature";
    internal const string IdempotencyKeyHeader = "Idempotency-Key";
    internal const string JsonMediaType = "application/json";

    /// <summary><c>SyncWorker/{version}</c>, the assembly's informational version without its source-revision suffix.</summary>
    internal static readonly string UserAgent = "SyncWorker/" + ProductVersion();

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!request.Options.TryGetValue(DeliveryAttempts.Key, out DeliveryAttempts? attempts) || request.Content is null)
        {
            throw new InvalidOperationException(
                "A target's HTTP client sends only deliveries made by ITargetSender (the request carries no delivery state).");
        }

        attempts.Begin();
        ApplyHeaders(request, attempts.Delivery, timeProvider.GetUtcNow(), signer, extraHeaders, previous, previousUntil);

        try
        {
            HttpResponseMessage response = await base.SendAsync(request, cancellationToken);
            attempts.Answered(response);
            RecordAttempt(((int)response.StatusCode / 100) switch
            {
                2 => "2xx",
                3 => "3xx",
                4 => "4xx",
                5 => "5xx",
                _ => "other",
            });
            return response;
        }
        catch (Exception exception)
        {
            attempts.Threw(exception);
            RecordAttempt(exception is OperationCanceledException or TimeoutException ? "timeout" : "network");
            throw;
        }
    }

    /// <summary>
    /// Sets what every request of a delivery carries, on each attempt: the target's extra headers, <c>webhook-id</c>,
    /// <c>webhook-timestamp</c> (<paramref name="now"/>), <c>webhook-signature</c> over the body (and, while a rotated-out
    /// secret overlaps, its signature too), <c>Idempotency-Key</c>, <c>User-Agent</c>, and <c>Content-Type</c> when the
    /// request has none. The signing handler and <c>targets preview</c> both call it.
    /// </summary>
    internal static void ApplyHeaders(
        HttpRequestMessage request,
        TargetDelivery delivery,
        DateTimeOffset now,
        StandardWebhookSigner signer,
        IReadOnlyList<KeyValuePair<string, string>> extraHeaders,
        StandardWebhookSigner? previous = null,
        DateTimeOffset? previousUntil = null)
    {
        var content = request.Content ?? throw new InvalidOperationException("A delivery request has a body.");
        long timestamp = now.ToUnixTimeSeconds();
        HttpRequestHeaders headers = request.Headers;
        foreach ((string name, string value) in extraHeaders)
        {
            // A request header, or else a content header such as Content-Language. Start-up validation refused names
            // that are neither (not an HTTP token) and the headers set below.
            if (!Replace(headers, name, value) && !Replace(content.Headers, name, value))
            {
                throw new InvalidOperationException($"The extra header '{name}' is not a valid HTTP header name.");
            }
        }

        Replace(headers, WebhookIdHeader, delivery.WebhookId);
        Replace(headers, WebhookTimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
        // While a secret is rotated out, the signature of each secret, space-separated (Standard Webhooks verifies any),
        // and the new one once more at the end: StandardWebhooks for .NET (1.1.2) never checks a header's last entry.
        var signature = signer.Sign(delivery.WebhookId, timestamp, delivery.Body.Span);
        if (previous is not null && previousUntil is { } until && now < until)
        {
            signature = $"{signature} {previous.Sign(delivery.WebhookId, timestamp, delivery.Body.Span)} {signature}";
        }

        Replace(headers, WebhookSignatureHeader, signature);
        Replace(headers, IdempotencyKeyHeader, delivery.IdempotencyKey);
        Replace(headers, "User-Agent", UserAgent);
        // A target's ContentType (TargetRequestBuilder) is kept; the order document and events are JSON.
        content.Headers.ContentType ??= new MediaTypeHeaderValue(JsonMediaType);
    }

    private void RecordAttempt(string statusClass) =>
        SyncWorker.Contracts.SyncWorkerTelemetry.DeliveryAttempts.Add(
            1,
            new KeyValuePair<string, object?>("target", targetName),
            new KeyValuePair<string, object?>("status_class", statusClass));

    /// <summary>Sets <paramref name="name"/> to exactly <paramref name="value"/>; false when the name does not belong in <paramref name="headers"/>.</summary>
    private static bool Replace(HttpHeaders headers, string name, string value)
    {
        // TryGetValues, unlike Remove, does not throw for a name that belongs to the other collection.
        if (headers.TryGetValues(name, out _))
        {
            headers.Remove(name);
        }

        return headers.TryAddWithoutValidation(name, value);
    }

    private static string ProductVersion()
    {
        string? version = typeof(StandardWebhookHandler).Assembly
            .GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        if (string.IsNullOrEmpty(version))
        {
            version = typeof(StandardWebhookHandler).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
        }

        int plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus > 0 ? version[..plus] : version;
    }
}
