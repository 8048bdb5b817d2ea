using System.Diagnostics;

namespace SyncWorker.LoadHarness;

/// <summary>Sends event <c>index</c> somewhere and returns the status (200 = accepted; 0 = no answer).</summary>
internal delegate ValueTask<int> SendEvent(int index, CancellationToken cancellationToken);

/// <summary>Per-event timings of one load run, in <see cref="Stopwatch"/> ticks.</summary>
internal sealed class LoadRecord(int capacity)
{
    /// <summary>When the send was due (open loop) or started (closed loop).</summary>
    public long[] Intended { get; } = new long[capacity];

    /// <summary>When the send actually started.</summary>
    public long[] Started { get; } = new long[capacity];

    public long[] Completed { get; } = new long[capacity];

    public int[] Status { get; } = new int[capacity];

    /// <summary>Events used (indexes 0 to Used - 1).</summary>
    public int Used { get; set; }

    /// <summary>Start of the measured window.</summary>
    public long WindowStart { get; set; }

    /// <summary>End of the measured window.</summary>
    public long WindowEnd { get; set; }

    /// <summary>True when the events ran out before the window's planned end (the window was cut short).</summary>
    public bool RanOut { get; set; }

    public double WindowSeconds => Stopwatch.GetElapsedTime(WindowStart, WindowEnd).TotalSeconds;

    /// <summary>Indexes whose send was intended inside the window.</summary>
    public IEnumerable<int> InWindow()
    {
        for (var i = 0; i < Used; i++)
        {
            if (Intended[i] >= WindowStart && Intended[i] < WindowEnd)
            {
                yield return i;
            }
        }
    }
}

/// <summary>
/// A phase's timeline in <see cref="Stopwatch"/> ticks: load begins at <see cref="Begin"/>, the measured window is
/// [<see cref="Start"/>, <see cref="End"/>), and load stops at <see cref="End"/>.
/// </summary>
internal sealed record Window(long Begin, long Start, long End)
{
    public static Window From(TimeSpan warmup, TimeSpan measure)
    {
        var begin = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 20;
        var start = begin + (long)(warmup.TotalSeconds * Stopwatch.Frequency);
        return new Window(begin, start, start + (long)(measure.TotalSeconds * Stopwatch.Frequency));
    }
}

/// <summary>Closed loop (fixed concurrency, as fast as answers come) and open loop (fixed offered rate).</summary>
internal static class LoadGenerator
{
    /// <summary>
    /// <paramref name="concurrency"/> senders, each sending the next event as soon as its previous one was answered.
    /// The window opens after <paramref name="warmup"/> and lasts <paramref name="measure"/> (less when the events run out).
    /// </summary>
    public static async Task<LoadRecord> ClosedLoopAsync(SendEvent send, int events, int concurrency, Window window)
    {
        var record = new LoadRecord(events) { WindowStart = window.Start, WindowEnd = window.End };
        var plannedEnd = window.End;
        var untilBegin = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), window.Begin);
        if (untilBegin > TimeSpan.Zero)
        {
            await Task.Delay(untilBegin);
        }

        var next = -1;
        var lastStarted = 0L;
        using var abort = new CancellationTokenSource();

        async Task SenderAsync()
        {
            while (true)
            {
                var now = Stopwatch.GetTimestamp();
                if (now >= plannedEnd)
                {
                    return;
                }

                var i = Interlocked.Increment(ref next);
                if (i >= events)
                {
                    return;
                }

                record.Intended[i] = now;
                record.Started[i] = now;
                record.Status[i] = await SafeSendAsync(send, i, abort.Token);
                record.Completed[i] = Stopwatch.GetTimestamp();
                InterlockedMax(ref lastStarted, now);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(SenderAsync)));
        record.Used = Math.Min(events, next + 1);
        if (record.Used >= events && Volatile.Read(ref lastStarted) < plannedEnd)
        {
            record.RanOut = true;
            record.WindowEnd = Math.Max(record.WindowStart + 1, Volatile.Read(ref lastStarted));
        }

        return record;
    }

    /// <summary>
    /// Sends event i at <c>start + i / rate</c> whatever happened to earlier ones (no coordinated omission): latency is
    /// measured from that due time. Runs for warmup + measure.
    /// </summary>
    public static async Task<LoadRecord> OpenLoopAsync(SendEvent send, int events, double rate, Window window)
    {
        var record = new LoadRecord(events) { WindowStart = window.Start, WindowEnd = window.End };
        var begin = window.Begin;
        var planned = (int)Math.Ceiling(Stopwatch.GetElapsedTime(window.Begin, window.End).TotalSeconds * rate);
        var total = Math.Min(events, planned);
        var interval = Stopwatch.Frequency / rate;
        var inFlight = new List<Task>(total);
        using var abort = new CancellationTokenSource();

        async Task OneAsync(int i)
        {
            record.Started[i] = Stopwatch.GetTimestamp();
            record.Status[i] = await SafeSendAsync(send, i, abort.Token);
            record.Completed[i] = Stopwatch.GetTimestamp();
        }

        var nextIndex = 0;
        while (nextIndex < total)
        {
            var now = Stopwatch.GetTimestamp();
            while (nextIndex < total)
            {
                var due = begin + (long)(nextIndex * interval);
                if (due > now)
                {
                    break;
                }

                record.Intended[nextIndex] = due;
                var i = nextIndex++;
                inFlight.Add(Task.Run(() => OneAsync(i)));
            }

            if (nextIndex < total)
            {
                var wait = begin + (long)(nextIndex * interval) - Stopwatch.GetTimestamp();
                if (wait > Stopwatch.Frequency / 1000)
                {
                    await Task.Delay(TimeSpan.FromTicks(wait * TimeSpan.TicksPerSecond / Stopwatch.Frequency));
                }
                else if (wait > 0)
                {
                    Thread.Yield();
                }
            }
        }

        await Task.WhenAll(inFlight);
        record.Used = total;
        if (total < planned)
        {
            record.RanOut = true;
            record.WindowEnd = Math.Min(record.WindowEnd, record.Intended[total - 1] + 1);
        }

        return record;
    }

    /// <summary>An HTTP sender: keep-alive connections, up to <paramref name="connections"/> at once.</summary>
    public static HttpClient NewHttpClient(int connections) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = connections,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        UseProxy = false,
        AutomaticDecompression = System.Net.DecompressionMethods.None,
    })
    {
        Timeout = TimeSpan.FromSeconds(30),
    };

    /// <summary>POSTs pre-signed events to a Stripe webhook endpoint.</summary>
    public static SendEvent HttpSender(HttpClient client, Uri endpoint, EventSet events) => async (index, cancellationToken) =>
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new ByteArrayContent(events.Bodies[index]) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json; charset=utf-8");
        request.Headers.TryAddWithoutValidation("Stripe-Signature", events.Signatures[index]);
        request.Headers.TryAddWithoutValidation("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)");
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        return (int)response.StatusCode;
    };

    private static async ValueTask<int> SafeSendAsync(SendEvent send, int index, CancellationToken cancellationToken)
    {
        try
        {
            return await send(index, cancellationToken);
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException or IOException or RabbitMQ.Client.Exceptions.PublishException or RabbitMQ.Client.Exceptions.AlreadyClosedException)
        {
            return 0;
        }
    }

    private static void InterlockedMax(ref long location, long value)
    {
        var current = Volatile.Read(ref location);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref location, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
