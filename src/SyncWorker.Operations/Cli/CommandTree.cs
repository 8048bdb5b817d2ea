using System.CommandLine;
using System.CommandLine.Help;
using Microsoft.Extensions.Configuration;
using SyncWorker.Operations.Backfill;
using SyncWorker.Operations.Status;
using SyncWorker.Operations.Targets;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Operations.Cli;

/// <summary>The verbs' command line (System.CommandLine), bound to one <see cref="CliSession"/>.</summary>
internal static class CommandTree
{
    /// <summary>The name usage text shows: the host's executable.</summary>
    public const string ExecutableName = "SyncWorker";

    public const int DefaultListLimit = 1000;

    /// <summary>The name of the command that runs the worker (also what a command line without a verb does).</summary>
    public const string ServeName = "serve";

    /// <summary>
    /// The executable's one command line: <c>serve</c> (the default) and the verbs. When <see cref="Tree.Root"/> or
    /// <see cref="Tree.Serve"/> is what was parsed, the caller runs the worker with the host's arguments (<c>--urls</c>,
    /// <c>--environment</c>, <c>Key=Value</c>), which the parser reports as unmatched tokens: they are not its to judge.
    /// </summary>
    public static Tree Build(CliSession session, IConfiguration configuration)
    {
        var serve = new Command(
            ServeName,
            "Run the worker (the default when no command is given): receive webhooks and forward them. Host arguments " +
            "such as --urls http://0.0.0.0:8080, --environment Production and Key=Value settings pass through to it.")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        var root = new Command(
            ExecutableName,
            "SyncWorker: a Stripe App's webhook receiver and fulfillment forwarder, and the operations verbs that work on " +
            "its RabbitMQ queues. Without a command it runs the worker; host arguments (--urls, --environment, Key=Value " +
            "configuration pairs) go to the worker, with or without 'serve'.")
        {
            new HelpOption(),
            serve,
            DeadLetters(session),
            Targets(session, configuration),
            Backfill(session, configuration),
            Status(session, configuration),
            Store(session, configuration),
            Orders(session, configuration),
            Deliveries(session, configuration),
            Installs(session, configuration),
            Accounts(session, configuration),
            Audit(session, configuration),
        };
        return new Tree(root, serve);
    }

    /// <summary>The root command and its <c>serve</c> command.</summary>
    public sealed record Tree(Command Root, Command Serve)
    {
        /// <summary>Every command path below the root (<c>dead-letters</c>, <c>dead-letters list</c>, …), for suggestions.</summary>
        public IEnumerable<string> CommandPaths()
        {
            foreach (var command in Root.Subcommands)
            {
                yield return command.Name;
                foreach (var sub in command.Subcommands)
                {
                    yield return command.Name + " " + sub.Name;
                }
            }
        }
    }

