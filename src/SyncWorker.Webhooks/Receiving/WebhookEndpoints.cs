using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace SyncWorker.Webhooks.Receiving;

/// <summary>Maps the receiving endpoint.</summary>
public static class WebhookEndpoints
{
    /// <summary>The path Stripe posts to.</summary>
    public const string StripePath = "/webhooks/stripe";

    /// <summary>Maps <c>POST /webhooks/stripe</c>.</summary>
    public static IEndpointRouteBuilder MapStripeWebhooks(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapPost(StripePath, (HttpContext context, StripeWebhookReceiver receiver) => receiver.ReceiveAsync(context))
            .WithName("ReceiveStripeWebhook")
            .DisableAntiforgery();
        return endpoints;
    }
}
