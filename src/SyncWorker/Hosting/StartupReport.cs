using Microsoft.Extensions.Options;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Manifest;
using SyncWorker.Messaging;
using SyncWorker.Webhooks.Receiving;

namespace SyncWorker.Hosting;

/// <summary>Says at start what this instance runs with (never a secret), and warns loudly when events are not durable.</summary>
internal sealed partial class StartupReport(
    AppManifest manifest,
    PermissionPolicy policy,
    MessagingTransport transport,
    IConfiguration configuration,
    IServiceProvider services,
    ILogger<StartupReport> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var role = WorkerRoles.Resolve(configuration);
        var permitted = policy.PermittedEventTypes.Count;
        LogManifest(logger, manifest.Id, manifest.Version, manifest.SourcePath, permitted);
        LogRole(logger, role);
        if (role.Receives())
        {
            var secrets = services.GetRequiredService<IOptions<StripeOptions>>().Value.WebhookSecrets;
            var sandbox = secrets.Count(secret => secret.Sandbox);
            var testOnly = secrets.Count(secret => secret.TestOnly && !secret.Sandbox);
            LogSecrets(logger, secrets.Count, testOnly, sandbox);
        }

        if (role.Forwards())
        {
            var store = services.GetRequiredService<Store.StoreSettings>().Description;
            LogStore(logger, store);
            if (SyncWorkerApp.WithoutLedger(configuration))
            {
                LogWithoutLedger(logger, SyncWorkerApp.WithoutLedgerKey);
            }

            var routes = services.GetRequiredService<TargetRegistry>().Routes;
            for (var i = 0; i < routes.Count; i++)
            {
                var route = routes[i];
                var events = string.Join(", ", route.Options.Events);
                LogTarget(logger, route.Name, route.Options.Mode!, route.Options.Format, events, route.QueueName);
                if (route.MissesDelayedPayments)
                {
                    LogMissesDelayedPayments(logger, route.Name, $"{FulfillmentOptions.Section}:Targets:{i}:Events");
                }
            }
        }

        if (services.GetService<AdminSettings>() is { } admin)
        {
            var urls = string.Join(" ", admin.Urls);
            var tokens = string.Join(", ", admin.Tokens.Select(t => $"{t.Name} ({t.Scope.ToString().ToLowerInvariant()})"));
            LogAdmin(logger, urls, tokens);
        }
        else
        {
            LogAdminOff(logger, AdminSettings.TokenKey, AdminSettings.TokensSection);
        }

        if (transport.IsInMemory)
        {
            LogInMemory(logger);
        }
        else
        {
            var description = transport.ToString();
            LogTransport(logger, description);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "Manifest {ManifestId} {ManifestVersion} loaded from {ManifestPath}: {EventTypeCount} event types permitted")]
    private static partial void LogManifest(ILogger logger, string manifestId, string manifestVersion, string manifestPath, int eventTypeCount);

    [LoggerMessage(EventId = 9, Level = LogLevel.Warning,
        Message = "{Key} is true: deliveries are sent without the delivery ledger (no claim, nothing recorded, repeats POSTed again). For load measurements only.")]
    private static partial void LogWithoutLedger(ILogger logger, string key);

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Admin endpoints (/admin/…) listen on {Urls} only; tokens: {Tokens}")]
    private static partial void LogAdmin(ILogger logger, string urls, string tokens);

    [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "Admin endpoints are off: no {TokenKey} or {TokensSection}:N:Token is set")]
    private static partial void LogAdminOff(ILogger logger, string tokenKey, string tokensSection);

    [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "Role: {Role}")]
    private static partial void LogRole(ILogger logger, WorkerRole role);

    [LoggerMessage(EventId = 6, Level = LogLevel.Information,
        Message = "Target {Target}: {Mode} mode, {Format} format, events {Events}, queue {Queue}")]
    private static partial void LogTarget(ILogger logger, string target, string mode, string format, string events, string queue);

    [LoggerMessage(EventId = 7, EventName = "OrderTargetMissesDelayedPayments", Level = LogLevel.Warning,
        Message = "Target {Target} (Format order) subscribes to checkout.session.completed but not to checkout.session.async_payment_succeeded: " +
                  "orders paid by delayed methods (ACH Direct Debit, SEPA Direct Debit, Bacs) complete unpaid and are paid only with " +
                  "that event, so they would never reach it. Add checkout.session.async_payment_succeeded (or checkout.session.*) to {EventsKey}.")]
    private static partial void LogMissesDelayedPayments(ILogger logger, string target, string eventsKey);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information,
        Message = "{SecretCount} webhook signing secret(s) configured, {TestOnlyCount} of them test-only, {SandboxCount} of a sandbox")]
    private static partial void LogSecrets(ILogger logger, int secretCount, int testOnlyCount, int sandboxCount);

    [LoggerMessage(EventId = 8, Level = LogLevel.Information,
        Message = "Delivery ledger in {Store}: migrated in the background; target queues are consumed once it is reachable")]
    private static partial void LogStore(ILogger logger, string store);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Events are queued on {Transport}")]
    private static partial void LogTransport(ILogger logger, string transport);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning,
        Message = "EVENTS ARE NOT DURABLE: no RabbitMq:Uri is set, so SyncWorker runs on MassTransit's in-memory transport. " +
                  "Events answered 200 are lost if this process stops. Set RabbitMq:Uri=amqp://user:password@host:5672/vhost for real use.")]
    private static partial void LogInMemory(ILogger logger);
}