    private static Command DeadLetters(CliSession session)
    {
        var listTarget = TargetOption();
        var listJson = JsonOption();
        var limit = new Option<int>("--limit")
        {
            Description = $"Most dead letters shown per target (default {DefaultListLimit}); the count is always exact.",
            DefaultValueFactory = _ => DefaultListLimit,
        };
        var list = new Command(
            "list",
            "Show each target's dead letters: count, then event, delivery, reason, status, attempts and age; then the poison " +
            "messages of syncworker.poison with the queue each came from. Nothing is removed or reordered.")
        {
            listTarget,
            limit,
            listJson,
        };
        list.SetAction((result, ct) => DeadLetterCommands.ListAsync(
            session, result.GetValue(listTarget), result.GetValue(limit), result.GetValue(listJson), ct));

        var replayTarget = TargetOption();
        var replayJson = JsonOption();
        var eventId = new Option<string?>("--event")
        {
            Description = "Replay the dead letters of this Stripe event (evt_…); it may have one delivery per target and action.",
        };
        var all = new Option<bool>("--all") { Description = "Replay every dead letter of the chosen targets." };
        var force = new Option<bool>("--force")
        {
            Description = "Send them even when the delivery ledger records them as delivered meanwhile (without it, a " +
                "forwarder acknowledges such a delivery without sending it: duplicate_suppressed).",
        };
        var since = new Option<string?>("--since")
        {
            Description = $"Only dead letters dead-lettered at or after this time ({TimeOption.Forms}): the forwarder's " +
                "SyncWorker-Failed-At (or MassTransit's MT-Fault-Timestamp), for poison messages RabbitMQ's x-death time. " +
                "Selects by itself (no --all needed); combines with --event and --target.",
        };
        var until = new Option<string?>("--until")
        {
            Description = $"Only dead letters dead-lettered before this time ({TimeOption.Forms}). With a time range, a dead " +
                "letter that carries no such time is left in place.",
        };
        var account = new Option<string?>("--account")
        {
            Description = "Only the dead letters of this merchant account (acct_…). Selects by itself; combines with the others. " +
                "An uninstalled account's replayed deliveries end as skipped (reason uninstalled), recorded in the ledger.",
        };
        var replay = new Command(
            "replay",
            "Move dead letters back to their target's queue for delivery, and poison messages back to the queue they came " +
            "from. Each is moved once, even with concurrent replays; failure headers are removed, the failure history is kept. " +
            "Those not chosen (another event, outside --since/--until) stay in the queue, in their order.")
        {
            replayTarget,
            eventId,
            all,
            since,
            until,
            account,
            force,
            replayJson,
        };
        replay.SetAction((result, ct) => DeadLetterCommands.ReplayAsync(
            session,
            result.GetValue(replayTarget),
            result.GetValue(eventId),
            result.GetValue(all),
            new ReplayWindow(result.GetValue(since), result.GetValue(until)),
            result.GetValue(force),
            result.GetValue(replayJson),
            ct,
            result.GetValue(account)));

        return new Command("dead-letters", "List and replay deliveries that failed for good (syncworker.target.{name}_error) and poison messages.")
        {
            list,
            replay,
        };
    }

