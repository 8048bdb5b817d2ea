using System.Globalization;
using Spectre.Console;
using SyncWorker.Contracts;
using SyncWorker.Messaging.Broker;
using SyncWorker.Messaging.DeadLetters;
using SyncWorker.Operations.DeadLetters;

namespace SyncWorker.Operations.Cli;

/// <summary><c>--since</c> and <c>--until</c> of <c>dead-letters replay</c>, as typed (either may be absent).</summary>
internal sealed record ReplayWindow(string? Since = null, string? Until = null)
{
    /// <summary>Neither given: no time range.</summary>
    public bool IsEmpty => Since is null && Until is null;
}

/// <summary><c>dead-letters list</c> and <c>dead-letters replay</c>.</summary>
internal static class DeadLetterCommands
{
    /// <summary>Above this many dead letters an interactive console shows progress bars.</summary>
    private const int ProgressBarThreshold = 50;

    /// <summary>Otherwise (or with <c>--json</c>) one progress line per this many examined messages.</summary>
    private const int ProgressLineEvery = 100;

    private const string EventIdPrefix = "evt_";

    public static async Task<int> ListAsync(CliSession session, string? target, int limit, bool json, CancellationToken cancellationToken)
    {
        if (limit < 1)
        {
            throw CliException.Usage($"--limit must be at least 1 (it was {limit}); the default is 1000.");
        }

        var targets = session.ResolveTargets(target);
        await using var connection = await session.ConnectAsync(cancellationToken);

        // While the list holds dead letters, a replay that ends meanwhile waits for it before checking what is left.
        var presence = await ReaderPresence.RegisterAsync(connection, cancellationToken);
        var listings = new List<DeadLetterListing>();
        foreach (var name in targets)
        {
            listings.Add(await DeadLetterLister.ListAsync(connection, name, limit, cancellationToken));
        }

        // With --target, only the poison messages that came from that target's queue.
        var poison = await DeadLetterLister.ListPoisonAsync(
            connection, target is null ? null : new HashSet<string>(StringComparer.Ordinal) { Topology.TargetQueue(target) }, limit, cancellationToken);
        await presence.DisposeAsync();

        var now = session.TimeProvider.GetUtcNow();
        if (json)
        {
            session.WriteJson(new ListDocument(
                now,
                listings.Select(listing => new ListTarget(
                    listing.Target,
                    listing.Queue,
                    listing.QueueExists,
                    listing.Count,
                    listing.DeadLetters.Count,
                    listing.DeadLetters.Select(d => new ListedDeadLetter(
                        d.MessageId, d.EventId, d.EventType, d.Account, d.DeliveryId, d.Action, d.Reason, d.Status, d.Attempts,
                        d.Permanent, d.FailedAt, d.FailedAt is { } at ? (long)Math.Max(0, (now - at).TotalSeconds) : null, d.ReplayedAt))
                        .ToList()))
                    .ToList(),
                new ListPoison(
                    poison.Queue,
                    poison.QueueExists,
                    target is null ? null : Topology.TargetQueue(target),
                    poison.Count,
                    poison.DeadLetters.Count,
                    poison.DeadLetters.Select(d => new ListedPoisonMessage(
                        d.MessageId, d.EventId, d.EventType, d.Account, d.DeliveryId, d.Action, d.Death?.Queue, d.Death?.Reason,
                        d.Death?.Count, d.Death?.Time, d.Death?.Time is { } at ? (long)Math.Max(0, (now - at).TotalSeconds) : null,
                        d.Reason, d.ReplayedAt))
                        .ToList())));
            return ExitCodes.Ok;
        }

        var console = session.Console;
        foreach (var listing in listings)
        {
            console.MarkupLine(
                $"[bold]{Formats.Escape(listing.Target)}[/]: {Formats.Plural(listing.Count, "dead letter", "dead letters")} " +
                $"in {Formats.Escape(listing.Queue)}{(listing.QueueExists ? "" : " (not declared yet)")}");
            if (listing.DeadLetters.Count == 0)
            {
                continue;
            }

            var table = new Table()
                .AddColumn(WholeTable.Identifier("Event"))
                .AddColumn(WholeTable.Identifier("Type"))
                .AddColumn(WholeTable.Identifier("Account"))
                .AddColumn(WholeTable.Identifier("Delivery"))
                .AddColumn(new TableColumn("Status").RightAligned())
                .AddColumn(new TableColumn("Attempts").RightAligned())
                .AddColumn("Permanent")
                .AddColumn("Failed at")
                .AddColumn(new TableColumn("Age").RightAligned())
                .AddColumn("Reason");
            foreach (var d in listing.DeadLetters)
            {
                table.AddRow(
                    Formats.Cell(d.EventId),
                    Formats.Cell(d.EventType),
                    Formats.Cell(d.Account),
                    Formats.Cell(d.DeliveryId),
                    Formats.Cell(d.Status),
                    Formats.Cell(d.Attempts),
                    Formats.Cell(d.Permanent switch { true => "yes", false => "no", null => null }),
                    Formats.Cell(Formats.Time(d.FailedAt)),
                    Formats.Cell(Formats.Age(now - d.FailedAt)),
                    Formats.Cell(d.Reason));
            }

            console.Write(new WholeTable(table));
            if (listing.DeadLetters.Count < listing.Count)
            {
                console.MarkupLine(
                    $"[dim]Showing the first {listing.DeadLetters.Count} of {listing.Count}; pass --limit to see more.[/]");
            }
        }

        WritePoison(console, poison, target, now);
        return ExitCodes.Ok;
    }

