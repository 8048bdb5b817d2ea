using MassTransit;
using MassTransit.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Hosting;

namespace SyncWorker.Hosting;

/// <summary>
/// What target endpoints mean for <c>/health/ready</c>. Every forwarding instance gets the entry
/// <c>forwarding-targets</c>, naming each target whose endpoint did not become ready in time
/// (<see cref="TargetEndpointSupervisor.NotReady"/>). On an instance that also receives webhooks (<c>Role=All</c>) a target
/// problem is reported there but does not fail readiness, which would stop Stripe's traffic for a forwarding problem:
/// the entry stays <c>Healthy</c> with the problem in its description, and MassTransit's bus check is replaced by
/// <c>masstransit-bus-ready</c>, which ignores target endpoints. A forwarder-only instance reports the entry
/// <c>Degraded</c> (so <c>503</c>): a rollout of forwarders with a target that cannot consume does not complete.
/// </summary>
internal static class ForwardingReadiness
{
    public const string TargetsCheck = "forwarding-targets";
    public const string BusCheck = "masstransit-bus-ready";

    public static void AddForwardingReadiness(this IServiceCollection services, bool receives)
    {
        services.AddHealthChecks().Add(new HealthCheckRegistration(
            TargetsCheck,
            provider => new TargetEndpointsHealthCheck(provider.GetRequiredService<TargetEndpointSupervisor>(), receives),
            HealthStatus.Unhealthy,
            ["ready"]));
        if (receives)
        {
            // MassTransit's own check stays (tag "masstransit"), out of readiness.
            services.Configure<MassTransitHealthCheckOptions<IBus>>(options => options.Tags.Add("masstransit"));
            services.AddHealthChecks().Add(new HealthCheckRegistration(
                BusCheck,
                provider => new BusWithoutTargetsHealthCheck(provider.GetRequiredService<IBusControl>()),
                HealthStatus.Unhealthy,
                ["ready"]));
        }
    }

    /// <summary>Target endpoints that should consume and do not.</summary>
    private sealed class TargetEndpointsHealthCheck(TargetEndpointSupervisor supervisor, bool receives) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var notReady = supervisor.NotReadyTargets();
            if (notReady.Count == 0)
            {
                return Task.FromResult(HealthCheckResult.Healthy("every target endpoint is consuming, starting or paused"));
            }

            var description = "not consuming: " + string.Join("; ", notReady.Select(pair => $"{pair.Key} ({pair.Value})"));
            return Task.FromResult(receives
                ? HealthCheckResult.Healthy(description + " (reported only: this instance receives webhooks, which go on)")
                : HealthCheckResult.Degraded(description));
        }
    }

    /// <summary>MassTransit's bus health with the target endpoints left out (they are <see cref="TargetsCheck"/>'s).</summary>
    private sealed class BusWithoutTargetsHealthCheck(IBusControl bus) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var health = bus.CheckHealth();
            var others = health.Endpoints.Where(pair => !IsTargetEndpoint(pair.Key)).ToList();
            var unhappy = others.Where(pair => pair.Value.Status != BusHealthStatus.Healthy).ToList();
            if (health.Status == BusHealthStatus.Healthy)
            {
                return Task.FromResult(HealthCheckResult.Healthy(health.Description));
            }

            if (unhappy.Count > 0)
            {
                var names = string.Join(", ", unhappy.Select(pair => pair.Key));
                return Task.FromResult(health.Status == BusHealthStatus.Unhealthy
                    ? HealthCheckResult.Unhealthy($"{health.Description} ({names})")
                    : HealthCheckResult.Degraded($"{health.Description} ({names})"));
            }

            // Only target endpoints are unhappy. MassTransit says Unhealthy then only when the bus itself is not started
            // (the intake endpoint is healthy, so not every endpoint is unhappy): that is not ready.
            return Task.FromResult(health.Status == BusHealthStatus.Unhealthy
                ? HealthCheckResult.Unhealthy(health.Description)
                : HealthCheckResult.Healthy("Ready (target endpoints: see " + TargetsCheck + ")"));
        }

        private static bool IsTargetEndpoint(string address) =>
            address.Split('?')[0].TrimEnd('/').Split('/')[^1].StartsWith(Topology.TargetQueuePrefix, StringComparison.Ordinal);
    }
}