    private static Command Targets(CliSession session, IConfiguration configuration)
    {
        var pauseTarget = TargetArgument();
        var pause = new Command("pause", "Stop forwarders from delivering to a target; its queue keeps filling.") { pauseTarget };
        pause.SetAction((result, ct) => TargetCommands.PauseAsync(session, result.GetRequiredValue(pauseTarget), ct));

        var resumeTarget = TargetArgument();
        var resume = new Command("resume", "Let forwarders deliver to a paused target again.") { resumeTarget };
        resume.SetAction((result, ct) => TargetCommands.ResumeAsync(session, result.GetRequiredValue(resumeTarget), ct));

        var enableTarget = TargetArgument();
        var enable = new Command("enable", "Let forwarders deliver to a target disabled for failing (DisableAfterHours) again; its failing window starts now.") { enableTarget };
        enable.SetAction((result, ct) => TargetEnableCommand.EnableAsync(session, configuration, result.GetRequiredValue(enableTarget), ct));

        var listJson = JsonOption();
        var list = new Command("list", "Show each configured target: paused or not, queued deliveries, consumers, dead letters.")
        {
            listJson,
        };
        list.SetAction((result, ct) => TargetCommands.ListAsync(session, result.GetValue(listJson), ct));

        var add = TargetDefinitionOptions.Create(
            "add",
            "Create a target through a worker's targets API (POST /admin/targets, a token with Scope write): the target is " +
            "stored and every forwarder sharing the store takes it up, without a restart. Prints it; a signing secret left " +
            "out is generated and printed once.",
            updating: false);
        add.Command.SetAction((result, ct) => TargetAdminCommands.AddAsync(
            session, configuration, result.GetValue(add.Worker), add.Read(result), result.GetValue(add.Json), ct));

        var updateName = ApiTargetArgument();
        var update = TargetDefinitionOptions.Create(
            "update",
            "Replace a target of the API as a whole (PUT /admin/targets/{name}, a token with Scope write): what is left out " +
            "takes its default (retry, circuit breaker and redelivery settings: give them with --file). A signing secret " +
            "left out keeps the current one (change it with rotate-secret); --header Name without a value keeps that " +
            "header's stored value. Targets of the configuration file are read-only here.",
            updating: true);
        update.Command.Arguments.Insert(0, updateName);
        update.Command.SetAction((result, ct) => TargetAdminCommands.UpdateAsync(
            session, configuration, result.GetValue(update.Worker), result.GetRequiredValue(updateName), update.Read(result), result.GetValue(update.Json), ct));

        var removeName = ApiTargetArgument();
        var drain = new Option<bool>("--drain") { Description = "Deliver what is queued or waiting for it first, then remove it (answered at once; the target shows state draining until then)." };
        var discard = new Option<bool>("--discard") { Description = "Record each delivery queued or waiting for it as discarded in the delivery ledger, then remove it." };
        var removeWorker = AdminWorkerOption();
        var remove = new Command(
            "remove",
            "Remove a target of the API (DELETE /admin/targets/{name}, a token with Scope write): at once when nothing of it " +
            "is queued or waiting; otherwise refused with the count (exit 1) unless --drain or --discard says what becomes " +
            "of those deliveries.")
        {
            removeName,
            drain,
            discard,
            removeWorker,
        };
        remove.SetAction((result, ct) => TargetAdminCommands.RemoveAsync(
            session, configuration, result.GetValue(removeWorker), result.GetRequiredValue(removeName), result.GetValue(drain), result.GetValue(discard), ct));

        var rotateName = ApiTargetArgument();
        var overlap = new Option<double?>("--overlap-hours")
        {
            Description = "How long requests carry the previous secret's signature too, 0 to 720 hours (default: the worker's Targets:SecretOverlapHours, 24 unless set).",
        };
        var rotateSecret = new Option<string?>("--signing-secret") { Description = "The new secret (whsec_…); default: one is generated and printed once." };
        var rotateWorker = AdminWorkerOption();
        var rotateJson = JsonOption();
        var rotate = new Command(
            "rotate-secret",
            "Give a target of the API a new signing secret (POST /admin/targets/{name}/rotate-secret, a token with Scope " +
            "write), printed once; until the overlap ends, each request is signed with both the previous and the new secret.")
        {
            rotateName,
            overlap,
            rotateSecret,
            rotateWorker,
            rotateJson,
        };
        rotate.SetAction((result, ct) => TargetAdminCommands.RotateSecretAsync(
            session, configuration, result.GetValue(rotateWorker), result.GetRequiredValue(rotateName), result.GetValue(overlap), result.GetValue(rotateSecret), result.GetValue(rotateJson), ct));

        var showName = ApiTargetArgument();
        var showWorker = AdminWorkerOption();
        var showJson = JsonOption();
        var show = new Command(
            "show",
            "Show a target as a worker's targets API has it (GET /admin/targets/{name}; a read token is enough), of the API or " +
            "of the configuration file; secrets show their last four characters only.")
        {
            showName,
            showWorker,
            showJson,
        };
        show.SetAction((result, ct) => TargetAdminCommands.ShowAsync(
            session, configuration, result.GetValue(showWorker), result.GetRequiredValue(showName), result.GetValue(showJson), ct));

        var previewTarget = TargetArgument();
        var previewEvent = new Option<string?>("--event")
        {
            Description = "A JSON file: a Stripe event (event targets; for order targets it is mapped to an order document without line items) or an order document. Default: the example order.",
        };
        var previewWorker = AdminWorkerOption();
        var preview = new Command(
            "preview",
            "Print the exact request a target would get (method, URL, headers with secrets masked, body), rendered with its Template, " +
            "Method and Path, without sending it. A target of the configuration file is built here; any other (or with --worker) " +
            "by the worker (POST /admin/targets/{name}/preview, a write token), which holds its secrets.")
        {
            previewTarget,
            previewEvent,
            previewWorker,
        };
        preview.SetAction((result, ct) => TargetCommands.PreviewAsync(
            session, configuration, result.GetRequiredValue(previewTarget), result.GetValue(previewEvent), result.GetValue(previewWorker), ct));

        return new Command(
            "targets",
            "Pause, resume and inspect fulfillment targets (on RabbitMQ); add, update, remove, show them and rotate their " +
            "signing secret through a worker's targets API (its admin address, with Admin:Token).")
        {
            pause,
            resume,
            enable,
            list,
            add.Command,
            update.Command,
            remove,
            rotate,
            show,
            preview,
        };
    }

