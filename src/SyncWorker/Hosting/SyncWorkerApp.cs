using Microsoft.Extensions.Options;
using SyncWorker.Forwarding.Health;
using SyncWorker.Forwarding.Hosting;
using SyncWorker.Forwarding.Installs;
using SyncWorker.Forwarding.Ledger;
using SyncWorker.Manifest;
using SyncWorker.Messaging;
using SyncWorker.Operations;
using SyncWorker.Store;
using SyncWorker.Store.Hosting;
using SyncWorker.Webhooks.Receiving;

namespace SyncWorker.Hosting;

/// <summary>Builds and runs the SyncWorker web host.</summary>
public static class SyncWorkerApp
{
    /// <summary>Exit code for invalid configuration (sysexits.h EX_CONFIG).</summary>
    public const int ConfigurationErrorExitCode = 78;

    /// <summary>
    /// <c>Benchmark:WithoutLedger=true</c>: forwarders send without the delivery ledger (no claim, no record, every repeat
    /// POSTed again). For the load harness's baseline only, so that the ledger's cost is measured on one build; never in a
    /// deployment. The start-up report warns when it is on.
    /// </summary>
    public const string WithoutLedgerKey = "Benchmark:WithoutLedger";

    /// <summary>True when <see cref="WithoutLedgerKey"/> is set to true.</summary>
    public static bool WithoutLedger(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return bool.TryParse(configuration[WithoutLedgerKey], out var off) && off;
    }

