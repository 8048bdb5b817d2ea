using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace SyncWorker.LoadHarness;

/// <summary>
/// Fulfillment targets that cost as little as possible: one Kestrel server in the harness process, one path per target
/// (<c>/fulfillment/t{k}</c>), answering 200 as soon as the body is read and recording when each event arrived.
/// In-process on purpose: the receipt time and the send time come from the same monotonic clock
/// (<see cref="Stopwatch.GetTimestamp"/>), so end-to-end latency needs no clock synchronisation; the targets' CPU is
/// counted with the harness's, apart from the worker's.
/// </summary>
internal sealed class FastTargets : IAsyncDisposable
{
    private readonly WebApplication _app;
    private volatile ReceiptLedger? _ledger;

    private FastTargets(WebApplication app, Uri baseUrl)
    {
        _app = app;
        BaseUrl = baseUrl;
    }

    /// <summary><c>http://127.0.0.1:{port}/fulfillment/</c>: the folder to list in the manifest's connect-src.</summary>
    public Uri BaseUrl { get; }

    public static async Task<FastTargets> StartAsync()
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "fast-targets" });
        builder.WebHost.UseKestrelCore();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var app = builder.Build();
        FastTargets? targets = null;
        app.Run(context => targets!.HandleAsync(context));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        targets = new FastTargets(app, new Uri(new Uri(address), "/fulfillment/"));
        return targets;
    }

    public Uri UrlOf(int target) => new(BaseUrl, "t" + target.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>A random Standard Webhooks secret for a target (the worker signs; these targets do not check).</summary>
    public static string NewSigningSecret() => "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>Records receipts of phase <paramref name="tag"/> from now on.</summary>
    public ReceiptLedger Begin(int tag, int targets, int events)
    {
        var ledger = new ReceiptLedger(tag, targets, events);
        _ledger = ledger;
        return ledger;
    }

    public void End() => _ledger = null;

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var reader = context.Request.BodyReader;
        ReadResult result;
        while (true)
        {
            result = await reader.ReadAsync(context.RequestAborted);
            if (result.IsCompleted)
            {
                break;
            }

            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }

        var at = Stopwatch.GetTimestamp();
        var buffer = result.Buffer;
        Span<byte> head = stackalloc byte[(int)Math.Min(128, buffer.Length)];
        buffer.Slice(0, head.Length).CopyTo(head);
        reader.AdvanceTo(buffer.End);
        var path = context.Request.Path.Value;
        var target = -1;
        if (path is not null && path.StartsWith("/fulfillment/t", StringComparison.Ordinal)
            && int.TryParse(path.AsSpan("/fulfillment/t".Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var parsed))
        {
            target = parsed;
        }

        _ledger?.Record(target, head, at);
        context.Response.StatusCode = StatusCodes.Status200OK;
    }
}

/// <summary>First receipt time of each event at each target of one phase (0 = not received).</summary>
internal sealed class ReceiptLedger(int tag, int targets, int events)
{
    private readonly long[][] _firstReceipt = Enumerable.Range(0, targets).Select(_ => new long[events]).ToArray();
    private long _duplicates;
    private long _unrecognised;

    public int Targets => targets;

    public long Duplicates => Interlocked.Read(ref _duplicates);

    public long Unrecognised => Interlocked.Read(ref _unrecognised);

    public void Record(int target, ReadOnlySpan<byte> head, long at)
    {
        var index = EventTemplate.IndexOf(head, tag);
        if (target < 0 || target >= targets || index < 0 || index >= events)
        {
            Interlocked.Increment(ref _unrecognised);
            return;
        }

        if (Interlocked.CompareExchange(ref _firstReceipt[target][index], at, 0) != 0)
        {
            Interlocked.Increment(ref _duplicates);
        }
    }

    public long ReceiptOf(int target, int index) => Volatile.Read(ref _firstReceipt[target][index]);

    /// <summary>The latest receipt of the event over all targets; 0 when some target has not received it yet.</summary>
    public long AllReceived(int index)
    {
        long last = 0;
        for (var t = 0; t < targets; t++)
        {
            var at = ReceiptOf(t, index);
            if (at == 0)
            {
                return 0;
            }

            last = Math.Max(last, at);
        }

        return last;
    }

    /// <summary>Deliveries (event × target) that arrived within [from, to).</summary>
    public long DeliveriesBetween(long from, long to)
    {
        long count = 0;
        foreach (var receipts in _firstReceipt)
        {
            foreach (var at in receipts)
            {
                if (at >= from && at < to)
                {
                    count++;
                }
            }
        }

        return count;
    }
}
