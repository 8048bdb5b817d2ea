using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace SyncWorker.Messaging;

/// <summary>
/// Ready when the receiver's publisher has a connection with the topology declared (it connects if it has none, within
/// a few seconds); not ready with the reason otherwise, such as an unreachable cluster or an intake queue of another type.
/// Always healthy on the in-memory transport.
/// </summary>
public sealed class StripeEventPublisherHealthCheck(IServiceProvider services) : IHealthCheck
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(4);

    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (services.GetService<RabbitMqStripeEventPublisher>() is not { } publisher)
        {
            return HealthCheckResult.Healthy("in-memory transport");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Budget);
        try
        {
            await publisher.EnsureConnectedAsync(timeout.Token);
            return HealthCheckResult.Healthy($"publishing to {publisher.ConnectedNode}");
        }
        catch (Exception exception) when (exception is EventNotQueuedException or OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy(publisher.LastFailure ?? $"no RabbitMQ connection within {Budget.TotalSeconds:F0} s");
        }
    }
}