    /// <summary>The options of <c>targets add</c> and <c>targets update</c>.</summary>
    private sealed class TargetDefinitionOptions
    {
        private readonly bool _updating;

        private TargetDefinitionOptions(Command command, bool updating)
        {
            Command = command;
            _updating = updating;
        }

        public Command Command { get; }

        public Option<string?> Name { get; } = new("--name") { Description = "The target's name: lower-case letters, digits and dashes, 1 to 48." };

        public Option<string?> Url { get; } = new("--url") { Description = "Where deliveries are POSTed; the manifest's connect-src must allow it; https for a live target in Production." };

        public Option<string?> Mode { get; } = new Option<string?>("--mode") { Description = "live or test: the events (and Stripe key) of which mode." }.AcceptOnlyFromAmong("live", "test");

        public Option<string?> Format { get; } = new Option<string?>("--format") { Description = "order (default: an order document) or event (the Stripe event)." }.AcceptOnlyFromAmong("order", "event");

        public Option<string[]> Events { get; } = new("--event") { Description = "An event type (or pattern with *) the manifest permits; one --event per type." };

        public Option<string[]> Accounts { get; } = new("--account") { Description = "A merchant account (acct_…) the target serves; one --account per account." };

        public Option<bool> AllAccounts { get; } = new("--all-accounts") { Description = "The target serves every account (instead of --account)." };

        public Option<string[]> Headers { get; } = new("--header") { Description = "An extra request header, Name=Value (a partner's API key); repeatable. Its value is stored encrypted and shown by its last four characters only." };

        public Option<string?> SigningSecret { get; } = new("--signing-secret") { Description = "The secret deliveries are signed with (whsec_…)." };

        public Option<int?> MaxConcurrency { get; } = new("--max-concurrency") { Description = "Deliveries in flight at once per forwarder, 1 to 64 (default 4)." };

        public Option<double?> TimeoutSeconds { get; } = new("--timeout-seconds") { Description = "Per-attempt timeout in seconds, 1 to 120 (default 10)." };

        public Option<string?> File { get; } = new("--file") { Description = "A JSON file holding the target as the API takes it (camelCase fields, as docs/admin-openapi.json describes), sent as it is; instead of the other options." };

        public Option<string?> Worker { get; } = AdminWorkerOption();

        public TargetAuthCliOptions Auth { get; } = new();

        public TargetRequestCliOptions Request { get; } = new();

        public Option<bool> Json { get; } = new("--json") { Description = "Write the worker's answer (the target, as JSON) to standard output instead of lines." };

