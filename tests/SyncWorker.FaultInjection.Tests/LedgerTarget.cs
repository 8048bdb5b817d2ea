using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace SyncWorker.FaultInjection.Tests;

/// <summary>One request a fulfillment target received.</summary>
/// <param name="Key">What was delivered: the order id for an order document, otherwise the event id.</param>
/// <param name="SourceEventId">The Stripe event id (the body's <c>id</c>, or <c>source_event.id</c> of an order document).</param>
/// <param name="WebhookId">The <c>webhook-id</c> header.</param>
/// <param name="IdempotencyKey">The <c>Idempotency-Key</c> header.</param>
/// <param name="SignatureValid">The Standard Webhooks signature verified with the target's secret.</param>
/// <param name="Status">What the target answered; 0 when the worker abandoned the request before an answer (its process ended, or it gave up).</param>
/// <param name="At">When it was answered (or abandoned).</param>
/// <param name="ReceivedAt">When its body had arrived (before <see cref="LedgerTarget.Latency"/>).</param>
/// <param name="ConnectionId">The TCP connection it came on (Kestrel's connection id).</param>
/// <param name="AnswerSent">The answer was written to the connection without the worker aborting it first.</param>
internal sealed record LedgerEntry(
    string Key,
    string? SourceEventId,
    string? WebhookId,
    string? IdempotencyKey,
    bool SignatureValid,
    int Status,
    DateTimeOffset At,
    DateTimeOffset ReceivedAt,
    string ConnectionId,
    bool AnswerSent)
{
    public bool Accepted => Status is >= 200 and < 300;
}