    /// <summary>The poison queue's part of <c>dead-letters list</c>: one line when it does not exist, else a count and a table.</summary>
    private static void WritePoison(IAnsiConsole console, PoisonListing poison, string? target, DateTimeOffset now)
    {
        if (!poison.QueueExists)
        {
            console.MarkupLine(
                $"[bold]{ReplayTally.PoisonName}[/]: not configured ({Formats.Escape(poison.Queue)} does not exist; " +
                "deploy/rabbitmq/definitions.json declares it with the delivery-limit policies)");
            return;
        }

        console.MarkupLine(
            $"[bold]{ReplayTally.PoisonName}[/]: {Formats.Plural(poison.Count, "message", "messages")} in {Formats.Escape(poison.Queue)}" +
            (target is null ? "" : $" from {Formats.Escape(Topology.TargetQueue(target))}") + " (hit the delivery limit)");
        if (poison.DeadLetters.Count == 0)
        {
            return;
        }

        var table = new Table()
            .AddColumn(WholeTable.Identifier("From queue"))
            .AddColumn("Reason")
            .AddColumn(new TableColumn("Count").RightAligned())
            .AddColumn(WholeTable.Identifier("Event"))
            .AddColumn(WholeTable.Identifier("Type"))
            .AddColumn(WholeTable.Identifier("Account"))
            .AddColumn(WholeTable.Identifier("Delivery"))
            .AddColumn("Dead-lettered at")
            .AddColumn(new TableColumn("Age").RightAligned());
        foreach (var d in poison.DeadLetters)
        {
            table.AddRow(
                Formats.Cell(d.Death?.Queue),
                Formats.Cell(d.Death?.Reason),
                Formats.Cell(d.Death?.Count),
                Formats.Cell(d.EventId),
                Formats.Cell(d.EventType),
                Formats.Cell(d.Account),
                Formats.Cell(d.DeliveryId),
                Formats.Cell(Formats.Time(d.Death?.Time)),
                Formats.Cell(Formats.Age(now - d.Death?.Time)));
        }

        console.Write(new WholeTable(table));
        if (poison.DeadLetters.Count < poison.Count)
        {
            console.MarkupLine(
                $"[dim]Showing the first {poison.DeadLetters.Count} of {poison.Count}; pass --limit to see more.[/]");
        }
    }