        public static TargetDefinitionOptions Create(string name, string description, bool updating)
        {
            var options = new TargetDefinitionOptions(new Command(name, description), updating);
            if (!updating)
            {
                options.Command.Options.Add(options.Name);
                options.SigningSecret.Description += " Default: one is generated and printed once.";
            }
            else
            {
                options.SigningSecret.Description += " Default: the current one is kept.";
                options.Headers.Description += " Name alone keeps the stored value of that header; a header not given is removed.";
            }

            foreach (var option in new Option[]
            {
                options.Url, options.Mode, options.Format, options.Events, options.Accounts, options.AllAccounts, options.Headers,
                options.SigningSecret, options.MaxConcurrency, options.TimeoutSeconds, options.File, options.Worker, options.Json,
            })
            {
                options.Command.Options.Add(option);
            }

            options.Auth.AddTo(options.Command, updating);
            options.Request.AddTo(options.Command);
            return options;
        }

        public TargetDefinition Read(ParseResult result) => new()
        {
            Name = _updating ? null : result.GetValue(Name),
            Url = result.GetValue(Url),
            Mode = result.GetValue(Mode),
            Format = result.GetValue(Format),
            Events = result.GetValue(Events) ?? [],
            Accounts = result.GetValue(Accounts) ?? [],
            AllAccounts = result.GetValue(AllAccounts),
            Headers = result.GetValue(Headers) ?? [],
            SigningSecret = result.GetValue(SigningSecret),
            MaxConcurrency = result.GetValue(MaxConcurrency),
            TimeoutSeconds = result.GetValue(TimeoutSeconds),
            File = result.GetValue(File),
            Auth = Auth.Read(result),
            Request = Request.Read(result),
        };
    }

    private static Option<string?> AdminWorkerOption() => new("--worker")
    {
        Description = "The worker's admin address (its Admin:Urls, e.g. http://10.0.0.5:8081), called with Admin:Token as a " +
            $"bearer token. Default: the first Status:Workers:N, else the first of Admin:Urls, else {AdminTargetsApi.DefaultAdminUrl}.",
    };

    private static Argument<string> ApiTargetArgument() => new("name")
    {
        Description = "The target's name (a target of the API; GET /admin/targets lists every target).",
    };

    private static Command Backfill(CliSession session, IConfiguration configuration)
    {
        var since = new Option<string>("--since")
        {
            Description = "List events created since this time: ISO 8601 (2026-11-20T00:00:00Z) or relative (90m, 36h, 3d). " +
                "At most 30 days back: Stripe keeps events for 30 days.",
            Required = true,
        };
        var account = new Option<string?>("--account")
        {
            Description = "List the events of this installing account only (acct_…; sent as Stripe-Account). Default: the app's " +
                "own account, then every account the install registry records as installed in the mode of Stripe:ApiKey.",
        };
        var dryRun = new Option<bool>("--dry-run")
        {
            Description = "List and count what would be fed, without publishing anything or writing the ledger.",
        };
        var json = JsonOption();
        var backfill = new Command(
            "backfill",
            "Feed the events Stripe could not deliver since a time into syncworker.intake, as the receiver would have, for " +
            "every installed account of the key's mode (or --account); events fed before (the backfill ledger in the store) " +
            "are not fed again. Exit 1 when any account failed.")
        {
            since,
            account,
            dryRun,
            json,
        };
        backfill.SetAction((result, ct) => BackfillCommand.RunAsync(
            session,
            configuration,
            new BackfillRequest(result.GetRequiredValue(since), result.GetValue(account), result.GetValue(dryRun), result.GetValue(json)),
            ct));
        return backfill;
    }

    private static Command Orders(CliSession session, IConfiguration configuration)
    {
        var json = JsonOption();
        var subject = new Argument<string>("id") { Description = "A Checkout Session (cs_…), a payment intent (pi_…: the order paid with it) or a Stripe event (evt_…)." };
        var show = new Command(
            "show",
            "What the delivery ledger knows of an order or an event: per target and action its state (pending, in_flight, " +
            "retrying, waiting, delivered, dead_lettered, skipped, discarded), repeats suppressed, and each round of attempts " +
            "with its time, status and forwarder.")
        {
            subject,
            json,
        };
        show.SetAction((result, ct) => OrderCommands.ShowAsync(session, configuration, result.GetRequiredValue(subject), result.GetValue(json), ct));
        return new Command("orders", "Answers from the delivery ledger (the store).") { show };
    }