/// <summary>
/// A fulfillment partner's endpoint on loopback (Kestrel), at <c>/fulfillment/{name}</c>. It records every request in a
/// ledger (with the connection it came on, and when each connection ended), verifies each signature independently of
/// SyncWorker's code, and can be switched at run time to answer 503 (down), 400 for chosen keys (it refuses those
/// orders), or 200.
/// </summary>
internal sealed class LedgerTarget : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly byte[] _signingKey;
    private readonly ConcurrentQueue<LedgerEntry> _entries = new();
    private readonly ConcurrentDictionary<string, byte> _refused = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _connectionsEnded = new(StringComparer.Ordinal);
    private volatile bool _down;
    private int _inFlight;
    private volatile bool _unrecognised;

    private LedgerTarget(string name, string signingSecret, WebApplication app, Uri url)
    {
        Name = name;
        SigningSecret = signingSecret;
        _signingKey = Convert.FromBase64String(signingSecret["whsec_".Length..]);
        _app = app;
        Url = url;
    }

    public string Name { get; }

    /// <summary><c>whsec_</c> + base64 of 32 random bytes, as Standard Webhooks defines.</summary>
    public string SigningSecret { get; }

    /// <summary>The endpoint, <c>http://127.0.0.1:{port}/fulfillment/{name}</c>.</summary>
    public Uri Url { get; }

    /// <summary>The folder URL to list in the manifest's connect-src.</summary>
    public string ConnectSrcFolder => new Uri(Url, "./").ToString();

    /// <summary>Every request so far, in arrival order.</summary>
    public IReadOnlyList<LedgerEntry> Entries => [.. _entries];

    /// <summary>A request whose body the ledger could not read (neither an event nor an order document) was received.</summary>
    public bool ReceivedUnrecognisedBody => _unrecognised;

    /// <summary>Latency of every answer, so deliveries are in flight when a fault strikes; changeable at any time.</summary>
    public TimeSpan Latency { get; set; }

    /// <summary>When each connection that has ended so far ended (by connection id); open connections are not listed.</summary>
    public IReadOnlyDictionary<string, DateTimeOffset> ConnectionsEnded => new Dictionary<string, DateTimeOffset>(_connectionsEnded, StringComparer.Ordinal);

    /// <summary>Requests received and not answered yet.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    public static async Task<LedgerTarget> StartAsync(string name)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "ledger-" + name });
        LedgerTarget? target = null;
        builder.WebHost.UseKestrelCore();
        // Each connection's end is noted: one that ended with a killed worker was that worker's; that is how a repeat after
        // an answer the killed worker never recorded is told apart.
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Use(next => async connection =>
        {
            try
            {
                await next(connection);
            }
            finally
            {
                target!._connectionsEnded[connection.ConnectionId] = DateTimeOffset.UtcNow;
            }
        })));
        var app = builder.Build();
        app.Run(context => target!.HandleAsync(context));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        var secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        target = new LedgerTarget(name, secret, app, new Uri(new Uri(address), $"/fulfillment/{name}"));
        return target;
    }

    /// <summary>From now on answer 503 to everything (the partner is down).</summary>
    public void GoDown() => _down = true;

    /// <summary>From now on answer normally again.</summary>
    public void ComeBack() => _down = false;

    /// <summary>Answer 400 to these keys (the partner refuses these orders) until <see cref="AcceptEverything"/>.</summary>
    public void Refuse(IEnumerable<string> keys)
    {
        foreach (var key in keys)
        {
            _refused[key] = 0;
        }
    }

    /// <summary>The partner fixed whatever made it refuse orders.</summary>
    public void AcceptEverything() => _refused.Clear();

    /// <summary>Distinct keys accepted (answered 2xx) so far.</summary>
    public HashSet<string> AcceptedKeys() => _entries.Where(e => e.Accepted).Select(e => e.Key).ToHashSet(StringComparer.Ordinal);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        if (!string.Equals(context.Request.Path.Value, Url.AbsolutePath, StringComparison.Ordinal) || !HttpMethods.IsPost(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        var body = buffer.ToArray();
        var headers = context.Request.Headers;
        var webhookId = headers["webhook-id"].FirstOrDefault();
        var (key, sourceEventId) = Identify(body);
        if (key is null)
        {
            _unrecognised = true;
            key = "(unrecognised body)";
        }

        var valid = SignatureIsValid(webhookId, headers["webhook-timestamp"].FirstOrDefault(), headers["webhook-signature"].FirstOrDefault(), body);
        var idempotencyKey = headers["Idempotency-Key"].FirstOrDefault();
        var connection = context.Connection.Id;
        var received = DateTimeOffset.UtcNow;
        if (Latency > TimeSpan.Zero)
        {
            Interlocked.Increment(ref _inFlight);
            try
            {
                await Task.Delay(Latency, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                // A request the worker abandons (its process ended) is not an answered delivery, but it was a POST.
                _entries.Enqueue(new LedgerEntry(key, sourceEventId, webhookId, idempotencyKey, valid, 0, DateTimeOffset.UtcNow, received, connection, AnswerSent: false));
                return;
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }

        var status = _down ? StatusCodes.Status503ServiceUnavailable
            : _refused.ContainsKey(key) ? StatusCodes.Status400BadRequest
            : StatusCodes.Status200OK;
        var answered = DateTimeOffset.UtcNow;
        context.Response.StatusCode = status;
        try
        {
            await context.Response.CompleteAsync();
        }
        catch (Exception exception) when (exception is IOException or OperationCanceledException)
        {
            // Recorded below as not sent.
        }

        _entries.Enqueue(new LedgerEntry(key, sourceEventId, webhookId, idempotencyKey, valid, status, answered, received, connection,
            AnswerSent: !context.RequestAborted.IsCancellationRequested));
    }

    private static (string? Key, string? SourceEventId) Identify(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            var kind = root.TryGetProperty("object", out var o) ? o.GetString() : null;
            if (kind == "syncworker.order")
            {
                var sourceEvent = root.TryGetProperty("source_event", out var s) && s.TryGetProperty("id", out var sid) ? sid.GetString() : null;
                return (root.GetProperty("order_id").GetString(), sourceEvent);
            }

            if (kind == "event" && root.TryGetProperty("id", out var id))
            {
                return (id.GetString(), id.GetString());
            }
        }
        catch (JsonException)
        {
            // Recorded as unrecognised.
        }

        return (null, null);
    }

    /// <summary>Standard Webhooks: <c>v1,</c> + base64 HMAC-SHA256 of <c>{id}.{timestamp}.{body}</c>; any listed signature may match.</summary>
    private bool SignatureIsValid(string? id, string? timestamp, string? signatures, byte[] body)
    {
        if (id is null || timestamp is null || signatures is null)
        {
            return false;
        }

        var prefix = Encoding.UTF8.GetBytes($"{id}.{timestamp}.");
        var signed = new byte[prefix.Length + body.Length];
        prefix.CopyTo(signed, 0);
        body.CopyTo(signed, prefix.Length);
        var expected = HMACSHA256.HashData(_signingKey, signed);
        foreach (var candidate in signatures.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!candidate.StartsWith("v1,", StringComparison.Ordinal))
            {
                continue;
            }

            var bytes = new byte[64];
            if (Convert.TryFromBase64String(candidate[3..], bytes, out var written)
                && CryptographicOperations.FixedTimeEquals(bytes.AsSpan(0, written), expected))
            {
                return true;
            }
        }

        return false;
    }
}
