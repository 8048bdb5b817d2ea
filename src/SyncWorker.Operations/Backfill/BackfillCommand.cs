using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Spectre.Console;
using SyncWorker.Contracts;
using SyncWorker.Operations.Cli;
using SyncWorker.Store;
using SyncWorker.Store.Installs;
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
/// purge entries older than <see cref="BackfillLedger.Retention"/>; read the ledger (<see cref="IBackfillLedger"/>) and
/// the accounts to list (<see cref="BackfillScopes"/>); then per account: list every page from Stripe
/// (<see cref="StripeEventLister"/>), sort the events (<see cref="BackfillPlan"/>) and, unless it is a dry run, start the
/// bus once (<see cref="EventFeed"/>) and, per event, publish it confirmed and then record it in the store. Nothing of an
/// account is fed before its whole listing succeeded; a failed listing is that account's error and the run goes on. An event fed but not recorded (the store failed in
/// between) is fed again by the next run, and the delivery ledger suppresses the repeat.
/// </remarks>
internal static partial class BackfillCommand
{
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
        var livemode = StripeModeKeys.IsLive(settings.ApiKey);

        await using var connection = await session.ConnectAsync(cancellationToken);
        await BackfillLedger.AcquireLockAsync(connection, cancellationToken);

        using var store = new SqlDeliveryLedger(storeSettings, session.TimeProvider);
        var ledger = await ReadLedgerAsync(session, storeSettings, connection, store, request, cancellationToken);
        var scopes = await BackfillScopes.ResolveAsync(
            new SqlInstallRegistry(store, session.TimeProvider), request.Account, livemode, cancellationToken);
        var planned = new HashSet<string>(StringComparer.Ordinal);
        var runs = scopes.Accounts
            .Select((a, i) => new AccountRun(new BackfillPlan(settings.Policy, ledger, a, planned), i + 1))
            .ToList();

