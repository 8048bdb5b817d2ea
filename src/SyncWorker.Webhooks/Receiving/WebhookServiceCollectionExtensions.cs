using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using SyncWorker.Webhooks.Signatures;

namespace SyncWorker.Webhooks.Receiving;

/// <summary>Registers the receiver: options (validated at start), signature verifier and the endpoint's handler.</summary>
public static class WebhookServiceCollectionExtensions
{
    /// <summary>
    /// Adds the Stripe webhook receiver. Needs an <see cref="SyncWorker.Manifest.PermissionPolicy"/> and an
    /// <see cref="SyncWorker.Contracts.IStripeEventPublisher"/> registered by the manifest and messaging stages.
    /// </summary>
    public static IHostApplicationBuilder AddStripeWebhookReceiver(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;

        services.AddSingleton<IConfigureOptions<StripeOptions>, StripeOptionsSetup>();
        services.AddSingleton<IValidateOptions<StripeOptions>, StripeOptionsValidation>();
        services.AddOptions<StripeOptions>().ValidateOnStart();

        services.AddOptions<WebhookOptions>().BindConfiguration(WebhookOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<WebhookOptions>, WebhookOptionsValidation>();

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(provider =>
        {
            var stripe = provider.GetRequiredService<IOptions<StripeOptions>>().Value;
            return new StripeSignatureVerifier(
                stripe.WebhookSecrets,
                TimeSpan.FromSeconds(stripe.SignatureToleranceSeconds),
                provider.GetRequiredService<TimeProvider>());
        });
        services.AddSingleton<StripeWebhookReceiver>();
        services.AddSingleton<ReceiverActivity>();
        services.AddProblemDetails();
        return builder;
    }
}
