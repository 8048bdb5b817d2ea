using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using SyncWorker.Testing;

namespace SyncWorker.FaultInjection.Tests;

/// <summary>One Stripe event to send: its exact bytes and what a target should make of it.</summary>
/// <param name="Id">The event id (<c>evt_…</c>).</param>
/// <param name="Type">The event type.</param>
/// <param name="Body">The bytes Stripe signs and sends.</param>
/// <param name="SessionId">The Checkout Session id, for <c>checkout.session.*</c> events.</param>
/// <param name="Paid">True when an order target should receive an order document for it.</param>
internal sealed record StripeEventToSend(string Id, string Type, byte[] Body, string? SessionId, bool Paid)
{
    public const string Completed = "checkout.session.completed";
    public const string AsyncPaymentSucceeded = "checkout.session.async_payment_succeeded";
    public const string ChargeRefunded = "charge.refunded";
    public const string CustomerCreated = "customer.created";

    // The session id every Checkout Session fixture carries (exactly once, as data.object.id).
    private const string PaidFixtureSession = "cs_live_a1Qx7ExampleSessionIdForDocsOnly000000000000000000000000";
    private const string AsyncFixtureSession = "cs_live_b1Qx7ExampleAsyncSessionForDocsOnly0000000000000000000000";

    /// <summary>A paid <c>checkout.session.completed</c> for its own new session.</summary>
    public static StripeEventToSend PaidCompletion(string tag) =>
        Session("checkout.session.completed.json", PaidFixtureSession, Completed, NewSessionId(tag), paid: true, tag);

    /// <summary>An unpaid (delayed payment method) <c>checkout.session.completed</c> for <paramref name="sessionId"/>.</summary>
    public static StripeEventToSend UnpaidCompletion(string sessionId, string tag) =>
        Session("checkout.session.completed.async-unpaid.json", AsyncFixtureSession, Completed, sessionId, paid: false, tag);

    /// <summary><c>checkout.session.async_payment_succeeded</c> for <paramref name="sessionId"/>.</summary>
    public static StripeEventToSend AsyncPaymentSuccess(string sessionId, string tag) =>
        Session("checkout.session.async_payment_succeeded.json", AsyncFixtureSession, AsyncPaymentSucceeded, sessionId, paid: true, tag);

    public static StripeEventToSend Refund(string tag) => Plain("charge.refunded.json", ChargeRefunded, tag);

    public static StripeEventToSend Customer(string tag) => Plain("customer.created.json", CustomerCreated, tag);

    /// <summary>
    /// <paramref name="count"/> distinct events, a realistic mix: mostly paid orders, some refunds and new customers.
    /// </summary>
    public static IReadOnlyList<StripeEventToSend> Mix(int count, string tag)
    {
        var events = new List<StripeEventToSend>(count);
        for (var i = 0; i < count; i++)
        {
            var eventTag = $"{tag}{i:D4}";
            events.Add((i % 10) switch
            {
                3 or 7 => Refund(eventTag),
                5 => Customer(eventTag),
                _ => PaidCompletion(eventTag),
            });
        }

        return events;
    }

    public static string NewSessionId(string tag) => $"cs_live_fi{tag}{Guid.NewGuid():N}";

    private static string NewEventId(string tag) => $"evt_fi{tag}{Guid.NewGuid().ToString("N")[..16]}";

    private static StripeEventToSend Session(string fixture, string fixtureSession, string type, string sessionId, bool paid, string tag)
    {
        var id = NewEventId(tag);
        var text = StripeEvents.WithId(fixture, id).Replace(fixtureSession, sessionId, StringComparison.Ordinal);
        return new StripeEventToSend(id, type, Encoding.UTF8.GetBytes(text), sessionId, paid);
    }

    private static StripeEventToSend Plain(string fixture, string type, string tag)
    {
        var id = NewEventId(tag);
        return new StripeEventToSend(id, type, Encoding.UTF8.GetBytes(StripeEvents.WithId(fixture, id)), null, Paid: false);
    }
}