        using var http = new HttpClient(
            new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) },
            disposeHandler: true)
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        http.DefaultRequestHeaders.UserAgent.ParseAdd("SyncWorker-backfill");
        session.Note(
            $"Listing events Stripe could not deliver since {BackfillSince.Iso(since)} ({scopes.Describe()}) from " +
            $"{settings.ApiBase.GetComponents(UriComponents.SchemeAndServer, UriFormat.UriEscaped)}; " +
            $"{Formats.Plural(ledger.Count, "event", "events")} in the ledger.",
            request.Json);
        foreach (var note in scopes.Notes)
        {
            session.Note(note, request.Json);
        }

        var context = new RunContext(session, configuration, settings, store, http, since, request, cancellationToken);
        string? failure;
        try
        {
            if (!request.Json && session.Console.Profile.Capabilities.Interactive)
            {
                failure = null;
                await session.Console.Progress()
                    .AutoClear(false)
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn())
                    .StartAsync(async progress =>
                        failure = await BackfillAllAsync(context, runs, new BackfillProgressBar(progress, runs.Count, request.DryRun)));
            }
            else
            {
                failure = await BackfillAllAsync(context, runs, new BackfillProgressLines(session, request.Json, runs.Count));
            }
        }
        finally
        {
            if (context.Feed is { } feed)
            {
                await feed.DisposeAsync();
            }
        }

        var failed = runs.Where(r => r.Error is not null).ToList();
        WriteSummary(session, request, since, startedAt, scopes, runs, failure, storeSettings.Description);
        foreach (var run in failed.Where(r => r.Attempted))
        {
            session.Error.WriteLine($"error: {run.Scope}: {run.Error}");
        }

        if (failure is not null)
        {
            session.Error.WriteLine($"error: {failure}");
        }

        return failure is null && failed.Count == 0 ? ExitCodes.Ok : ExitCodes.Failed;
    }

    /// <summary>What every account's backfill shares; the bus once the first event is to be fed.</summary>
    private sealed record RunContext(
        CliSession Session,
        IConfiguration Configuration,
        BackfillSettings Settings,
        IBackfillLedger Ledger,
        HttpClient Http,
        DateTimeOffset Since,
        BackfillRequest Request,
        CancellationToken CancellationToken)
    {
        public EventFeed? Feed { get; set; }
    }

    /// <summary>
    /// Backfills each account in turn: lists all its pages, then feeds what passed. A failed listing is that account's
    /// error and the run goes on; a refused key or a feed that fails ends the run (returned: why).
    /// </summary>
    private static async Task<string?> BackfillAllAsync(RunContext context, IReadOnlyList<AccountRun> runs, IBackfillProgress progress)
    {
        foreach (var run in runs)
        {
            run.Attempted = true;
            progress.Starting(run);
            var lister = new StripeEventLister(
                context.Http, context.Settings.ApiBase, context.Settings.ApiKey, run.Account, context.Session.TimeProvider, context.Settings.KeySetting);
            try
            {
                await lister.ListAsync(
                    context.Since,
                    page =>
                    {
                        foreach (var item in page)
                        {
                            run.Plan.Add(item);
                        }

                        progress.Listing(run);
                    },
                    context.CancellationToken);
            }
            catch (StripeListingException exception)
            {
                run.Error = exception.Message;
                progress.Done(run);
                if (exception.StopsRun)
                {
                    NotListed(runs, "the Stripe key was refused (see the error)");
                    return null;
                }

                continue;
            }
            catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
            {
                run.Error = "cancelled while listing; nothing of it was fed.";
                progress.Done(run);
                NotListed(runs, "the backfill was cancelled");
                return "The backfill was cancelled. What was fed is in the ledger; run backfill again to feed the rest.";
            }

            run.Listed = true;
            run.ToFeed = run.Plan.ToFeed;
            if (!context.Request.DryRun && run.ToFeed.Count > 0)
            {
                var failure = await FeedAllAsync(context, run, progress);
                if (failure is not null)
                {
                    progress.Done(run);
                    NotListed(runs, "the run stopped while feeding (see the error)");
                    return failure;
                }
            }

            progress.Done(run);
        }

        return null;
    }

    /// <summary>Marks the accounts not yet tried as not listed, with the reason.</summary>
    private static void NotListed(IReadOnlyList<AccountRun> runs, string reason)
    {
        foreach (var run in runs.Where(r => !r.Attempted))
        {
            run.Error = $"not listed: {reason}.";
        }
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

    /// <summary>Feeds one account's events, in order (starting the bus for the first); returns why it stopped early, or null.</summary>
    private static async Task<string?> FeedAllAsync(RunContext context, AccountRun run, IBackfillProgress progress)
    {
        try
        {
            context.Feed ??= await EventFeed.StartAsync(context.Configuration, context.CancellationToken);
            await FeedEachAsync(
                context.Session, context.Feed, context.Ledger, run.ToFeed, fed => progress.Feeding(run, fed), context.CancellationToken);
        }
        catch (FeedException exception)
        {
            return exception.Message;
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
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
        BackfillScopes scopes,
        List<AccountRun> runs,
        string? failure,
        string store)
    {
        var toFeed = runs.SelectMany(r => r.ToFeed).ToList();
        var fed = toFeed.Count(e => e.Fed);
        var listed = runs.Sum(r => r.Plan.Listed);
        var alreadyFed = runs.Sum(r => r.Plan.AlreadyFed);
        var notPermitted = runs.Sum(r => r.Plan.NotPermitted);
        var notSnapshot = runs.Sum(r => r.Plan.NotSnapshotEvents);
        var notPermittedTypes = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var (type, count) in runs.SelectMany(r => r.Plan.NotPermittedTypes))
        {
            notPermittedTypes[type] = notPermittedTypes.GetValueOrDefault(type) + count;
        }

        var failed = runs.Where(r => r.Error is not null).ToList();
        if (request.Json)
        {
            session.WriteJson(new BackfillDocument(
                startedAt,
                since,
                request.Account,
                scopes.Mode,
                scopes.InstallsRecorded,
                request.DryRun,
                listed,
                toFeed.Count,
                fed,
                alreadyFed,
                notPermitted,
                notSnapshot,
                notPermittedTypes,
                runs.Select(r => new BackfillDocumentAccount(
                    r.Account, r.Plan.Listed, r.ToFeed.Count, r.Fed, r.Plan.AlreadyFed, r.Plan.NotPermitted,
                    r.Plan.NotSnapshotEvents, r.ToFeed.Count(e => e.AccountFromListing), r.Error)).ToList(),
                scopes.Skipped,
                toFeed.Select(e => new BackfillDocumentEvent(e.Id, e.Type, e.Account, e.Livemode, e.Created, e.Fed)).ToList(),
                failure ?? (failed.Count == 0 ? null : $"{Formats.Plural(failed.Count, "account", "accounts")} of {runs.Count.ToString(CultureInfo.InvariantCulture)} failed: {string.Join(", ", failed.Select(r => r.Label))}.")));
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

        if (runs.Count > 1 || scopes.Skipped.Count > 0 || failed.Count > 0)
        {
            var accounts = new Table()
                .AddColumn(WholeTable.Identifier("Account"))
                .AddColumn(new TableColumn("Events listed").RightAligned())
                .AddColumn(new TableColumn(request.DryRun ? "Would feed" : "Events fed").RightAligned())
                .AddColumn(new TableColumn("In ledger").RightAligned())
                .AddColumn(new TableColumn("Not permitted").RightAligned())
                .AddColumn("Outcome");
            foreach (var run in runs)
            {
                accounts.AddRow(
                    Formats.Cell(run.Label),
                    Formats.Cell(run.Plan.Listed),
                    Formats.Cell(request.DryRun ? run.ToFeed.Count : run.Fed),
                    Formats.Cell(run.Plan.AlreadyFed),
                    Formats.Cell(run.Plan.NotPermitted),
                    Formats.Cell(run.Error is null ? "ok" : run.Attempted ? "failed (see the error below)" : run.Error));
            }

            foreach (var skip in scopes.Skipped)
            {
                accounts.AddRow(Formats.Cell(skip.Account), Formats.Cell("-"), Formats.Cell("-"), Formats.Cell("-"), Formats.Cell("-"), Formats.Cell("skipped: " + skip.Reason));
            }

            console.Write(new WholeTable(accounts));
        }

        var table = new Table()
            .AddColumn("Events")
            .AddColumn(new TableColumn("Count").RightAligned());
        table.AddRow(Formats.Cell("Listed (Stripe could not deliver)"), Formats.Cell(listed));
        table.AddRow(Formats.Cell(request.DryRun ? "Would be fed" : "Fed"), Formats.Cell(request.DryRun ? toFeed.Count : fed));
        table.AddRow(Formats.Cell("Already fed (ledger)"), Formats.Cell(alreadyFed));
        table.AddRow(Formats.Cell("Not permitted by the manifest"), Formats.Cell(notPermitted));
        table.AddRow(Formats.Cell("Not snapshot events"), Formats.Cell(notSnapshot));
        console.Write(table);

        if (notPermittedTypes.Count > 0)
        {
            console.WriteLine(
                "Not permitted (Stripe would not have sent them to the app either): " +
                string.Join(", ", notPermittedTypes.Select(t => $"{t.Key} ×{t.Value.ToString(CultureInfo.InvariantCulture)}")) + ".");
        }

        var scope = $"since {BackfillSince.Iso(since)} ({scopes.Describe()})";
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

        if (failed.Count > 0)
        {
            console.WriteLine(
                $"{Formats.Plural(failed.Count, "account", "accounts")} of {runs.Count.ToString(CultureInfo.InvariantCulture)} failed " +
                $"({string.Join(", ", failed.Select(r => r.Label))}); the errors below say why. Run backfill again, or with " +
                "--account acct_… for one of them: what was fed is in the ledger and is not fed twice.");
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
        string? Mode,
        bool InstallsRecorded,
        bool DryRun,
        int Listed,
        int ToFeed,
        int Fed,
        int AlreadyFed,
        int NotPermitted,
        int NotSnapshotEvents,
        IReadOnlyDictionary<string, int> NotPermittedTypes,
        IReadOnlyList<BackfillDocumentAccount> Accounts,
        IReadOnlyList<SkippedAccount> Skipped,
        IReadOnlyList<BackfillDocumentEvent> Events,
        string? Error);

    /// <summary>One account's counts; <c>Account</c> null for the app's own account.</summary>
    private sealed record BackfillDocumentAccount(
        string? Account,
        int Listed,
        int ToFeed,
        int Fed,
        int AlreadyFed,
        int NotPermitted,
        int NotSnapshotEvents,
        int AccountFromListing,
        string? Error);

    private sealed record BackfillDocumentEvent(string Id, string Type, string? Account, bool Livemode, DateTimeOffset Created, bool Fed);
}
