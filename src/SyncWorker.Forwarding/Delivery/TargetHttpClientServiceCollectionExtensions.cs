using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using SyncWorker.Forwarding.Targets;

namespace SyncWorker.Forwarding.Delivery;

/// <summary>Registers one named <see cref="HttpClient"/> per fulfillment target and the <see cref="ITargetSender"/> that uses them.</summary>
public static class TargetHttpClientServiceCollectionExtensions
{
    /// <summary>How long a pooled connection is reused before it is replaced, so DNS changes are picked up.</summary>
    internal static readonly TimeSpan PooledConnectionLifetime = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Adds, for each target, the named client <c>syncworker-target-{Name}</c> (see <see cref="HttpTargetSender.ClientName"/>):
    /// <list type="bullet">
    /// <item>a <see cref="SocketsHttpHandler"/> that does not follow redirects (a 3xx is a failed attempt, so a delivery
    /// never reaches a host that is not configured), keeps no cookies, and renews connections every 2 minutes;</item>
    /// <item>no <see cref="HttpClient.Timeout"/>: the pipeline times each attempt out;</item>
    /// <item>a resilience pipeline, outer to inner: retry (exponential backoff with jitter, <c>Retry-After</c> honoured up
    /// to <c>Retry:MaxRetryAfterSeconds</c>; network errors, timeouts, 408, 429 and 5xx only), circuit breaker, per-attempt
    /// timeout;</item>
    /// <item>inside it, on every attempt, the target's <c>Authorization</c> header when it has <c>Auth</c> (see
    /// <see cref="TargetAuthHandler"/>);</item>
    /// <item>inside it, on every attempt, the Standard Webhooks signature with a fresh timestamp and the headers.</item>
    /// </list>
    /// Also adds <see cref="TargetHttpClientCatalog"/>, and <see cref="ITargetSender"/> (as <see cref="HttpTargetSender"/>) and
    /// <see cref="TimeProvider.System"/> unless already registered. May be called more than once, with other targets.
    /// Targets are not validated here (see <see cref="HttpTargetSender.ValidateTarget"/>, run at start-up); a target's
    /// signing secret is decoded when its client is first created.
    /// </summary>
    public static IServiceCollection AddTargetHttpClients(this IServiceCollection services, IReadOnlyList<TargetOptions> targets)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(targets);

        services.TryAddSingleton<TargetCircuitStates>();
        services.TryAddSingleton<TargetPace>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddLogging();
        services.TryAddSingleton(provider =>
            new TargetHttpClientCatalog(provider.GetServices<RegisteredTarget>().Select(registered => registered.Options)));
        services.TryAddSingleton(provider => new RequestTemplates.TargetRequestBuilder(
            provider.GetService<Microsoft.Extensions.Options.IOptions<TargetTemplatesOptions>>() ?? Microsoft.Extensions.Options.Options.Create(new TargetTemplatesOptions()),
            provider.GetService<SyncWorker.Manifest.AppManifest>()));
        services.TryAddSingleton<ITargetSender, HttpTargetSender>();

        foreach (TargetOptions target in targets)
        {
            ArgumentNullException.ThrowIfNull(target, nameof(targets));
            services.AddSingleton(new RegisteredTarget(target));

            IHttpClientBuilder client = services
                .AddHttpClient(HttpTargetSender.ClientName(target.Name), http => http.Timeout = Timeout.InfiniteTimeSpan)
                .ConfigurePrimaryHttpMessageHandler(PrimaryHandler)

                // The primary handler renews its connections itself; rotating handlers would only rebuild the chain.
                .SetHandlerLifetime(Timeout.InfiniteTimeSpan);

            // Handlers added first are outermost: the resilience handler wraps the signing handler.
            client.AddResilienceHandler(
                DeliveryResilience.PipelineName,
                (pipeline, context) => DeliveryResilience.Configure(pipeline, context.ServiceProvider, target));
            // Between the two, on every attempt: the target's Authorization header (Auth:*), when it has one.
            if (target.Auth?.IsEnabled == true)
            {
                client.AddHttpMessageHandler(provider => TargetAuthHandler.Create(target, provider)!);
            }

            client.AddHttpMessageHandler(provider => new StandardWebhookHandler(
                target.Name,
                new StandardWebhookSigner(target.SigningSecret),
                (target.Headers ?? []).ToArray(),
                provider.GetRequiredService<TimeProvider>()));
        }

        return services;
    }

    /// <summary>A target's primary handler: no redirects followed, no cookies, connections renewed every 2 minutes.</summary>
    internal static SocketsHttpHandler PrimaryHandler() => new()
    {
        AllowAutoRedirect = false,
        UseCookies = false,
        PooledConnectionLifetime = PooledConnectionLifetime,
    };

    /// <summary>A target given to <see cref="AddTargetHttpClients"/>, for <see cref="HttpTargetSender"/>.</summary>
    internal sealed record RegisteredTarget(TargetOptions Options);
}