/// <summary>What happened to one send (one delivery of an event by "Stripe"; the same event may be sent several times).</summary>
internal sealed class SendRecord(StripeEventToSend evt)
{
    private int _attempts;

    public StripeEventToSend Event { get; } = evt;

    public int Attempts => Volatile.Read(ref _attempts);

    public bool Acknowledged { get; private set; }

    /// <summary>The last answer that was not a 2xx (status, or the connection error), for diagnosis.</summary>
    public string? LastRefusal { get; private set; }

    internal void Attempted() => Interlocked.Increment(ref _attempts);

    internal void Refused(string why) => LastRefusal = why;

    internal void Acknowledge() => Acknowledged = true;
}

/// <summary>One HTTP attempt of a send: when, to which receiver, and what came back.</summary>
/// <param name="Start">When the request started.</param>
/// <param name="End">When the answer (or the error) came.</param>
/// <param name="Receiver">Index of the receiver URL it went to.</param>
/// <param name="EventId">The event sent.</param>
/// <param name="Answer">The status code, or the kind of connection error (<c>ConnectionError</c>, <c>Timeout</c>…).</param>
/// <param name="RetryAfter">The answer carried a <c>Retry-After</c> header.</param>
internal sealed record StripeAttempt(DateTimeOffset Start, DateTimeOffset End, int Receiver, string EventId, string Answer, bool RetryAfter)
{
    public bool Acknowledged => Answer.Length == 3 && Answer[0] == '2';
}