    public static async Task<int> ReplayAsync(
        CliSession session, string? target, string? eventId, bool all, ReplayWindow window, bool force, bool json, CancellationToken cancellationToken, string? account = null)
    {
        ArgumentNullException.ThrowIfNull(window);
        if (account is not null && (!account.StartsWith("acct_", StringComparison.Ordinal) || account.Length == "acct_".Length))
        {
            throw CliException.Usage($"--account takes a Stripe account id (acct_…), as 'dead-letters list' shows it; '{account}' is not one.");
        }

        switch (eventId, all)
        {
            case (null, false) when window.IsEmpty && account is null:
                throw CliException.Usage(
                    "Say which dead letters to replay: --event evt_… (the deliveries of one Stripe event), --all " +
                    "(every dead letter of the targets chosen, or of one with --target NAME), --since/--until (those " +
                    "dead-lettered in that time) or --account acct_… (one merchant's). Run 'dead-letters list' to see them.");
            case (not null, true):
                throw CliException.Usage("Use either --event or --all, not both.");
            case ({ } id, _) when !id.StartsWith(EventIdPrefix, StringComparison.Ordinal) || id.Length == EventIdPrefix.Length:
                throw CliException.Usage($"--event takes a Stripe event id (evt_…), as 'dead-letters list' shows it; '{id}' is not one.");
        }

        var targets = session.ResolveTargets(target);
        var startedAt = session.TimeProvider.GetUtcNow();
        var (since, until) = TimeOption.Range(window.Since, window.Until, startedAt);
        if (force)
        {
            session.Note(
                "--force: the replayed deliveries are sent even where the delivery ledger records them as delivered; " +
                "their targets may get them twice (same webhook-id).",
                json);
        }

        // A time range keeps the dead letters whose dead-lettering time (ReplayTally.DeadLetteredAt) falls in it; one
        // with no such time is left in place. Whatever does not match stays where it is, in its order.
        Func<DeadLetter, bool> Matches(ReplayTally tally) => deadLetter =>
            (eventId is null || string.Equals(deadLetter.EventId, eventId, StringComparison.Ordinal))
            && (account is null || string.Equals(deadLetter.Account, account, StringComparison.Ordinal))
            && (since is null && until is null
                || tally.DeadLetteredAt(deadLetter) is { } at && (since is null || at >= since) && (until is null || at < until));

        await using var connection = await session.ConnectAsync(cancellationToken);
        var tallies = new List<ReplayTally>();
        foreach (var name in targets)
        {
            var errorQueue = await QueueProbe.ProbeAsync(connection, Topology.TargetErrorQueue(name), cancellationToken);
            tallies.Add(new ReplayTally(name, errorQueue?.Messages ?? 0) { Force = force });
        }

        // Poison messages go back to the queue they came from: the intake queue or a chosen target's queue.
        var poisonQueue = await QueueProbe.ProbeAsync(connection, Topology.PoisonQueue, cancellationToken);
        if (poisonQueue is not null)
        {
            var destinations = targets.Select(Topology.TargetQueue).ToHashSet(StringComparer.Ordinal);
            if (target is null)
            {
                destinations.Add(Topology.IntakeQueue);
            }

            tallies.Add(ReplayTally.ForPoison(destinations, poisonQueue.Messages, force));
        }

        var total = tallies.Sum(t => (long)t.DeadLettersAtStart);
        string? failure = null;
        try
        {
            if (!json && session.Console.Profile.Capabilities.Interactive && total > ProgressBarThreshold)
            {
                await session.Console.Progress().AutoClear(false).StartAsync(async context =>
                {
                    foreach (var tally in tallies)
                    {
                        var bar = context.AddTask(Formats.Escape(tally.Target), maxValue: Math.Max(1, tally.DeadLettersAtStart));
                        await DeadLetterReplayer.ReplayAsync(
                            connection, tally, Matches(tally), startedAt, session.TimeProvider, t => bar.Value = t.Examined, cancellationToken);
                        bar.Value = bar.MaxValue;
                    }
                });
            }
            else
            {
                foreach (var tally in tallies)
                {
                    await DeadLetterReplayer.ReplayAsync(
                        connection,
                        tally,
                        Matches(tally),
                        startedAt,
                        session.TimeProvider,
                        t =>
                        {
                            if (t.Examined % ProgressLineEvery == 0)
                            {
                                session.Note(
                                    $"{t.Target}: {t.Examined} of {t.DeadLettersAtStart} examined, {t.Moved} moved",
                                    json);
                            }
                        },
                        cancellationToken);
                }
            }
        }
        catch (DeadLetterReplayException exception)
        {
            failure = exception.Message;
        }
        catch (Exception exception) when (exception is RabbitMQ.Client.Exceptions.RabbitMQClientException or IOException)
        {
            failure = $"The replay stopped: {exception.Message}. What was not moved stays in the dead-letter queue; replay again.";
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            failure = "The replay was cancelled. What was not moved stays in the dead-letter queue; replay again.";
        }

        var stillThere = tallies.Sum(t => t.StillThere);
        if (failure is null && stillThere > 0)
        {
            failure =
                $"{Formats.Plural(stillThere, "dead letter", "dead letters")} this replay set out to move " +
                $"{(stillThere == 1 ? "is" : "are")} still in place (" +
                string.Join(", ", tallies.Where(t => t.StillThere > 0).Select(t => $"{t.StillThere.ToString(CultureInfo.InvariantCulture)} in {t.ErrorQueue}")) +
                $"); moved {tallies.Sum(t => t.Moved).ToString(CultureInfo.InvariantCulture)}. Another list or replay held them while this one ran. " +
                "Run the replay again to move them.";
        }

        foreach (var tally in tallies.Where(t => t.Unchecked))
        {
            session.Error.WriteLine(
                $"warning: another list or replay kept holding dead letters of {tally.ErrorQueue} for more than " +
                $"{DeadLetterReplayer.OtherReadersDeadline.TotalSeconds:0} s, so this replay could not check what is left there; " +
                "run 'dead-letters list' when it is done.");
        }

        WriteReplaySummary(session, tallies, eventId, all, (since, until), startedAt, failure, json);
        if (failure is not null)
        {
            session.Error.WriteLine($"error: {failure}");
            return ExitCodes.Failed;
        }

        return ExitCodes.Ok;
    }

