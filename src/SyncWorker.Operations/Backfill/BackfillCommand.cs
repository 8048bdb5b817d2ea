using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Spectre.Console;
using SyncWorker.Contracts;
using SyncWorker.Operations.Cli;
using SyncWorker.Store;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Operations.Backfill;

/// <summary>The options of one <c>backfill</c> run.</summary>
internal sealed record BackfillRequest(string Since, string? Account, bool DryRun, bool Json);

/// <summary>
/// <c>backfill --since &lt;time&gt; [--account acct_…] [--dry-run] [--json]</c>: lists the events Stripe could not deliver
/// to the receiver (<c>delivery_success=false</c>) since a time within Stripe's 30 days, and feeds those never fed before
/// through the normal path into <c>syncworker.intake</c>, oldest first. See the project's README.md.
/// </summary>
/// <remarks>
/// The run: check the command line and configuration; connect and take the lock (<see cref="BackfillLedger"/>); migrate
/// the store (as <c>store migrate</c> does) and, unless it is a dry run, import the ledger queue of earlier versions and
/// purge entries older than <see cref="BackfillLedger.Retention"/>; read the ledger (<see cref="IBackfillLedger"/>); list
/// every page from Stripe (<see cref="StripeEventLister"/>); sort the events (<see cref="BackfillPlan"/>); then, unless it
/// is a dry run, start the bus (<see cref="EventFeed"/>) and, per event, publish it confirmed and then record it in the
/// store. Nothing is fed before the whole listing succeeded. An event fed but not recorded (the store failed in
/// between) is fed again by the next run, and the delivery ledger suppresses the repeat.
/// </remarks>
internal static partial class BackfillCommand
{
    /// <summary>Above this many events to feed an interactive console shows a progress bar.</summary>
    private const int ProgressBarThreshold = 50;

    /// <summary>Otherwise (or with <c>--json</c>) one progress line per this many events listed or fed.</summary>
    private const int ProgressLineEvery = 100;

