using System.Buffers;
using System.IO.Pipelines;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SyncWorker.Contracts;
using SyncWorker.Manifest;
using SyncWorker.Webhooks.Envelope;
using SyncWorker.Webhooks.Signatures;

namespace SyncWorker.Webhooks.Receiving;

/// <summary>
/// <c>POST /webhooks/stripe</c>: raw body (bounded), signature, envelope, manifest permission, then a confirmed
/// publish. Every refusal is an RFC 7807 problem that says which check failed; nothing refused is published,
/// and <c>"queued": true</c> is sent only after the broker confirmed the event into a durable queue. A genuine event
/// whose type SyncWorker never forwards (unknown, unverified or not permitted by the manifest) is answered 200 with
/// <c>"queued": false</c> and its reason, so Stripe stops retrying it, and is not published.
/// </summary>
public sealed partial class StripeWebhookReceiver(
    StripeSignatureVerifier verifier,
    PermissionPolicy permissions,
    IStripeEventPublisher publisher,
    IOptions<WebhookOptions> options,
    TimeProvider timeProvider,
    IHostApplicationLifetime lifetime,
    ReceiverActivity activity,
    ILogger<StripeWebhookReceiver> logger)
{
    private readonly WebhookOptions _options = options.Value;
    private readonly IgnoredEventThrottle _ignoredLog = new(timeProvider);

    /// <summary>Handles one delivery from Stripe.</summary>
    public async Task<IResult> ReceiveAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var started = timeProvider.GetTimestamp();
        IResult result;
        string outcome;
        try
        {
            result = await ReceiveCoreAsync(context);
            outcome = OutcomeOf(result);
        }
        catch (Exception) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away (or the request was aborted) before its answer: nobody reads one. Its publish, if it
            // began, goes on in the publisher, whose channel no other request loses for this.
            LogClientAborted(logger);
            result = Results.Empty;
            outcome = WebhookOutcomes.ClientAborted;
        }

        var tag = new KeyValuePair<string, object?>("outcome", outcome);
        if (result is Ok<WebhookIgnored> { Value: { } ignored })
        {
            SyncWorkerTelemetry.WebhooksReceived.Add(1, tag, new KeyValuePair<string, object?>("reason", ignored.Reason));
        }
        else
        {
            SyncWorkerTelemetry.WebhooksReceived.Add(1, tag);
        }

        SyncWorkerTelemetry.WebhookDuration.Record(timeProvider.GetElapsedTime(started).TotalSeconds, tag);
        activity.Record(outcome);
        return result;
    }

    private static string OutcomeOf(IResult result) => result switch
    {
        Ok<WebhookAccepted> => WebhookOutcomes.Accepted,
        Ok<WebhookIgnored> => WebhookOutcomes.Ignored,
        ProblemHttpResult { ProblemDetails.Extensions: var extensions } when extensions.TryGetValue("code", out var code) => code switch
        {
            "body-too-large" => WebhookOutcomes.TooLarge,
            "not-a-stripe-event" or "invalid-utf8" => WebhookOutcomes.Malformed,
            "queue-unavailable" => WebhookOutcomes.BrokerUnavailable,
            "shutting-down" => WebhookOutcomes.ShuttingDown,
            _ => WebhookOutcomes.BadSignature, // signature-*, live-event-test-secret and live-event-sandbox-secret
        },
        _ => WebhookOutcomes.Malformed,
    };

    private async Task<IResult> ReceiveCoreAsync(HttpContext context)
    {
        var request = context.Request;
        if (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            // Shutting down: accept nothing new (Stripe retries), so nothing is half-done when the bus stops.
            LogRefused(logger, "shutting-down", null);
            context.Response.Headers.RetryAfter = _options.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            return Problem(
                StatusCodes.Status503ServiceUnavailable,
                "shutting-down",
                "Shutting down",
                "This SyncWorker instance is shutting down and accepts no new events; Stripe retries the delivery.");
        }

        using var body = await ReadBodyAsync(request, _options.MaxBodyBytes, context.RequestAborted);
        if (body is null)
        {
            LogRefused(logger, "body-too-large", null);
            return Problem(
                StatusCodes.Status413PayloadTooLarge,
                "body-too-large",
                "Request body too large",
                $"The request body is larger than Webhooks:MaxBodyBytes ({_options.MaxBodyBytes} bytes). Stripe events are far smaller; " +
                "if a genuine event was refused, raise Webhooks:MaxBodyBytes.");
        }

        var signature = verifier.Verify(body.Span, request.Headers["Stripe-Signature"].ToString() is { Length: > 0 } header ? header : null);
        if (signature.Outcome != SignatureOutcome.Valid)
        {
            var code = SignatureProblemCode(signature.Outcome);
            LogRefused(logger, code, null);
            return Problem(StatusCodes.Status400BadRequest, code, "Stripe signature check failed", signature.Problem);
        }

        if (!StripeEventEnvelopeReader.TryRead(body.Span, out var envelope, out var envelopeError))
        {
            LogRefused(logger, "not-a-stripe-event", null);
            return Problem(StatusCodes.Status400BadRequest, "not-a-stripe-event", "Not a Stripe event", envelopeError ?? "The body is not a Stripe event.");
        }

        using var eventScope = EventScope(logger, envelope.Id, envelope.Account);
        if (envelope.Livemode && signature.MatchedSecret is { Sandbox: true })
        {
            LogRefused(logger, "live-event-sandbox-secret", envelope.Id);
            return Problem(
                StatusCodes.Status400BadRequest,
                "live-event-sandbox-secret",
                "Live event signed with a sandbox secret",
                $"Event {envelope.Id} has livemode true but only a secret marked Mode sandbox verifies it. Live events must be signed " +
                "with a live endpoint's secret; check which secret in Stripe:WebhookSecrets belongs to which endpoint.");
        }

        if (envelope.Livemode && signature.MatchedSecret is { TestOnly: true })
        {
            LogRefused(logger, "live-event-test-secret", envelope.Id);
            return Problem(
                StatusCodes.Status400BadRequest,
                "live-event-test-secret",
                "Live event signed with a test-only secret",
                $"Event {envelope.Id} has livemode true but only a secret marked TestOnly verifies it. Live events must be signed " +
                "with a live endpoint's secret; check which secret in Stripe:WebhookSecrets belongs to which endpoint.");
        }

        var decision = permissions.Evaluate(envelope.Type);
        if (!decision.IsAllowed)
        {
            var code = decision.Reason switch
            {
                PermissionDenialReason.UnknownEventType => "unknown-event-type",
                PermissionDenialReason.UnverifiedEventType => "unverified-event-type",
                _ => "permission-not-granted",
            };
            // Genuine, but never forwarded: 200, so Stripe neither retries it for three days nor warns the merchant of a
            // failing endpoint. Not published; one line per type per minute says why and what would allow it.
            if (_ignoredLog.ShouldLog(envelope.Type, out var notLogged))
            {
                LogIgnored(logger, envelope.Id, envelope.Type, code, decision.Detail, notLogged);
            }

            return TypedResults.Ok(new WebhookIgnored(envelope.Id, envelope.Type, Queued: false, Reason: code));
        }

        if (!System.Text.Unicode.Utf8.IsValid(body.Span))
        {
            LogRefused(logger, "invalid-utf8", envelope.Id);
            return Problem(StatusCodes.Status400BadRequest, "invalid-utf8", "Body is not UTF-8", "The request body is not valid UTF-8; Stripe always sends UTF-8 JSON.");
        }

        // The one copy the contract needs (the bytes go back to the pool once the request is answered).
        var payload = new JsonBytes(body.Span.ToArray());

        var message = new StripeEventReceived(
            envelope.Id,
            envelope.Type,
            envelope.Account,
            envelope.Livemode,
            envelope.ApiVersion,
            DateTimeOffset.FromUnixTimeSeconds(envelope.Created),
            envelope.ObjectType,
            envelope.ObjectId,
            timeProvider.GetUtcNow(),
            payload,
            Sandbox: signature.MatchedSecret?.Sandbox == true);

        try
        {
            // The timeout bounds the publish; the request's abort only ends this wait (not the publish, not its channel).
            await publisher.PublishAsync(message, TimeSpan.FromSeconds(_options.PublishTimeoutSeconds), context.RequestAborted);
        }
        catch (Exception exception) when (!context.RequestAborted.IsCancellationRequested)
        {
            LogQueueUnavailable(logger, envelope.Id, exception.GetType().Name, exception.Message);
            context.Response.Headers.RetryAfter = _options.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            return Problem(
                StatusCodes.Status503ServiceUnavailable,
                "queue-unavailable",
                "Event not queued",
                $"Event {envelope.Id} could not be confirmed into the queue (the broker is unreachable, blocked or slow). " +
                "Nothing was accepted; Stripe retries the delivery.");
        }

        LogAccepted(logger, envelope.Id, envelope.Type, envelope.Account, envelope.Livemode);
        return TypedResults.Ok(new WebhookAccepted(envelope.Id, envelope.Type, Queued: true));
    }

    /// <summary>
    /// Reads the whole body into one buffer rented from <see cref="ArrayPool{T}.Shared"/> (the caller disposes it, which
    /// returns the buffer); null when it exceeds <paramref name="maxBytes"/>. Kestrel's segments are copied once, into
    /// that buffer: no per-request byte array, so the only allocation the body causes is the payload string.
    /// </summary>
    internal static async Task<PooledBody?> ReadBodyAsync(HttpRequest request, int maxBytes, CancellationToken cancellationToken)
    {
        if (request.ContentLength > maxBytes)
        {
            return null;
        }

        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            // One byte over the limit still reaches us, so an oversized body is a 413 from here, not a Kestrel error.
            limit.MaxRequestBodySize = maxBytes + 1L;
        }

        var reader = request.BodyReader;
        while (true)
        {
            ReadResult result;
            try
            {
                result = await reader.ReadAsync(cancellationToken);
            }
            catch (BadHttpRequestException exception) when (exception.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                return null;
            }

            var buffer = result.Buffer;
            if (buffer.Length > maxBytes)
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                return null;
            }

            if (result.IsCompleted || result.IsCanceled)
            {
                var body = PooledBody.CopyOf(buffer);
                reader.AdvanceTo(buffer.End);
                return body;
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static string SignatureProblemCode(SignatureOutcome outcome) => outcome switch
    {
        SignatureOutcome.MissingHeader => "signature-missing",
        SignatureOutcome.MalformedHeader => "signature-malformed",
        SignatureOutcome.NoV1Signature => "signature-no-v1",
        SignatureOutcome.NoMatchingSignature => "signature-mismatch",
        SignatureOutcome.TimestampTooOld => "signature-timestamp-too-old",
        SignatureOutcome.TimestampInFuture => "signature-timestamp-in-future",
        _ => "signature-invalid",
    };

    private static ProblemHttpResult Problem(int status, string code, string title, string detail, Dictionary<string, object?>? extensions = null)
    {
        extensions ??= [];
        extensions["code"] = code;
        return TypedResults.Problem(
            detail: detail,
            statusCode: status,
            title: title,
            type: "urn:syncworker:webhooks:" + code,
            extensions: extensions);
    }

    /// <summary>Every line logged once the envelope is read carries the event id and the account (null for the platform's own).</summary>
    private static readonly Func<ILogger, string, string?, IDisposable?> EventScope =
        LoggerMessage.DefineScope<string, string?>("Stripe event {EventId} of account {Account}");

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information,
        Message = "Accepted Stripe event {EventId} ({EventType}) for account {Account}, livemode {Livemode}: queued")]
    private static partial void LogAccepted(ILogger logger, string eventId, string eventType, string? account, bool livemode);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Refused a Stripe webhook: {Reason} (event {EventId})")]
    private static partial void LogRefused(ILogger logger, string reason, string? eventId);

    [LoggerMessage(EventId = 1010, EventName = "IgnoredEvent", Level = LogLevel.Warning,
        Message = "Ignored Stripe event {EventId} ({EventType}): {Reason}; answered 200, not queued. {Detail} " +
                  "({NotLogged} more events of this type ignored without a line since the last one; at most one line per type a minute)")]
    private static partial void LogIgnored(ILogger logger, string eventId, string eventType, string reason, string detail, long notLogged);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Information, Message = "A webhook request was aborted by its client before it was answered")]
    private static partial void LogClientAborted(ILogger logger);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Error,
        Message = "Stripe event {EventId} was not confirmed by the broker ({ErrorType}: {Error}); answered 503 so Stripe retries")]
    private static partial void LogQueueUnavailable(ILogger logger, string eventId, string errorType, string error);
}