    private static Command Deliveries(CliSession session, IConfiguration configuration)
    {
        var target = new Option<string?>("--target") { Description = "Only this target's deliveries (its Fulfillment:Targets:N:Name)." };
        var state = new Option<string?>("--state")
        {
            Description = $"Only deliveries in this state: {string.Join(", ", DeliveryStates.All)}.",
        };
        var since = new Option<string?>("--since") { Description = $"Only deliveries last changed at or after this time: {TimeOption.Forms}." };
        var until = new Option<string?>("--until") { Description = $"Only deliveries last changed before this time: {TimeOption.Forms}." };
        var limit = new Option<int>("--limit")
        {
            Description = $"Deliveries per page, 1 to {DeliveryQuery.MaxLimit} (default {DeliveryQuery.DefaultLimit}).",
            DefaultValueFactory = _ => DeliveryQuery.DefaultLimit,
        };
        var after = new Option<string?>("--after") { Description = "The next page: the cursor the previous page printed (\"next\" in --json)." };
        var json = JsonOption();
        var list = new Command(
            "list",
            "The delivery ledger's deliveries, newest change first (then by key, a stable order), a page at a time: target, " +
            "order or event, action, state, attempts, last status, repeats suppressed. Read with the worker's Store:* settings.")
        {
            target,
            state,
            since,
            until,
            limit,
            after,
            json,
        };
        list.SetAction((result, ct) => DeliveryCommands.ListAsync(
            session,
            configuration,
            new DeliveryListRequest(
                result.GetValue(target), result.GetValue(state), result.GetValue(since), result.GetValue(until), result.GetValue(limit), result.GetValue(after), result.GetValue(json)),
            ct));
        return new Command("deliveries", "The delivery ledger's deliveries (the store).") { list };
    }

    private static Command Installs(CliSession session, IConfiguration configuration)
    {
        var json = JsonOption();
        var list = new Command(
            "list",
            "The install registry: per merchant account and mode, installed or uninstalled, the permissions the last " +
            "apps.install.* event said were granted and pending, and when it was last heard of. Fed by install events at " +
            "dispatch; an account not listed counts as installed. Read with the worker's Store:* settings.")
        {
            json,
        };
        list.SetAction((result, ct) => InstallCommands.ListAsync(session, configuration, result.GetValue(json), ct));
        var syncJson = JsonOption();
        var sync = new Command(
            "sync",
            "Correct the install registry from Stripe's Install API: list the installs of Installs:AppId in each mode with a " +
            "key (Stripe:ApiKeys:Live / :Test, or Stripe:ApiKey for its mode), record each one's status and permissions as of " +
            "now, and record as uninstalled a recorded install the API no longer lists (an uninstall whose event was missed).")
        {
            syncJson,
        };
        sync.SetAction((result, ct) => InstallCommands.SyncAsync(session, configuration, result.GetValue(syncJson), ct));
        return new Command("installs", "Where the app is installed (the store).") { list, sync };
    }

    private static Command Accounts(CliSession session, IConfiguration configuration)
    {
        var json = JsonOption();
        var account = new Argument<string>("account") { Description = "The merchant's Stripe account (acct_…)." };
        var purge = new Command(
            "purge",
            "Delete a merchant's data from the store now (for a merchant who asks): its ledger rows and their attempts, its " +
            "orders and stored documents, its backfill entries. Its install row stays (status and dates). Forwarders do the " +
            "same Installs:PurgeAfterDays after an uninstall. Exit 1 when rows being delivered right now were left.")
        {
            account,
            json,
        };
        purge.SetAction((result, ct) => InstallCommands.PurgeAccountAsync(session, configuration, result.GetRequiredValue(account), result.GetValue(json), ct));
        return new Command("accounts", "A merchant account's data in the store.") { purge };
    }