    public static async Task<int> RunAsync(
        CliSession session, IConfiguration configuration, BackfillRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(request);

        var startedAt = session.TimeProvider.GetUtcNow();
        var since = BackfillSince.Parse(request.Since, startedAt);
        if (request.Account is { } account && !AccountId().IsMatch(account))
        {
            throw CliException.Usage($"--account takes an installing account's id (acct_…); '{account}' is not one.");
        }

        var settings = BackfillSettings.Read(configuration);
        var storeSettings = StoreCommands.Settings(configuration);
        _ = session.Endpoint();

        await using var connection = await session.ConnectAsync(cancellationToken);
        await BackfillLedger.AcquireLockAsync(connection, cancellationToken);

        using var store = new SqlDeliveryLedger(storeSettings, session.TimeProvider);
        var ledger = await ReadLedgerAsync(session, storeSettings, connection, store, request, cancellationToken);
        var plan = new BackfillPlan(settings.Policy, ledger);

        using var http = new HttpClient(
            new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) },
            disposeHandler: true)
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        http.DefaultRequestHeaders.UserAgent.ParseAdd("SyncWorker-backfill");
        var lister = new StripeEventLister(http, settings.ApiBase, settings.ApiKey, request.Account, session.TimeProvider);
        session.Note(
            $"Listing events Stripe could not deliver since {BackfillSince.Iso(since)} " +
            $"({(request.Account is null ? "the app's own account" : $"account {request.Account}")}) from {lister.Server}; " +
            $"{Formats.Plural(ledger.Count, "event", "events")} in the ledger.",
            request.Json);
        await lister.ListAsync(
            since,
            page =>
            {
                var before = plan.Listed;
                foreach (var item in page)
                {
                    plan.Add(item);
                }

                if (plan.Listed / ProgressLineEvery > before / ProgressLineEvery)
                {
                    session.Note($"Listed {plan.Listed.ToString(CultureInfo.InvariantCulture)} events so far…", request.Json);
                }
            },
            cancellationToken);

        var toFeed = plan.ToFeed;
        string? failure = null;
        if (!request.DryRun && toFeed.Count > 0)
        {
            failure = await FeedAllAsync(session, configuration, store, toFeed, request.Json, cancellationToken);
        }

        WriteSummary(session, request, since, startedAt, plan, toFeed, failure, storeSettings.Description);
        if (failure is not null)
        {
            session.Error.WriteLine($"error: {failure}");
            return ExitCodes.Failed;
        }

        return ExitCodes.Ok;
    }

    /// <summary>
    /// Migrates the store, then reads the ids of the events fed within <see cref="BackfillLedger.Retention"/>. A real run
    /// first imports the ledger queue of earlier versions (then deletes it) and purges expired entries; a dry run writes
    /// nothing to the ledger and reads the old queue's entries beside the store's.
    /// </summary>
    /// <remarks>
    /// Migrating here, rather than refusing a store that is not at this version, spares the operator a step: the
    /// migrations are additive and taken under the store's migration lock, as at the worker's start, so running them from
    /// here is what <c>store migrate</c> or the next worker start would do anyway.
    /// </remarks>
    private static async Task<IReadOnlySet<string>> ReadLedgerAsync(
        CliSession session,
        StoreSettings storeSettings,
        IConnection connection,
        SqlDeliveryLedger store,
        BackfillRequest request,
        CancellationToken cancellationToken)
    {
        var now = session.TimeProvider.GetUtcNow();
        try
        {
            var migration = await new StoreMigrator(storeSettings).MigrateAsync(cancellationToken);
            if (migration.Applied)
            {
                session.Note($"Migrated {storeSettings.Description} from schema version {migration.From} to {migration.To}.", request.Json);
            }

            if (request.DryRun)
            {
                var fed = new HashSet<string>(await store.FedSinceAsync(now - BackfillLedger.Retention, cancellationToken), StringComparer.Ordinal);
                fed.UnionWith((await BackfillLedger.ReadLegacyAsync(connection, now, cancellationToken)).Select(e => e.EventId));
                return fed;
            }

            var imported = await BackfillLedger.ImportLegacyAsync(connection, store, now, cancellationToken);
            if (imported > 0)
            {
                session.Note(
                    $"Imported {Formats.Plural(imported, "entry", "entries")} of the RabbitMQ queue {BackfillLedger.LegacyLedgerQueue} " +
                    $"(the ledger of earlier versions) into {storeSettings.Description}, and deleted the queue.",
                    request.Json);
            }

            await store.PurgeFedBeforeAsync(now - BackfillLedger.Retention, cancellationToken);
            return await store.FedSinceAsync(now - BackfillLedger.Retention, cancellationToken);
        }
        catch (StoreUnavailableException exception)
        {
            throw CliException.Failed(
                $"{exception.Message} Check Store:ConnectionString (or Store:DataDirectory) and that the database is up, then run " +
                "backfill again; nothing was listed or fed.");
        }
        catch (StoreSchemaException exception)
        {
            throw CliException.Failed($"{exception.Message} Nothing was listed or fed.");
        }
    }

    /// <summary>Feeds every event, in order; returns why it stopped early, or null.</summary>
    private static async Task<string?> FeedAllAsync(
        CliSession session,
        IConfiguration configuration,
        IBackfillLedger ledger,
        IReadOnlyList<BackfillEvent> toFeed,
        bool json,
        CancellationToken cancellationToken)
    {
        await using var feed = await EventFeed.StartAsync(configuration, cancellationToken);
        try
        {
            if (!json && session.Console.Profile.Capabilities.Interactive && toFeed.Count > ProgressBarThreshold)
            {
                await session.Console.Progress().AutoClear(false).StartAsync(async context =>
                {
                    var bar = context.AddTask("Feeding", maxValue: toFeed.Count);
                    await FeedEachAsync(session, feed, ledger, toFeed, fed => bar.Value = fed, cancellationToken);
                    bar.Value = bar.MaxValue;
                });
            }
            else
            {
                await FeedEachAsync(
                    session,
                    feed,
                    ledger,
                    toFeed,
                    fed =>
                    {
                        if (fed % ProgressLineEvery == 0)
                        {
                            session.Note($"Fed {fed.ToString(CultureInfo.InvariantCulture)} of {toFeed.Count.ToString(CultureInfo.InvariantCulture)} events", json);
                        }
                    },
                    cancellationToken);
            }
        }
        catch (FeedException exception)
        {
            return exception.Message;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return "The backfill was cancelled. What was fed is in the ledger; run backfill again to feed the rest.";
        }

        return null;
    }

    private static async Task FeedEachAsync(
        CliSession session,
        EventFeed feed,
        IBackfillLedger ledger,
        IReadOnlyList<BackfillEvent> toFeed,
        Action<int> progress,
        CancellationToken cancellationToken)
    {
        var fed = 0;
        foreach (var evt in toFeed)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                await feed.PublishAsync(evt.ToMessage(session.TimeProvider.GetUtcNow()), cancellationToken);
            }
            catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                throw new FeedException(
                    $"RabbitMQ did not confirm event {evt.Id} into {Topology.IntakeQueue} ({Describe(exception)}); it was not fed, " +
                    "and nor were the events after it. What was fed is in the ledger: check the broker, then run backfill again.");
            }

            try
            {
                // Not cancellable: the event is in the queue now, and recording that is what keeps the next run from feeding it again.
                await ledger.RecordFedAsync(
                    [new BackfillEntry(evt.Id, evt.Type, evt.Account, session.TimeProvider.GetUtcNow())], CancellationToken.None);
            }
            catch (StoreUnavailableException exception)
            {
                throw new FeedException(
                    $"Event {evt.Id} was fed, but the store did not record it in the backfill ledger ({exception.Message}). The " +
                    "next run feeds it again; its copies carry the same message and delivery ids, so the delivery ledger " +
                    "suppresses the repeat. Check Store:ConnectionString and that the database is up, then run backfill again.");
            }

            evt.Fed = true;
            fed++;
            progress(fed);
        }
    }

    private static string Describe(Exception exception) => exception switch
    {
        OperationCanceledException => $"no confirmation within {EventFeed.PublishTimeout.TotalSeconds:0} s",
        PublishException { IsReturn: true } => "returned: no queue took it",
        _ => $"{exception.GetType().Name}: {exception.Message}",
    };

    private static void WriteSummary(
        CliSession session,
        BackfillRequest request,
        DateTimeOffset since,
        DateTimeOffset startedAt,
        BackfillPlan plan,
        IReadOnlyList<BackfillEvent> toFeed,
        string? failure,
        string store)
    {
        var fed = toFeed.Count(e => e.Fed);
        if (request.Json)
        {
            session.WriteJson(new BackfillDocument(
                startedAt,
                since,
                request.Account,
                request.DryRun,
                plan.Listed,
                toFeed.Count,
                fed,
                plan.AlreadyFed,
                plan.NotPermitted,
                plan.NotSnapshotEvents,
                plan.NotPermittedTypes,
                toFeed.Select(e => new BackfillDocumentEvent(e.Id, e.Type, e.Account, e.Livemode, e.Created, e.Fed)).ToList(),
                failure));
            return;
        }

        var console = session.Console;
        if (request.DryRun && toFeed.Count > 0)
        {
            var events = new Table()
                .AddColumn(WholeTable.Identifier("Event"))
                .AddColumn(WholeTable.Identifier("Type"))
                .AddColumn(WholeTable.Identifier("Account"))
                .AddColumn("Mode")
                .AddColumn("Created");
            foreach (var e in toFeed)
            {
                events.AddRow(
                    Formats.Cell(e.Id), Formats.Cell(e.Type), Formats.Cell(e.Account), Formats.Cell(e.Livemode ? "live" : "test"),
                    Formats.Cell(Formats.Time(e.Created)));
            }

            console.Write(new WholeTable(events));
        }

        var table = new Table()
            .AddColumn("Events")
            .AddColumn(new TableColumn("Count").RightAligned());
        table.AddRow(Formats.Cell("Listed (Stripe could not deliver)"), Formats.Cell(plan.Listed));
        table.AddRow(Formats.Cell(request.DryRun ? "Would be fed" : "Fed"), Formats.Cell(request.DryRun ? toFeed.Count : fed));
        table.AddRow(Formats.Cell("Already fed (ledger)"), Formats.Cell(plan.AlreadyFed));
        table.AddRow(Formats.Cell("Not permitted by the manifest"), Formats.Cell(plan.NotPermitted));
        table.AddRow(Formats.Cell("Not snapshot events"), Formats.Cell(plan.NotSnapshotEvents));
        console.Write(table);

        if (plan.NotPermittedTypes.Count > 0)
        {
            console.WriteLine(
                "Not permitted (Stripe would not have sent them to the app either): " +
                string.Join(", ", plan.NotPermittedTypes.Select(t => $"{t.Key} ×{t.Value.ToString(CultureInfo.InvariantCulture)}")) + ".");
        }

        var scope = $"since {BackfillSince.Iso(since)} ({(request.Account is null ? "the app's own account" : $"account {request.Account}")})";
        if (request.DryRun)
        {
            console.WriteLine(
                $"Dry run: would feed {Formats.Plural(toFeed.Count, "event", "events")} {scope} into {Topology.IntakeQueue}; " +
                "nothing was published and the ledger was not written.");
        }
        else if (failure is null)
        {
            console.WriteLine(
                toFeed.Count == 0
                    ? $"Nothing to feed {scope}: every listed event was fed before or is not for this app."
                    : $"Fed {Formats.Plural(fed, "event", "events")} {scope} into {Topology.IntakeQueue} and recorded them in " +
                      $"the backfill ledger of {store}; the worker forwards them as usual.");
        }
        else
        {
            console.WriteLine($"Fed {fed.ToString(CultureInfo.InvariantCulture)} of {Formats.Plural(toFeed.Count, "event", "events")} {scope} before stopping.");
        }
    }

    [GeneratedRegex("^acct_[A-Za-z0-9]+\\z", RegexOptions.CultureInvariant)]
    private static partial Regex AccountId();

    /// <summary>Ends feeding; the message says what was and was not fed and what to do.</summary>
    private sealed class FeedException(string message) : Exception(message);

    private sealed record BackfillDocument(
        DateTimeOffset StartedAt,
        DateTimeOffset Since,
        string? Account,
        bool DryRun,
        int Listed,
        int ToFeed,
        int Fed,
        int AlreadyFed,
        int NotPermitted,
        int NotSnapshotEvents,
        IReadOnlyDictionary<string, int> NotPermittedTypes,
        IReadOnlyList<BackfillDocumentEvent> Events,
        string? Error);

    private sealed record BackfillDocumentEvent(string Id, string Type, string? Account, bool Livemode, DateTimeOffset Created, bool Fed);
}