/// <summary>
/// Sends signed events to the worker as Stripe does: every attempt signed afresh (<c>Stripe-Signature</c> with the current
/// time), anything but a 2xx answer (a refusal, a 503, a dropped connection, a timeout) retried with backoff until it is
/// acknowledged or the deadline passes. Stripe keeps retrying for three days; a scenario's deadline stands in for that.
/// With several receiver URLs it plays Stripe behind a load balancer: sends go round robin, and each retry of a send goes
/// to the next receiver.
/// </summary>
internal sealed class FakeStripe : IDisposable
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(1);

    private readonly HttpClient _client;
    private readonly IReadOnlyList<Uri> _endpoints;
    private readonly string _secret;
    private readonly ConcurrentDictionary<string, int> _answers = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<StripeAttempt> _history = new();
    private int _acknowledged;
    private int _attempts;
    private int _nextReceiver = -1;

    public FakeStripe(Uri endpoint, string secret)
        : this([endpoint], secret)
    {
    }

    public FakeStripe(IReadOnlyList<Uri> endpoints, string secret)
    {
        if (endpoints.Count == 0)
        {
            throw new ArgumentException("At least one receiver URL.", nameof(endpoints));
        }

        _endpoints = endpoints;
        _secret = secret;
        _client = new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(2),
            PooledConnectionLifetime = TimeSpan.FromSeconds(30),
            MaxConnectionsPerServer = 64,
        })
        {
            // Longer than the worker's publish timeout, so a 503 arrives before the client gives up.
            Timeout = TimeSpan.FromSeconds(20),
        };
    }

    /// <summary>Sends so far acknowledged (answered 2xx; the receiver answers 200).</summary>
    public int AcknowledgedCount => Volatile.Read(ref _acknowledged);

    /// <summary>HTTP attempts so far, across all sends.</summary>
    public int AttemptCount => Volatile.Read(ref _attempts);

    /// <summary>Every attempt so far, in the order they ended.</summary>
    public IReadOnlyList<StripeAttempt> History => [.. _history];

    /// <summary>The receiver URLs, in the order their index counts.</summary>
    public IReadOnlyList<Uri> Receivers => _endpoints;

    /// <summary>Attempts answered 2xx by the receiver at <paramref name="receiver"/>.</summary>
    public int AcknowledgedBy(int receiver) => _history.Count(a => a.Receiver == receiver && a.Acknowledged);

    /// <summary>How many attempts got each answer: a status code, or the kind of connection error.</summary>
    public int StatusCount(int status) => _answers.GetValueOrDefault(status.ToString(CultureInfo.InvariantCulture));

    /// <summary>All answers so far, for the report: <c>200=310 503=24 ConnectionError=40</c>.</summary>
    public string StatusCounts() => string.Join(' ', _answers.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => $"{a.Key}={a.Value}"));

    /// <summary>
    /// Sends every event in order with at most <paramref name="concurrency"/> in flight, each until acknowledged or
    /// until <paramref name="deadline"/>. With a <paramref name="pace"/>, send i starts no earlier than i times it after
    /// the first, so the stream lasts long enough for a fault to strike in the middle of it. Returns one record per send.
    /// </summary>
    public async Task<IReadOnlyList<SendRecord>> SendAllAsync(
        IReadOnlyList<StripeEventToSend> events, int concurrency, TimeSpan deadline, TimeSpan pace = default)
    {
        var records = events.Select(e => new SendRecord(e)).ToList();
        using var stop = new CancellationTokenSource(deadline);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Parallel.ForEachAsync(records.Select((record, index) => (record, index)), new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (item, _) =>
        {
            var due = pace * item.index - clock.Elapsed;
            if (due > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(due, stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }

            await SendUntilAcknowledgedAsync(item.record, stop.Token);
        });
        return records;
    }

    /// <summary>Waits until at least <paramref name="count"/> sends were acknowledged.</summary>
    public async Task WaitForAcknowledgedAsync(int count, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (AcknowledgedCount < count)
        {
            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException($"Only {AcknowledgedCount} of {count} events were acknowledged within {timeout.TotalSeconds} s.");
            }

            await Task.Delay(10);
        }
    }

    public void Dispose() => _client.Dispose();

    private void Count(string answer) => _answers.AddOrUpdate(answer, 1, static (_, n) => n + 1);

    private async Task SendUntilAcknowledgedAsync(SendRecord record, CancellationToken deadline)
    {
        var backoff = FirstBackoff;
        // Round robin over the receivers; a retry goes to the next one, as behind a load balancer.
        var receiver = (int)((uint)Interlocked.Increment(ref _nextReceiver) % (uint)_endpoints.Count);
        var first = true;
        while (!deadline.IsCancellationRequested)
        {
            if (!first)
            {
                receiver = (receiver + 1) % _endpoints.Count;
            }

            first = false;
            record.Attempted();
            Interlocked.Increment(ref _attempts);
            var start = DateTimeOffset.UtcNow;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, _endpoints[receiver]) { Content = new ByteArrayContent(record.Event.Body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
                request.Headers.TryAddWithoutValidation(
                    "Stripe-Signature", StripeEvents.SignatureHeader(record.Event.Body, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), _secret));
                using var response = await _client.SendAsync(request, deadline);
                Count(((int)response.StatusCode).ToString(CultureInfo.InvariantCulture));
                _history.Enqueue(new StripeAttempt(start, DateTimeOffset.UtcNow, receiver, record.Event.Id,
                    ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture), response.Headers.RetryAfter is not null));
                if (response.IsSuccessStatusCode)
                {
                    record.Acknowledge();
                    Interlocked.Increment(ref _acknowledged);
                    return;
                }

                record.Refused(((int)response.StatusCode).ToString(CultureInfo.InvariantCulture));
            }
            catch (HttpRequestException exception)
            {
                record.Refused(exception.HttpRequestError.ToString());
                Count(exception.HttpRequestError.ToString());
                _history.Enqueue(new StripeAttempt(start, DateTimeOffset.UtcNow, receiver, record.Event.Id, exception.HttpRequestError.ToString(), false));
            }
            catch (TaskCanceledException) when (!deadline.IsCancellationRequested)
            {
                record.Refused("timeout");
                Count("Timeout");
                _history.Enqueue(new StripeAttempt(start, DateTimeOffset.UtcNow, receiver, record.Event.Id, "Timeout", false));
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                await Task.Delay(backoff, deadline);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
        }
    }
}
