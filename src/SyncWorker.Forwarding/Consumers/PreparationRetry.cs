using System.Collections.Concurrent;
using Polly;
using Polly.Retry;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Targets;

namespace SyncWorker.Forwarding.Consumers;

/// <summary>
/// Retries what a delivery needs before it can be sent (the order's line items from Stripe) when it fails transiently
/// (429, 5xx, network), with the target's own <c>Retry</c> settings: exponential backoff with jitter. Permanent failures
/// (revoked key, missing permission, unknown session) are not retried. This is the only retry of a round: Stripe.net's own
/// network retries are off (<see cref="Orders.StripeLineItemSource.MaxNetworkRetries"/>), so a round makes at most
/// 1 + <c>Retry:MaxRetryAttempts</c> calls per page.
/// </summary>
public sealed class PreparationRetry(TimeProvider timeProvider)
{
    private readonly ConcurrentDictionary<string, ResiliencePipeline> _pipelines = new(StringComparer.Ordinal);

    /// <summary>Runs <paramref name="action"/> under the target's retry pipeline.</summary>
    public ValueTask<T> ExecuteAsync<T>(TargetOptions target, Func<CancellationToken, ValueTask<T>> action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        var pipeline = _pipelines.GetOrAdd(target.Name, static (_, state) => Build(state.target, state.timeProvider), (target, timeProvider));
        return pipeline.ExecuteAsync(action, cancellationToken);
    }

    private static ResiliencePipeline Build(TargetOptions target, TimeProvider timeProvider)
    {
        var builder = new ResiliencePipelineBuilder { TimeProvider = timeProvider };
        if (target.Retry.MaxRetryAttempts > 0)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<DeliveryFailedException>(failure => !failure.IsPermanent),
                MaxRetryAttempts = target.Retry.MaxRetryAttempts,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromSeconds(target.Retry.BaseDelaySeconds),
                MaxDelay = TimeSpan.FromSeconds(target.Retry.MaxDelaySeconds),
            });
        }

        return builder.Build();
    }
}
