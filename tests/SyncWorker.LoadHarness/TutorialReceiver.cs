using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace SyncWorker.LoadHarness;

/// <summary>What the tutorial receiver publishes: the event's id and type and the raw JSON.</summary>
public sealed record TutorialStripeEvent(string Id, string Type, string Json);

/// <summary>
/// The reference receiver, as Stripe's .NET webhook tutorial writes it plus a MassTransit publish: read the body as a
/// string, <c>EventUtility.ConstructEvent</c> (signature check and full deserialisation), then
/// <c>IPublishEndpoint.Publish</c> on RabbitMQ (MassTransit's defaults: persistent, publisher-confirmed). Runs as its
/// own process (<c>SyncWorker.LoadHarness tutorial-receiver</c>), configured by environment variables
/// <c>TUTORIAL_RABBITMQ_URI</c>, <c>TUTORIAL_WEBHOOK_SECRET</c> and <c>ASPNETCORE_URLS</c>.
/// </summary>
internal static class TutorialReceiver
{
    public const string Mode = "tutorial-receiver";
    public const string Exchange = "tutorial.events";
    public const string Queue = "tutorial.intake";

    public static async Task<int> RunAsync(string[] args)
    {
        var rabbit = new Uri(Environment.GetEnvironmentVariable("TUTORIAL_RABBITMQ_URI") ?? throw new InvalidOperationException("TUTORIAL_RABBITMQ_URI is not set."));
        var secret = Environment.GetEnvironmentVariable("TUTORIAL_WEBHOOK_SECRET") ?? throw new InvalidOperationException("TUTORIAL_WEBHOOK_SECRET is not set.");

        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddMassTransit(bus =>
        {
            bus.DisableUsageTelemetry();
            bus.UsingRabbitMq((context, cfg) =>
            {
                var userInfo = rabbit.UserInfo.Split(':');
                var virtualHost = Uri.UnescapeDataString(rabbit.AbsolutePath.TrimStart('/'));
                cfg.Host(rabbit.Host, (ushort)rabbit.Port, virtualHost.Length == 0 ? "/" : virtualHost, host =>
                {
                    host.Username(Uri.UnescapeDataString(userInfo[0]));
                    host.Password(Uri.UnescapeDataString(userInfo[1]));
                    // MassTransit's default, stated: a publish completes once the broker confirmed it.
                    host.PublisherConfirmation = true;
                });
                // The exchange the harness bound its queue to before the run.
                cfg.Message<TutorialStripeEvent>(m => m.SetEntityName(Exchange));
            });
        });
        // Readiness only (MassTransit's bus health), so the harness starts the load once the bus is connected.
        builder.Services.AddHealthChecks();
        var app = builder.Build();
        app.MapHealthChecks("/health/ready");
        // For the harness: methods JIT-compiled and bytes allocated so far (SyncWorker exports the same on /metrics).
        app.MapGet("/runtime-counters", () => string.Create(
            System.Globalization.CultureInfo.InvariantCulture, $"{System.Runtime.JitInfo.GetCompiledMethodCount()} {GC.GetTotalAllocatedBytes(precise: true)}"));

        app.MapPost("/webhooks/stripe", async (HttpRequest request, IPublishEndpoint publishEndpoint) =>
        {
            var json = await new StreamReader(request.Body).ReadToEndAsync();
            try
            {
                var stripeEvent = EventUtility.ConstructEvent(json, request.Headers["Stripe-Signature"], secret, throwOnApiVersionMismatch: false);
                await publishEndpoint.Publish(new TutorialStripeEvent(stripeEvent.Id, stripeEvent.Type, json));
                return Results.Ok();
            }
            catch (StripeException)
            {
                return Results.BadRequest();
            }
        });

        await app.RunAsync();
        return 0;
    }
}
