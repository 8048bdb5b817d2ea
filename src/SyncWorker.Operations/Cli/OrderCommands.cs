using Microsoft.Extensions.Configuration;
using Spectre.Console;
using SyncWorker.Store;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Operations.Cli;

/// <summary><c>orders show</c>: what the delivery ledger knows of an order (<c>cs_…</c>, or its payment intent <c>pi_…</c>) or an event (<c>evt_…</c>).</summary>
internal static class OrderCommands
{
    public static async Task<int> ShowAsync(CliSession session, IConfiguration configuration, string subject, bool json, CancellationToken cancellationToken)
    {
        if (!OrderHistory.IsSubject(subject))
        {
            throw CliException.Usage($"orders show takes a Checkout Session id (cs_…), a payment intent id (pi_…) or a Stripe event id (evt_…); '{subject}' is none of them.");
        }

        var settings = StoreCommands.Settings(configuration);

        if (settings.SqliteFile is { } file && !File.Exists(file))
        {
            throw CliException.Failed($"There is no store at {settings.Description} yet: no forwarder has run with these settings (Store:Provider, Store:ConnectionString, Store:DataDirectory).");
        }

        OrderHistory history;
        using var ledger = new SqlDeliveryLedger(settings, session.TimeProvider);
        try
        {
            history = await OrderHistory.LoadAsync(ledger, ledger, settings.Description, subject, cancellationToken);
        }
        catch (StoreUnavailableException exception)
        {
            throw CliException.Failed($"{exception.Message} Check Store:ConnectionString and that the database is up.");
        }

        var views = history.Deliveries;
        if (json)
        {
            session.WriteJson(history);
        }
        else if (views.Count > 0)
        {
            Write(session, views);
        }

        if (views.Count == 0 && subject.StartsWith("pi_", StringComparison.Ordinal) && history.Order is null)
        {
            session.Error.WriteLine(
                $"The store ({settings.Description}) knows no order paid with {subject}: SyncWorker has not seen its Checkout Session paid " +
                "(or a refund or dispute of it), or the payment was not made through Checkout.");
            return ExitCodes.Failed;
        }

        if (views.Count == 0)
        {
            session.Error.WriteLine(
                $"The delivery ledger ({settings.Description}) has no delivery of {subject}: it was not forwarded yet (see 'status' " +
                "for queued deliveries), no target wants it, or it was forwarded before this store existed.");
            return ExitCodes.Failed;
        }

        return ExitCodes.Ok;
    }

    private static void Write(CliSession session, IReadOnlyList<DeliveryHistory> views)
    {
        var table = new Table()
            .AddColumn(WholeTable.Identifier("Target"))
            .AddColumn(WholeTable.Identifier("Action"))
            .AddColumn("State")
            .AddColumn(new TableColumn("Attempts").RightAligned())
            .AddColumn(new TableColumn("Last status").RightAligned())
            .AddColumn(new TableColumn("Repeats suppressed").RightAligned())
            .AddColumn("Delivered at")
            .AddColumn(WholeTable.Identifier("webhook-id"))
            .AddColumn(WholeTable.Identifier("Last event"));
        foreach (var view in views)
        {
            table.AddRow(
                Formats.Cell(view.Target),
                Formats.Cell(view.ActionInstance is null ? view.Action : $"{view.Action} {view.ActionInstance}"),
                Formats.Cell(view.State),
                Formats.Cell(view.Attempts),
                Formats.Cell(view.LastStatus),
                Formats.Cell(view.RepeatsSuppressed),
                Formats.Cell(view.DeliveredAt is { } at ? Formats.Time(at) : null),
                Formats.Cell(view.WebhookId),
                Formats.Cell(view.EventId));
        }

        session.Console.Write(new WholeTable(table));
        var attempts = new Table()
            .AddColumn(WholeTable.Identifier("Target"))
            .AddColumn(WholeTable.Identifier("Action"))
            .AddColumn("Started")
            .AddColumn(new TableColumn("ms").RightAligned())
            .AddColumn("Outcome")
            .AddColumn(new TableColumn("Status").RightAligned())
            .AddColumn(WholeTable.Identifier("Forwarder"))
            .AddColumn("Error");
        foreach (var view in views)
        {
            foreach (var attempt in view.AttemptHistory)
            {
                attempts.AddRow(
                    Formats.Cell(view.Target),
                    Formats.Cell(view.ActionInstance is null ? view.Action : $"{view.Action} {view.ActionInstance}"),
                    Formats.Cell(Formats.Time(attempt.StartedAt)),
                    Formats.Cell(attempt.DurationMs),
                    Formats.Cell(attempt.Outcome),
                    Formats.Cell(attempt.Status),
                    Formats.Cell(attempt.Owner),
                    Formats.Cell(attempt.Error));
            }
        }

        if (attempts.Rows.Count > 0)
        {
            session.Console.WriteLine();
            session.Console.WriteLine("Attempts (one line per round of in-process retries):");
            session.Console.Write(new WholeTable(attempts));
        }
    }
}
