using Microsoft.Extensions.Configuration;
using Spectre.Console;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Operations.Cli;

/// <summary>What <c>deliveries list</c> was asked, as typed.</summary>
internal sealed record DeliveryListRequest(string? Target, string? State, string? Since, string? Until, int Limit, string? After, bool Json);

/// <summary>
/// The query of <c>GET /admin/deliveries</c>, read as <c>deliveries list</c> reads its options (the same states, times
/// and cursor), so that both answer alike.
/// </summary>
public static class DeliveryListQuery
{
    /// <summary>
    /// The query of the URL's parameters (<c>target</c>, <c>state</c>, <c>since</c>, <c>until</c>, <c>limit</c>,
    /// <c>after</c>; null when absent), or false with <paramref name="error"/> naming the parameter and what it takes.
    /// </summary>
    public static bool TryParse(
        string? target, string? state, string? since, string? until, int? limit, string? after, DateTimeOffset now, out DeliveryQuery? query, out string? error)
    {
        try
        {
            query = DeliveryCommands.Query(new DeliveryListRequest(target, state, since, until, limit ?? DeliveryQuery.DefaultLimit, after, Json: true), now, prefix: "");
            error = null;
            return true;
        }
        catch (CliException exception)
        {
            query = null;
            error = exception.Message;
            return false;
        }
    }
}

/// <summary><c>deliveries list</c>: the delivery ledger's rows, newest change first, a page at a time.</summary>
internal static class DeliveryCommands
{
    /// <summary>
    /// Reads the query out of what was typed: a state of the ledger, times, a page size of 1 to
    /// <see cref="DeliveryQuery.MaxLimit"/>, a cursor a page printed; anything else is a usage error naming the option
    /// (<paramref name="prefix"/> and its name: <c>--state</c> on the command line, <c>state</c> in a URL).
    /// </summary>
    public static DeliveryQuery Query(DeliveryListRequest request, DateTimeOffset now, string prefix = "--")
    {
        ArgumentNullException.ThrowIfNull(request);
        DeliveryState? state = null;
        if (request.State is { } stateText)
        {
            if (!DeliveryStates.TryParse(stateText.Trim(), out var parsed))
            {
                throw CliException.Usage($"{prefix}state '{stateText}' is not a delivery state; use one of: {string.Join(", ", DeliveryStates.All)}.");
            }

            state = parsed;
        }

        var (since, until) = TimeOption.Range(request.Since, request.Until, now, prefix);
        if (request.Limit is < 1 or > DeliveryQuery.MaxLimit)
        {
            throw CliException.Usage($"{prefix}limit {request.Limit}: a page holds 1 to {DeliveryQuery.MaxLimit} deliveries (default {DeliveryQuery.DefaultLimit}).");
        }

        DeliveryCursor? after = null;
        if (request.After is { } afterText && !DeliveryCursor.TryParse(afterText, out after))
        {
            throw CliException.Usage($"{prefix}after '{afterText}' is not a cursor: give the one the previous page printed (\"next\" in JSON).");
        }

        return new DeliveryQuery(string.IsNullOrWhiteSpace(request.Target) ? null : request.Target.Trim(), state, since, until, request.Limit, after);
    }

    public static async Task<int> ListAsync(CliSession session, IConfiguration configuration, DeliveryListRequest request, CancellationToken cancellationToken)
    {
        var query = Query(request, session.TimeProvider.GetUtcNow());
        var settings = StoreCommands.ExistingStore(configuration);
        var listing = await StoreCommands.WithLedgerAsync(session, settings, ledger =>
            DeliveryListing.LoadAsync(ledger, settings.Description, query, cancellationToken));
        if (request.Json)
        {
            session.WriteJson(listing);
            return ExitCodes.Ok;
        }

        if (listing.Deliveries.Count == 0)
        {
            session.Console.WriteLine($"The delivery ledger ({settings.Description}) has no delivery that matches{(query.After is null ? "" : " after this cursor")}.");
            return ExitCodes.Ok;
        }

        var table = new Table()
            .AddColumn("Updated")
            .AddColumn(WholeTable.Identifier("Target"))
            .AddColumn(WholeTable.Identifier("Order or event"))
            .AddColumn(WholeTable.Identifier("Action"))
            .AddOutcomeColumns()
            .AddColumn("Last error");
        foreach (var row in listing.Deliveries)
        {
            table.AddRow(
            [
                Formats.Cell(Formats.Time(row.UpdatedAt)),
                Formats.Cell(row.Target),
                Formats.Cell(row.Subject),
                Formats.Cell(LedgerCells.Action(row.Action, row.ActionInstance)),
                .. LedgerCells.Outcome(row.State, row.Attempts, row.LastStatus, row.RepeatsSuppressed, row.DeliveredAt),
                Formats.Cell(row.LastError),
            ]);
        }

        session.Console.Write(new WholeTable(table));
        session.Console.WriteLine(listing.Next is { } next
            ? $"{Formats.Plural(listing.Deliveries.Count, "delivery", "deliveries")}, newest change first; more: run the same command with --after {next}"
            : $"{Formats.Plural(listing.Deliveries.Count, "delivery", "deliveries")}, newest change first; no more.");
        return ExitCodes.Ok;
    }
}
