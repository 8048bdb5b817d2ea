using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using SyncWorker.Contracts;
using SyncWorker.Manifest;
using SyncWorker.Testing;
using SyncWorker.Webhooks.Receiving;

namespace SyncWorker.Webhooks.Tests.Receiving;

/// <summary>The receiver alone on Kestrel (loopback, free port), with a recording publisher, fake time and captured logs.</summary>
internal sealed class ReceiverHost : IAsyncDisposable
{
    public const string LiveSecret = "whsec_live_receiver_tests_0001";
    public const string RotatedSecret = "whsec_live_receiver_tests_0002";
    public const string TestOnlySecret = "whsec_test_receiver_tests_0003";
    public const string SandboxSecret = "whsec_sandbox_receiver_tests_0004";

    private readonly WebApplication _app;

    private ReceiverHost(WebApplication app, RecordingPublisher publisher, FakeTimeProvider time, HttpClient client)
    {
        _app = app;
        Publisher = publisher;
        Time = time;
        Client = client;
        Logs = app.Services.GetFakeLogCollector();
    }

    public RecordingPublisher Publisher { get; }

    public FakeTimeProvider Time { get; }

    public HttpClient Client { get; }

    /// <summary>Every line the receiver logged.</summary>
    public FakeLogCollector Logs { get; }

    public static async Task<ReceiverHost> StartAsync(Dictionary<string, string?>? settings = null, string manifestFile = "manifest/stripe-app.json")
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Logging.AddFakeLogging();
        var configuration = new Dictionary<string, string?>
        {
            ["Stripe:WebhookSecrets:0"] = LiveSecret,
            ["Stripe:WebhookSecrets:1"] = RotatedSecret,
            ["Stripe:WebhookSecrets:2:Secret"] = TestOnlySecret,
            ["Stripe:WebhookSecrets:2:TestOnly"] = "true",
            ["Stripe:WebhookSecrets:3:Secret"] = SandboxSecret,
            ["Stripe:WebhookSecrets:3:Mode"] = "sandbox",
            ["Webhooks:PublishTimeoutSeconds"] = "2",
        };
        foreach (var (key, value) in settings ?? [])
        {
            configuration[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(configuration);
        var time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_786_003_300));
        var publisher = new RecordingPublisher();
        var manifest = ManifestLoader.Load(RepositoryFile(manifestFile));
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddSingleton<IStripeEventPublisher>(publisher);
        builder.Services.AddSingleton(new PermissionPolicy(manifest, EventPermissionTable.LoadEmbedded()));
        builder.AddStripeWebhookReceiver();

        var app = builder.Build();
        app.MapStripeWebhooks();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return new ReceiverHost(app, publisher, time, new HttpClient { BaseAddress = new Uri(address) });
    }

    public long Now => Time.GetUtcNow().ToUnixTimeSeconds();

    /// <summary>Posts <paramref name="body"/> with a header signed by <paramref name="secrets"/> at <paramref name="timestamp"/> (default now).</summary>
    public Task<HttpResponseMessage> PostSignedAsync(string body, long? timestamp = null, params string[] secrets)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(body);
        var header = StripeEvents.SignatureHeader(bytes, timestamp ?? Now, secrets.Length == 0 ? [LiveSecret] : secrets);
        return PostAsync(bytes, header);
    }

    public Task<HttpResponseMessage> PostAsync(byte[] body, string? signatureHeader)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, WebhookEndpoints.StripePath)
        {
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = new("application/json");
        if (signatureHeader is not null)
        {
            request.Headers.TryAddWithoutValidation("Stripe-Signature", signatureHeader);
        }

        return Client.SendAsync(request);
    }

    public static string RepositoryFile(string relative)
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "SyncWorker.sln")))
        {
            directory = directory.Parent;
        }

        return Path.Combine(directory?.FullName ?? throw new InvalidOperationException("SyncWorker.sln not found above the test directory."), relative);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Records what was published; can be told to fail like an unreachable broker.</summary>
internal sealed class RecordingPublisher : IStripeEventPublisher
{
    public ConcurrentQueue<StripeEventReceived> Published { get; } = new();

    public Exception? FailWith { get; set; }

    public Task PublishAsync(StripeEventReceived message, CancellationToken cancellationToken)
    {
        if (FailWith is { } failure)
        {
            return Task.FromException(failure);
        }

        Published.Enqueue(message);
        return Task.CompletedTask;
    }
}