/// <summary>A request body in a buffer rented from <see cref="ArrayPool{T}.Shared"/>; disposing returns the buffer.</summary>
internal sealed class PooledBody : IDisposable
{
    private byte[]? _buffer;

    private PooledBody(byte[] buffer, int length)
    {
        _buffer = buffer;
        Length = length;
    }

    public int Length { get; }

    /// <summary>The body's bytes; valid until <see cref="Dispose"/>.</summary>
    public ReadOnlySpan<byte> Span => (_buffer ?? throw new ObjectDisposedException(nameof(PooledBody))).AsSpan(0, Length);

    public static PooledBody CopyOf(in ReadOnlySequence<byte> sequence)
    {
        var length = checked((int)sequence.Length);
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        sequence.CopyTo(buffer);
        return new PooledBody(buffer, length);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _buffer, null) is { } buffer)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>The 200 body: which event was queued.</summary>
public sealed record WebhookAccepted(string Id, string Type, bool Queued);

/// <summary>
/// The 200 body of a genuine event SyncWorker never forwards: <paramref name="Queued"/> is false and
/// <paramref name="Reason"/> is the code (<c>unknown-event-type</c>, <c>unverified-event-type</c>, <c>permission-not-granted</c>).
/// </summary>
public sealed record WebhookIgnored(string Id, string Type, bool Queued, string Reason);
