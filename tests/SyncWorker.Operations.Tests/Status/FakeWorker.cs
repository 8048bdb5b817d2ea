using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using SyncWorker.Contracts;

namespace SyncWorker.Operations.Tests.Status;

/// <summary>
/// A worker's admin endpoint, as small as it gets: Kestrel on a free loopback port answering <c>GET /admin/status</c> with a
/// canned <see cref="InstanceStatus"/> (camelCase JSON, as the worker writes it) when the bearer token matches, 401 otherwise.
/// </summary>
internal sealed class FakeWorker : IAsyncDisposable
{
    /// <summary>As the worker writes it (ASP.NET Core's web defaults: camelCase).</summary>
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    private readonly WebApplication _app;
    private int _requests;
    private int _refused;

    private FakeWorker(WebApplication app) => _app = app;

    /// <summary>Its base URL, such as <c>http://127.0.0.1:41234</c>.</summary>
    public string Url { get; private set; } = "";

    /// <summary>Requests answered with the status.</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Requests refused with 401.</summary>
    public int Refused => Volatile.Read(ref _refused);

    public static async Task<FakeWorker> StartAsync(string token, InstanceStatus status)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var worker = new FakeWorker(app);
        var body = JsonSerializer.Serialize(status, JsonOptions);
        app.MapGet("/admin/status", (HttpContext context) =>
        {
            if (!string.Equals(context.Request.Headers.Authorization.ToString(), "Bearer " + token, StringComparison.Ordinal))
            {
                Interlocked.Increment(ref worker._refused);
                return Results.Unauthorized();
            }

            Interlocked.Increment(ref worker._requests);
            return Results.Text(body, "application/json");
        });
        await app.StartAsync();
        worker.Url = app.Urls.Single();
        return worker;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
