using System.Collections.Concurrent;
using Polly.CircuitBreaker;

namespace SyncWorker.Forwarding.Delivery;

/// <summary>The circuit breaker state of each target's pipeline in this instance (for metrics and status).</summary>
public sealed class TargetCircuitStates
{
    private readonly ConcurrentDictionary<string, CircuitBreakerStateProvider> _providers = new(StringComparer.Ordinal);

    /// <summary>The provider attached to the target's circuit breaker when its pipeline is built.</summary>
    internal CircuitBreakerStateProvider For(string targetName) => _providers.GetOrAdd(targetName, _ => new CircuitBreakerStateProvider());

    /// <summary>The circuit's state; <see cref="CircuitState.Closed"/> before the first delivery built the pipeline.</summary>
    public CircuitState StateOf(string targetName) =>
        _providers.TryGetValue(targetName, out var provider) ? provider.CircuitState : CircuitState.Closed;
}