    private static void WriteReplaySummary(
        CliSession session,
        List<ReplayTally> tallies,
        string? eventId,
        bool all,
        (DateTimeOffset? Since, DateTimeOffset? Until) range,
        DateTimeOffset startedAt,
        string? failure,
        bool json)
    {
        var moved = tallies.Sum(t => t.Moved);
        var skipped = tallies.Sum(t => t.Skipped);
        if (json)
        {
            var poison = tallies.SingleOrDefault(t => t.IsPoison);
            session.WriteJson(new ReplayDocument(
                startedAt,
                eventId,
                all,
                range.Since,
                range.Until,
                moved,
                skipped,
                tallies.Where(t => !t.IsPoison).Select(t => new ReplayTarget(
                    t.Target, t.ErrorQueue, t.TargetQueue!, t.DeadLettersAtStart, t.Examined, t.Moved, t.Skipped, t.StillThere, t.MovedDeliveries))
                    .ToList(),
                new ReplayPoison(
                    Topology.PoisonQueue,
                    poison is not null,
                    poison?.DeadLettersAtStart ?? 0,
                    poison?.Examined ?? 0,
                    poison?.Moved ?? 0,
                    poison?.Skipped ?? 0,
                    poison?.StillThere ?? 0,
                    poison?.MovedDeliveries ?? []),
                failure));
            return;
        }

        var table = new Table()
            .AddColumn(WholeTable.Identifier("Target"))
            .AddColumn(new TableColumn("Dead letters at start").RightAligned())
            .AddColumn(new TableColumn("Examined").RightAligned())
            .AddColumn(new TableColumn("Moved").RightAligned())
            .AddColumn(new TableColumn("Left in place").RightAligned())
            .AddColumn(new TableColumn("Still to move").RightAligned());
        foreach (var t in tallies)
        {
            table.AddRow(
                Formats.Cell(t.IsPoison ? $"{t.Target} ({t.ErrorQueue})" : t.Target),
                Formats.Cell(t.DeadLettersAtStart),
                Formats.Cell(t.Examined),
                Formats.Cell(t.Moved),
                Formats.Cell(t.Skipped),
                Formats.Cell(t.StillThere));
        }

        var console = session.Console;
        console.Write(new WholeTable(table));
        console.WriteLine(
            $"Moved {Formats.Plural(moved, "dead letter", "dead letters")} back to their target queues for delivery; " +
            $"left {skipped.ToString(CultureInfo.InvariantCulture)} in place" +
            (range.Since is null && range.Until is null
                ? "."
                : $" (dead-lettered {(range.Since is { } from ? "from " + TimeOption.Iso(from) : "any time")} " +
                  $"{(range.Until is { } to ? "until " + TimeOption.Iso(to) : "until now")} were moved)."));
        if (eventId is not null && moved == 0 && failure is null)
        {
            console.WriteLine(
                $"No dead letter of {eventId} was found (a concurrent replay may hold or have moved it). " +
                "Run 'dead-letters list' to see what is there.");
        }
    }

