using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using SyncWorker.Contracts;
using SyncWorker.Manifest;

namespace SyncWorker.Hosting;

/// <summary>
/// Probes, metrics and traces. <c>GET /health/live</c>: the process answers (Kubernetes liveness: restart when it does
/// not). <c>GET /health/ready</c>: configuration valid and manifest loaded (the process would not have started
/// otherwise), broker connected and, for instances that forward, consumers running (MassTransit's bus and endpoint
/// health); Kubernetes readiness: send no traffic while not ready. <c>GET /metrics</c>: Prometheus text of SyncWorker's
/// meter, MassTransit's, ASP.NET Core's, HttpClient's and the .NET runtime's. Traces (ASP.NET Core, MassTransit through
/// the broker, HttpClient to the target) are made and go over OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (or
/// <c>Telemetry:Tracing</c> is true); otherwise no span is made.
/// </summary>
public static class ObservabilityExtensions
{
    /// <summary>Registers health checks and OpenTelemetry.</summary>
    public static IHostApplicationBuilder AddSyncWorkerObservability(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddHealthChecks()
            .AddCheck<ManifestHealthCheck>("manifest", tags: ["ready"]);

        var otlp = !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var traced = TracingEnabled(builder.Configuration, otlp);
        var telemetry = builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(SyncWorkerTelemetry.Name, "MassTransit")
                    .AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation()
                    .AddRuntimeInstrumentation()
                    .AddPrometheusExporter();
                if (otlp)
                {
                    metrics.AddOtlpExporter();
                }
            });
        if (!traced)
        {
            // No span is created, kept or exported: with nothing to export them to, spans only cost CPU and memory on
            // every webhook and delivery (measured in docs/benchmarks/NOTES.md, issue 13).
            return builder;
        }

        telemetry.WithTracing(tracing =>
            {
                tracing.AddSource(SyncWorkerTelemetry.Name, "MassTransit")
                    .AddAspNetCoreInstrumentation(options => options.Filter = context =>
                        !context.Request.Path.StartsWithSegments("/health", StringComparison.Ordinal)
                        && !context.Request.Path.StartsWithSegments("/metrics", StringComparison.Ordinal))
                    .AddHttpClientInstrumentation();
                if (otlp)
                {
                    tracing.AddOtlpExporter();
                }
            });
        return builder;
    }

    /// <summary>Configuration key that switches tracing on or off: <c>Telemetry:Tracing</c>.</summary>
    public const string TracingKey = "Telemetry:Tracing";

    /// <summary>
    /// <c>Telemetry:Tracing</c>: <c>true</c> or <c>false</c>; by default on exactly when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>
    /// is set (traces have somewhere to go). Set it to <c>true</c> for an exporter added by an embedding host.
    /// </summary>
    public static bool TracingEnabled(IConfiguration configuration, bool otlp)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var text = configuration[TracingKey];
        if (string.IsNullOrWhiteSpace(text))
        {
            return otlp;
        }

        return bool.TryParse(text.Trim(), out var enabled)
            ? enabled
            : throw new Messaging.MessagingConfigurationException($"{TracingKey} is '{text}'; use true or false (default: true when OTEL_EXPORTER_OTLP_ENDPOINT is set).");
    }

    /// <summary>Maps <c>/health/live</c>, <c>/health/ready</c> and <c>/metrics</c>.</summary>
    public static WebApplication MapSyncWorkerObservability(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains("ready"),
            // MassTransit reports a bus whose broker connection or endpoints are down as Degraded: not ready.
            ResultStatusCodes =
            {
                [HealthStatus.Healthy] = StatusCodes.Status200OK,
                [HealthStatus.Degraded] = StatusCodes.Status503ServiceUnavailable,
                [HealthStatus.Unhealthy] = StatusCodes.Status503ServiceUnavailable,
            },
            ResponseWriter = WriteReadinessAsync,
        });
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }

    /// <summary>A small JSON body: overall status and each check's status and description (no exception details).</summary>
    private static Task WriteReadinessAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsJsonAsync(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(entry => entry.Key, entry => new { status = entry.Value.Status.ToString(), description = entry.Value.Description }),
        });
    }

    /// <summary>Healthy once the manifest is loaded (it always is in a started process; it says which one).</summary>
    private sealed class ManifestHealthCheck(AppManifest manifest) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(HealthCheckResult.Healthy($"{manifest.Id} {manifest.Version}"));
    }
}
