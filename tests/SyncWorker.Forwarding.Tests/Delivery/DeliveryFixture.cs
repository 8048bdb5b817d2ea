using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Targets;
using WireMock.Logging;
using WireMock.Server;

namespace SyncWorker.Forwarding.Tests.Delivery;

/// <summary>Targets, deliveries and services for the delivery tests; each test starts its own WireMock server.</summary>
internal static class DeliveryFixture
{
    public const string ApiKeyHeader = "X-Api-Key";
    public const string ApiKey = "partner-key-7f3a91";
    public const string WebhookId = "msg_2ZfYx1q0Hk8";
    public const string IdempotencyKey = "idem_order_cs_123";
    public const string Description = "order cs_123 (order.paid)";

    /// <summary>A Standard Webhooks secret of 32 bytes.</summary>
    public static readonly string Secret =
        "whsec_" + Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)(i * 37)).ToArray());

    /// <summary>UTF-8 JSON with characters outside ASCII, so a body re-encoded anywhere would not verify.</summary>
    public static readonly byte[] Body = Encoding.UTF8.GetBytes(
        """{"id":"cs_123","type":"order.paid","customer":{"name":"Zoë Ångström","city":"東京"},"amount_total":4200}""");

    public static TargetDelivery OrderDelivery() => new(WebhookId, IdempotencyKey, Body, Description);

    /// <summary>A target on <paramref name="server"/> with fast retries; <paramref name="configure"/> adjusts it.</summary>
    public static TargetOptions Target(WireMockServer server, Action<TargetOptions>? configure = null, string name = "wms") =>
        Target(server.Url + "/hooks/orders", configure, name);

    public static TargetOptions Target(string url, Action<TargetOptions>? configure = null, string name = "wms")
    {
        var target = new TargetOptions
        {
            Name = name,
            Url = url,
            Mode = "test",
            Events = ["checkout.session.completed"],
            SigningSecret = Secret,
            Headers = { [ApiKeyHeader] = ApiKey },
            TimeoutSeconds = 5,
            Retry = { MaxRetryAttempts = 2, BaseDelaySeconds = 0.01, MaxDelaySeconds = 0.05, MaxRetryAfterSeconds = 120 },
        };
        configure?.Invoke(target);
        return target;
    }

    public static ServiceProvider Services(TimeProvider? time, params TargetOptions[] targets)
    {
        var services = new ServiceCollection();
        if (time is not null)
        {
            services.AddSingleton(time);
        }

        services.AddTargetHttpClients(targets);
        return services.BuildServiceProvider();
    }

    /// <summary>A fake clock that starts now (so the StandardWebhooks package accepts its timestamps).</summary>
    public static ObservableFakeTimeProvider FakeTimeNow() => new(DateTimeOffset.UtcNow);

    public static ILogEntry[] Requests(WireMockServer server) => server.LogEntries.ToArray();

    public static string Header(ILogEntry entry, string name)
    {
        var headers = entry.RequestMessage!.Headers!;
        var values = headers.Where(header => string.Equals(header.Key, name, StringComparison.OrdinalIgnoreCase)).ToArray();
        Assert.That(values, Has.Length.EqualTo(1), $"exactly one '{name}' header");
        return string.Join(",", values[0].Value);
    }

    public static byte[] BodyBytes(ILogEntry entry) =>
        entry.RequestMessage!.BodyAsBytes ?? Encoding.UTF8.GetBytes(entry.RequestMessage.Body ?? "");

    /// <summary>Verifies a received request with the StandardWebhooks NuGet package (throws when it does not verify).</summary>
    public static void VerifyWithStandardWebhooks(ILogEntry entry, string secret)
    {
        var headers = new HeaderDictionary
        {
            ["webhook-id"] = Header(entry, "webhook-id"),
            ["webhook-timestamp"] = Header(entry, "webhook-timestamp"),
            ["webhook-signature"] = Header(entry, "webhook-signature"),
        };
        new StandardWebhooks.StandardWebhook(secret).Verify(Encoding.UTF8.GetString(BodyBytes(entry)), headers);
    }

    /// <summary>Waits, polling, until <paramref name="condition"/> holds; fails the test at the deadline.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what, double seconds = 5)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out after {seconds} s waiting until {what}.");
            }

            await Task.Delay(10);
        }
    }

    /// <summary>Cancels a test's delivery if it hangs, so a bug fails the test instead of stalling the suite.</summary>
    public static CancellationToken Deadline(double seconds = 15) => new CancellationTokenSource(TimeSpan.FromSeconds(seconds)).Token;
}

/// <summary>A <see cref="FakeTimeProvider"/> that records the due time of every timer created, so a test can wait until a delay has begun before advancing.</summary>
internal sealed class ObservableFakeTimeProvider(DateTimeOffset start) : FakeTimeProvider(start)
{
    private readonly ConcurrentQueue<TimeSpan> _dueTimes = new();

    private int _live;

    public bool HasTimer(TimeSpan dueTime) => _dueTimes.Contains(dueTime);

    /// <summary>Timers created and not yet disposed.</summary>
    public int LiveTimers => Volatile.Read(ref _live);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        _dueTimes.Enqueue(dueTime);
        Interlocked.Increment(ref _live);
        return new CountedTimer(base.CreateTimer(callback, state, dueTime, period), this);
    }

    private sealed class CountedTimer(ITimer inner, ObservableFakeTimeProvider owner) : ITimer
    {
        private int _disposed;

        public bool Change(TimeSpan dueTime, TimeSpan period) => inner.Change(dueTime, period);

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Interlocked.Decrement(ref owner._live);
            }

            inner.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