    private static Command Audit(CliSession session, IConfiguration configuration)
    {
        var since = new Option<string>("--since")
        {
            Description = $"Only entries at or after this time: {TimeOption.Forms} (default 30d).",
            DefaultValueFactory = _ => "30d",
        };
        var limit = new Option<int>("--limit") { Description = $"At most this many entries, newest first (1 to {AuditCommands.MaxLimit}, default 100).", DefaultValueFactory = _ => 100 };
        var json = JsonOption();
        var list = new Command(
            "list",
            "The store's audit log, newest first: when, who (user@host of a verb, or retention), what (accounts.purge, " +
            "installs.sync) and of what, with how it went.")
        {
            since,
            limit,
            json,
        };
        list.SetAction((result, ct) => AuditCommands.ListAsync(session, configuration, result.GetRequiredValue(since), result.GetValue(limit), result.GetValue(json), ct));
        return new Command("audit", "Who changed what (the store).") { list };
    }

    private static Command Store(CliSession session, IConfiguration configuration)
    {
        var purgeJson = JsonOption();
        var purge = new Command(
            "purge",
            "Purge the store once now, as forwarders do every hour: attempts older than Store:RetentionDays, ledger rows " +
            "unchanged for Store:KeyRetentionDays (never one under a live lease), in batches of 1,000.")
        {
            purgeJson,
        };
        purge.SetAction((result, ct) => StoreCommands.PurgeAsync(session, configuration, result.GetValue(purgeJson), ct));
        var json = JsonOption();
        var migrate = new Command(
            "migrate",
            "Bring the store's schema (Store:Provider, Store:ConnectionString) to this version, under the same lock the " +
            "workers take at start; does nothing when it is up to date.")
        {
            json,
        };
        migrate.SetAction((result, ct) => StoreCommands.MigrateAsync(session, configuration, result.GetValue(json), ct));
        return new Command("store", "The store (SQLite or PostgreSQL) that holds the delivery ledger.") { migrate, purge };
    }

    private static Command Status(CliSession session, IConfiguration configuration)
    {
        var json = new Option<bool>("--json")
        {
            Description = "Write one JSON document to standard output instead of tables (with --watch: one per line, JSON Lines).",
        };
        var watch = new Option<bool>("--watch") { Description = "Refresh every interval until Ctrl+C." };
        var interval = new Option<string?>("--interval")
        {
            Description = $"How often --watch refreshes: 5s, 1.5s, 2m, 1500ms (default {WatchInterval.Default.TotalSeconds:0}s; 1s to 1h).",
        };
        var workers = new Option<string[]>("--worker")
        {
            Description = "A worker's admin address (its Admin:Urls, e.g. http://10.0.0.5:8081) to ask GET /admin/status with Admin:Token; repeatable. " +
                "Default: Status:Workers:N of the configuration.",
        };
        var status = new Command(
            "status",
            "Show each target (paused, circuit, queued, retry-waiting, dead letters, last success and failure) and the " +
            "receiver's webhooks, from RabbitMQ and the workers' /admin/status.")
        {
            json,
            watch,
            interval,
            workers,
        };
        status.SetAction((result, ct) => StatusCommand.RunAsync(
            session,
            configuration,
            new StatusRequest(result.GetValue(json), result.GetValue(watch), result.GetValue(interval), result.GetValue(workers) ?? []),
            ct));
        return status;
    }

    private static Option<string?> TargetOption() => new("--target")
    {
        Description = "Only this target (a configured Fulfillment:Targets:N:Name); default: every configured target.",
    };

    private static Option<bool> JsonOption() => new("--json")
    {
        Description = "Write one JSON document to standard output instead of tables.",
    };

    private static Argument<string> TargetArgument() => new("target")
    {
        Description = "A configured target name (Fulfillment:Targets:N:Name).",
    };
}
