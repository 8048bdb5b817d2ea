using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SyncWorker.Hosting;
using SyncWorker.Testing;

namespace SyncWorker.Tests;

/// <summary>The real SyncWorker composition on Kestrel (loopback, free port), configured per test.</summary>
internal sealed class WorkerHost : IAsyncDisposable
{
    public const string Secret = "whsec_worker_host_tests_0001";

    private readonly WebApplication _app;

    private WorkerHost(WebApplication app, HttpClient client, HttpClient? admin)
    {
        _admin = admin;
        _app = app;
        Client = client;
    }

    private readonly HttpClient? _admin;

    /// <summary>The webhook listener (what Stripe reaches).</summary>
    public HttpClient Client { get; }

    /// <summary>The admin listener (<c>Admin:Urls</c>, a free loopback port of its own), when an admin token is configured.</summary>
    public HttpClient Admin => _admin ?? throw new InvalidOperationException("This worker has no admin token, so no admin listener.");

    public IServiceProvider Services => _app.Services;

    public static async Task<WorkerHost> StartAsync(Dictionary<string, string?> settings, Action<WebApplicationBuilder>? configure = null)
    {
        // The admin endpoints listen on a port of their own (Admin:Urls); a test's worker gets a free one.
        var hasAdmin = settings.Any(s => s.Value is { Length: > 0 } && (s.Key == "Admin:Token" || (s.Key.StartsWith("Admin:Tokens:", StringComparison.Ordinal) && s.Key.EndsWith(":Token", StringComparison.Ordinal))));
        string? adminUrl = null;
        if (hasAdmin)
        {
            adminUrl = settings.TryGetValue("Admin:Urls", out var given) && given is not null ? given.Split(';')[0] : $"http://127.0.0.1:{LoopbackPorts.Free()}";
            settings = new Dictionary<string, string?>(settings) { ["Admin:Urls"] = settings.GetValueOrDefault("Admin:Urls") ?? adminUrl };
        }

        var app = SyncWorkerApp.Build([], builder =>
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Environment.EnvironmentName = "Testing";
            if (Environment.GetEnvironmentVariable("SYNCWORKER_TEST_LOGS") is null)
            {
                builder.Logging.ClearProviders();
            }
            var configuration = new Dictionary<string, string?>
            {
                ["Stripe:WebhookSecrets:0"] = Secret,
                ["Manifest:Path"] = RepositoryFile("manifest/stripe-app.json"),
                // A store of its own per host (SQLite in a temporary folder), not one file shared by every test.
                ["Store:DataDirectory"] = Path.Combine(Path.GetTempPath(), "syncworker-tests", "store-" + Guid.NewGuid().ToString("N")[..12]),
            };
            foreach (var (key, value) in settings)
            {
                configuration[key] = value;
            }

            builder.Configuration.AddInMemoryCollection(configuration);
            configure?.Invoke(builder);
        });
        await app.StartAsync();
        // The store is migrated in the background (nothing at start waits for it); a test that reads the ledger right after
        // start would meet no table yet on a busy machine. Tests start from a migrated store; what happens before it is
        // migrated is tested on its own (StoreRegistrationTests, StoreOutageTests).
        if (app.Services.GetService<SyncWorker.Store.Hosting.StoreMonitor>() is { } store)
        {
            try
            {
                await store.FirstReady.WaitAsync(TimeSpan.FromSeconds(60));
            }
            catch (TimeoutException)
            {
                await app.DisposeAsync();
                throw new InvalidOperationException($"The worker's store was not migrated within 60 s: {store.Problem}");
            }
        }

        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses
            .First(a => adminUrl is null || new Uri(a).Port != new Uri(adminUrl).Port);
        var admin = adminUrl is null ? null : new HttpClient { BaseAddress = new Uri(adminUrl), Timeout = TimeSpan.FromSeconds(60) };
        return new WorkerHost(app, new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(60) }, admin);
    }

    /// <summary>Signs <paramref name="body"/> now with the test secret and posts it to /webhooks/stripe.</summary>
    public Task<HttpResponseMessage> PostSignedAsync(string body, CancellationToken cancellationToken = default) =>
        PostSignedAsync(body, Secret, cancellationToken);

    /// <summary>Signs <paramref name="body"/> now with <paramref name="secret"/> and posts it to /webhooks/stripe.</summary>
    public Task<HttpResponseMessage> PostSignedAsync(string body, string secret, CancellationToken cancellationToken = default)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var header = StripeEvents.SignatureHeader(bytes, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), secret);
        var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/stripe") { Content = new ByteArrayContent(bytes) };
        request.Content.Headers.ContentType = new("application/json");
        request.Headers.TryAddWithoutValidation("Stripe-Signature", header);
        return Client.SendAsync(request, cancellationToken);
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
        _admin?.Dispose();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _app.StopAsync(stop.Token);
        await _app.DisposeAsync();
    }
}
