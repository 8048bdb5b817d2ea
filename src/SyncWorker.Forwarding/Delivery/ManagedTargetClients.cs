using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using SyncWorker.Forwarding.Targets;

namespace SyncWorker.Forwarding.Delivery;

/// <summary>
/// The HTTP clients of targets managed at run time (the admin API), which the HTTP client factory cannot know at start:
/// the same chain as <see cref="TargetHttpClientServiceCollectionExtensions.AddTargetHttpClients"/> builds for configured
/// targets (resilience pipeline, then the Authorization header of <c>Auth</c>, then signing and headers, then a handler that follows no redirect), built when a
/// target's revision is first used. A client replaced by a newer revision is disposed once its deliveries in flight can
/// no longer need it.
/// </summary>
public sealed class ManagedTargetClients(TargetRegistry registry, IServiceProvider services, TimeProvider time, TargetCircuitStates circuits) : IDisposable
{
    private readonly ConcurrentDictionary<string, (long Revision, HttpClient Client)> _clients = new(StringComparer.Ordinal);

    /// <summary>The managed target called <paramref name="name"/> and its client; false when there is none.</summary>
    public bool TryGet(string name, [NotNullWhen(true)] out TargetOptions? target, [NotNullWhen(true)] out HttpClient? client)
    {
        target = null;
        client = null;
        if (registry.Find(name) is not { Managed: { } managed } route)
        {
            return false;
        }

        target = route.Options;
        if (_clients.TryGetValue(name, out var held) && held.Revision == managed.Revision)
        {
            client = held.Client;
            return true;
        }

        lock (_clients)
        {
            if (_clients.TryGetValue(name, out held) && held.Revision == managed.Revision)
            {
                client = held.Client;
                return true;
            }

            client = Build(route, managed);
            _clients[name] = (managed.Revision, client);
            if (held.Client is { } old)
            {
                // Deliveries in flight on the old client finish first: an hour is longer than any delivery's in-process retries
                // may wait (Retry-After at most 3600 s is refused beyond MaxRetryAfterSeconds).
                _ = Task.Delay(TimeSpan.FromHours(1), time).ContinueWith(_ => old.Dispose(), TaskScheduler.Default);
            }
        }

        return true;
    }

    private HttpClient Build(TargetRoute route, ManagedTargetState managed)
    {
        var target = route.Options;
        // A circuit breaker's state provider serves one pipeline: the new revision's breaker starts closed.
        circuits.Forget(target.Name);
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>();
        DeliveryResilience.Configure(pipeline, services, target);
        var signing = new StandardWebhookHandler(
            target.Name,
            new StandardWebhookSigner(target.SigningSecret),
            (target.Headers ?? []).ToArray(),
            time,
            managed.PreviousSigningSecret is { } previous ? new StandardWebhookSigner(previous) : null,
            managed.PreviousUntil)
        {
            InnerHandler = TargetHttpClientServiceCollectionExtensions.PrimaryHandler(),
        };
        return new HttpClient(new ResilienceHandler(pipeline.Build()) { InnerHandler = TargetAuthHandler.Wrap(target, services, signing) }, disposeHandler: true)
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var (_, client) in _clients.Values)
        {
            client.Dispose();
        }

        _clients.Clear();
    }
}
