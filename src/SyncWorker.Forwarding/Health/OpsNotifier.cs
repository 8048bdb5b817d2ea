using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using SyncWorker.Forwarding.Delivery;

namespace SyncWorker.Forwarding.Health;

/// <summary>
/// The body of a notification to <c>Notifications:Url</c>, JSON in camelCase: <c>type</c> <c>target.disabled</c>, the target,
/// when its failing began (its first failed attempt after its last success), its last error, when it was disabled, its
/// <c>DisableAfterHours</c>, and the instance that disabled it.
/// </summary>
public sealed record TargetDisabledNotification(
    string Type,
    string Target,
    DateTimeOffset FailingSince,
    string? LastError,
    DateTimeOffset DisabledAt,
    int DisableAfterHours,
    string Instance)
{
    /// <summary>The <c>type</c> of a disable.</summary>
    public const string DisabledType = "target.disabled";
}

/// <summary>
/// Sends operations notifications to <c>Notifications:Url</c>: a POST of JSON signed with <c>Notifications:SigningSecret</c>
/// exactly as deliveries are (Standard Webhooks: <c>webhook-id</c>, <c>webhook-timestamp</c>, <c>webhook-signature</c>,
/// <see cref="StandardWebhookSigner"/>), tried up to <see cref="MaxAttempts"/> times (Polly; 408, 429, 5xx and network
/// errors are tried again, with the same <c>webhook-id</c> so the receiver can drop a repeat). Without a URL nothing is sent.
/// </summary>
public sealed partial class OpsNotifier
{
    /// <summary>The named HTTP client.</summary>
    public const string ClientName = "syncworker.notifications";

    /// <summary>Attempts per notification.</summary>
    public const int MaxAttempts = 4;

    private readonly NotificationOptions _options;
    private readonly IHttpClientFactory _clients;
    private readonly TimeProvider _time;
    private readonly ILogger<OpsNotifier> _logger;
    private readonly StandardWebhookSigner? _signer;
    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline;

    /// <summary>Created by dependency injection.</summary>
    public OpsNotifier(IOptions<NotificationOptions> options, IHttpClientFactory clients, TimeProvider time, ILogger<OpsNotifier> logger)
        : this(options, clients, time, logger, TimeSpan.FromSeconds(2))
    {
    }

    /// <summary>With the first retry's delay (doubled each time after) given, for tests.</summary>
    internal OpsNotifier(IOptions<NotificationOptions> options, IHttpClientFactory clients, TimeProvider time, ILogger<OpsNotifier> logger, TimeSpan retryDelay)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _clients = clients;
        _time = time;
        _logger = logger;
        _signer = _options.Enabled ? new StandardWebhookSigner(_options.SigningSecret!) : null;
        _pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = MaxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                Delay = retryDelay,
                UseJitter = false,
                ShouldHandle = new PredicateBuilder<HttpResponseMessage>()
                    .Handle<HttpRequestException>()
                    .Handle<TaskCanceledException>()
                    .HandleResult(response => response.StatusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)response.StatusCode >= 500),
                OnRetry = args =>
                {
                    args.Outcome.Result?.Dispose();
                    return default;
                },
            })
            .Build();
    }

    /// <summary>True when <c>Notifications:Url</c> is set.</summary>
    public bool Enabled => _signer is not null;

    /// <summary>
    /// Sends the notification (when a URL is set); true when the receiver answered 2xx. Never throws for the receiver's
    /// failure: it is logged, and the disable stands whatever became of its notification.
    /// </summary>
    public async Task<bool> SendAsync(TargetDisabledNotification notification, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notification);
        if (_signer is null)
        {
            return false;
        }

        var body = JsonSerializer.SerializeToUtf8Bytes(notification, JsonSerializerOptions.Web);
        var webhookId = "msg_" + Guid.NewGuid().ToString("N");
        var client = _clients.CreateClient(ClientName);
        try
        {
            using var response = await _pipeline.ExecuteAsync(async token =>
            {
                var timestamp = _time.GetUtcNow().ToUnixTimeSeconds();
                using var request = new HttpRequestMessage(HttpMethod.Post, _options.Url) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                request.Headers.TryAddWithoutValidation(StandardWebhookHandler.WebhookIdHeader, webhookId);
                request.Headers.TryAddWithoutValidation(StandardWebhookHandler.WebhookTimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
                request.Headers.TryAddWithoutValidation(StandardWebhookHandler.WebhookSignatureHeader, _signer.Sign(webhookId, timestamp, body));
                return await client.SendAsync(request, token);
            }, cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                LogSent(_logger, notification.Type, notification.Target, (int)response.StatusCode);
                return true;
            }

            LogFailed(_logger, notification.Type, notification.Target, $"HTTP {(int)response.StatusCode}", MaxAttempts);
            return false;
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            LogFailed(_logger, notification.Type, notification.Target, exception.GetType().Name, MaxAttempts);
            return false;
        }
    }

    [LoggerMessage(EventId = 2801, Level = LogLevel.Information, Message = "Notification {Type} for target {Target} sent to Notifications:Url (HTTP {Status})")]
    private static partial void LogSent(ILogger logger, string type, string target, int status);

    [LoggerMessage(EventId = 2802, Level = LogLevel.Error,
        Message = "Notification {Type} for target {Target} was not accepted by Notifications:Url ({Error}, after up to {Attempts} attempts); the log line above says what it would have")]
    private static partial void LogFailed(ILogger logger, string type, string target, string error, int attempts);
}