    /// <summary>
    /// Builds the application. <paramref name="configure"/> runs first, so tests (and embedding hosts) can add
    /// configuration and services that composition then sees.
    /// </summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            // appsettings*.json travel with the binaries, so `dotnet run --project src/SyncWorker` from the
            // repository root finds them; relative paths in settings (Manifest:Path) resolve against the working directory.
            ContentRootPath = AppContext.BaseDirectory,
        });
        configure?.Invoke(builder);
        builder.AddSyncWorkerLogging();

        var role = WorkerRoles.Resolve(builder.Configuration);
        // The admin endpoints listen on an address of their own, beside the webhook listener's (never only behind it).
        var webhookUrls = AdminSettings.WebhookUrls(builder.WebHost);
        var admin = AdminSettings.Read(builder.Configuration, webhookUrls);
        if (admin is not null)
        {
            builder.WebHost.UseUrls([.. webhookUrls, .. admin.Urls]);
            builder.Services.AddSingleton(admin);
            // The admin endpoints' OpenAPI document (served at /admin/openapi.json, checked in as docs/admin-openapi.json).
            builder.Services.AddOpenApi(options =>
            {
                options.ShouldInclude = description => description.RelativePath?.StartsWith("admin/", StringComparison.Ordinal) == true;
                options.AddDocumentTransformer((document, _, _) =>
                {
                    document.Info.Title = "SyncWorker admin API";
                    document.Info.Description = "On the admin listener (Admin:Urls) only; every request carries Authorization: Bearer <token> of Admin:Tokens (write scope for changes).";
                    document.Servers = [];
                    return Task.CompletedTask;
                });
            });
        }

        var shutdown = ShutdownTimeout(builder.Configuration);
        // The host must be done inside the budget, with room for the process to exit; the bus gets most of it to
        // finish or hand back in-flight deliveries, the rest is for the server and the other services.
        builder.Services.Configure<HostOptions>(options => options.ShutdownTimeout = shutdown * 0.9);
        builder.Services.AddOptions<MassTransit.MassTransitHostOptions>().PostConfigure(options => options.StopTimeout = shutdown * 0.7);
        builder.AddAppManifest();
        if (role.Forwards())
        {
            // The store holds the delivery ledger, which forwarders consult before every POST; receivers never wait for it.
            builder.AddSyncWorkerStore(new StoreRole(role.ToString(), SplitRole: role != WorkerRole.All, Receives: role.Receives()));
            if (!WithoutLedger(builder.Configuration))
            {
                builder.Services.AddSingleton<DeliveryLedgerGate>();
            }

            // Uninstalled accounts, told apart without a store round trip per delivery (see InstallState).
            builder.Services.AddSingleton<InstallState>();
            builder.Services.AddHostedService(provider => provider.GetRequiredService<InstallState>());
            // Their dead letters swept back to their target queues to end as skipped (see UninstallSweeper).
            builder.Services.AddUninstallSweep();
            builder.AddSyncWorkerForwarding();
            builder.Services.AddManagedTargets();
            builder.Services.AddTargetHealth();
            builder.AddSyncWorkerMessaging(ForwardingRegistration.AddConsumers, ForwardingRegistration.ConfigureEndpoints);
            builder.Services.AddForwardingReadiness(role.Receives());
        }
        else
        {
            builder.AddSyncWorkerMessaging();
        }

        if (role.Receives())
        {
            builder.AddStripeWebhookReceiver();
            builder.AddStripeEventPublisherReadiness();
        }

        builder.Services.AddHostedService<StartupReport>();
        builder.AddSyncWorkerObservability();

        var app = builder.Build();
        app.MapSyncWorkerObservability();
        app.MapAdminEndpoints(role, admin);
        if (role.Receives())
        {
            app.MapStripeWebhooks();
        }

        return app;
    }

    /// <summary>
    /// The executable: reads the command line (<see cref="OperationsCli.RunAsync(string[], Func{IConfiguration}, Func{string[], Task{int}})"/>)
    /// and runs the worker until shutdown (no command, or <c>serve</c>; host arguments such as <c>--urls</c>,
    /// <c>--environment</c> and <c>Key=Value</c> pass through), prints help, or runs an operations verb
    /// (<c>dead-letters …</c>, <c>targets …</c>, <c>backfill</c>, <c>status</c>) and exits; returns the process exit code.
    /// </summary>
    public static Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);

        // The verbs read the same configuration sources as the worker (appsettings, environment), without starting anything.
        return OperationsCli.RunAsync(
            args,
            () => WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory }).Configuration,
            ServeAsync);
    }

    /// <summary>Runs the worker with the host's arguments until shutdown; returns the process exit code.</summary>
    public static async Task<int> ServeAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        WebApplication app;
        try
        {
            app = Build(args);
            // Validate every option now, so a bad value ends here with a clear message instead of a host start-up failure.
            app.Services.GetService<IStartupValidator>()?.Validate();
        }
        catch (Exception exception) when (IsConfigurationError(exception))
        {
            return ReportConfigurationError(exception);
        }

        try
        {
            await app.RunAsync();
            return 0;
        }
        catch (Exception exception) when (IsConfigurationError(exception))
        {
            return ReportConfigurationError(exception);
        }
        finally
        {
            await app.DisposeAsync();
        }
    }

    /// <summary>Configuration key of the graceful shutdown budget.</summary>
    public const string ShutdownTimeoutKey = "Worker:ShutdownTimeoutSeconds";

    /// <summary>Reads <c>Worker:ShutdownTimeoutSeconds</c> (default 30, 1 to 3600).</summary>
    public static TimeSpan ShutdownTimeout(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var text = configuration[ShutdownTimeoutKey];
        if (string.IsNullOrWhiteSpace(text))
        {
            return TimeSpan.FromSeconds(30);
        }

        return double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds) && seconds is >= 1 and <= 3600
            ? TimeSpan.FromSeconds(seconds)
            : throw new MessagingConfigurationException($"{ShutdownTimeoutKey} must be a number of seconds between 1 and 3600 (got '{text}'); the default is 30.");
    }

    private static bool IsConfigurationError(Exception exception) =>
        exception is ManifestException or MessagingConfigurationException or OptionsValidationException or StoreConfigurationException
        // Start-up validation throws every failing options type's exception together.
        || (exception is AggregateException aggregate && aggregate.InnerExceptions.All(IsConfigurationError));

    private static IEnumerable<string> Problems(Exception exception) => exception switch
    {
        OptionsValidationException validation => validation.Failures,
        AggregateException aggregate => aggregate.InnerExceptions.SelectMany(Problems),
        _ => [exception.Message],
    };

    private static int ReportConfigurationError(Exception exception)
    {
        var problems = Problems(exception);
        Console.Error.WriteLine("SyncWorker did not start: its configuration is invalid.");
        foreach (var problem in problems)
        {
            Console.Error.WriteLine($"  - {problem}");
        }

        Console.Error.WriteLine("Settings come from appsettings.json, appsettings.{Environment}.json and environment variables (Section__Key). See README.md, Configuration.");
        return ConfigurationErrorExitCode;
    }
}