    private sealed record ListDocument(DateTimeOffset ListedAt, IReadOnlyList<ListTarget> Targets, ListPoison Poison);

    /// <summary>The poison queue: <c>from</c> is the source queue listed (with <c>--target</c>), null for every source.</summary>
    private sealed record ListPoison(
        string Queue, bool QueueExists, string? From, uint Count, int Listed, IReadOnlyList<ListedPoisonMessage> Messages);

    private sealed record ListedPoisonMessage(
        string? MessageId,
        string? EventId,
        string? EventType,
        string? Account,
        string? DeliveryId,
        string? Action,
        string? SourceQueue,
        string? DeathReason,
        long? DeathCount,
        DateTimeOffset? DeadLetteredAt,
        long? AgeSeconds,
        string? LastFailureReason,
        DateTimeOffset? ReplayedAt);

    private sealed record ListTarget(
        string Target, string Queue, bool QueueExists, uint Count, int Listed, IReadOnlyList<ListedDeadLetter> DeadLetters);

    private sealed record ListedDeadLetter(
        string? MessageId,
        string? EventId,
        string? EventType,
        string? Account,
        string? DeliveryId,
        string? Action,
        string? Reason,
        int? Status,
        int? Attempts,
        bool? Permanent,
        DateTimeOffset? FailedAt,
        long? AgeSeconds,
        DateTimeOffset? ReplayedAt);

    private sealed record ReplayDocument(
        DateTimeOffset StartedAt,
        string? Event,
        bool All,
        DateTimeOffset? Since,
        DateTimeOffset? Until,
        int Moved,
        int Skipped,
        IReadOnlyList<ReplayTarget> Targets,
        ReplayPoison Poison,
        string? Error);

    private sealed record ReplayPoison(
        string Queue,
        bool QueueExists,
        uint DeadLettersAtStart,
        int Examined,
        int Moved,
        int Skipped,
        int StillToMove,
        IReadOnlyList<MovedDelivery> MovedDeliveries);

    private sealed record ReplayTarget(
        string Target,
        string ErrorQueue,
        string TargetQueue,
        uint DeadLettersAtStart,
        int Examined,
        int Moved,
        int Skipped,
        int StillToMove,
        IReadOnlyList<MovedDelivery> MovedDeliveries);
}
