using Microsoft.Extensions.Configuration;
using Spectre.Console;
using SyncWorker.Store.Audit;

namespace SyncWorker.Operations.Cli;

/// <summary>What <c>audit list --json</c> prints.</summary>
public sealed record AuditListing(string Store, IReadOnlyList<AuditEntry> Entries);

/// <summary><c>audit list</c>: the store's audit log, newest first.</summary>
internal static class AuditCommands
{
    /// <summary>The most entries one listing prints.</summary>
    public const int MaxLimit = 1000;

    public static async Task<int> ListAsync(CliSession session, IConfiguration configuration, string since, int limit, bool json, CancellationToken cancellationToken)
    {
        if (limit is < 1 or > MaxLimit)
        {
            throw CliException.Usage($"--limit takes 1 to {MaxLimit} (got {limit}).");
        }

        var from = TimeOption.Parse("--since", since, session.TimeProvider.GetUtcNow());
        var settings = StoreCommands.ExistingStore(configuration);
        await InstallCommands.RequireInstallRegistryAsync(settings, cancellationToken);
        var entries = await StoreCommands.WithLedgerAsync(session, settings, ledger => new AuditLog(ledger, session.TimeProvider).ListAsync(from, limit, cancellationToken));
        if (json)
        {
            session.WriteJson(new AuditListing(settings.Description, entries));
            return ExitCodes.Ok;
        }

        if (entries.Count == 0)
        {
            session.Error.WriteLine($"The audit log ({settings.Description}) has no entry since {Formats.Time(from)}.");
            return ExitCodes.Ok;
        }

        var table = new Table()
            .AddColumn("At")
            .AddColumn(WholeTable.Identifier("Actor"))
            .AddColumn(WholeTable.Identifier("Action"))
            .AddColumn(WholeTable.Identifier("Subject"))
            .AddColumn("Detail");
        foreach (var entry in entries)
        {
            table.AddRow(Formats.Cell(Formats.Time(entry.At)), Formats.Cell(entry.Actor), Formats.Cell(entry.Action), Formats.Cell(entry.Subject), Formats.Cell(entry.Detail));
        }

        session.Console.Write(new WholeTable(table));
        return ExitCodes.Ok;
    }
}
