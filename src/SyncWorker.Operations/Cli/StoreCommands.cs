using Spectre.Console;
using Microsoft.Extensions.Configuration;
using SyncWorker.Store;
using SyncWorker.Store.Ledger;
using SyncWorker.Store.Retention;

namespace SyncWorker.Operations.Cli;

/// <summary><c>store migrate</c>, <c>store purge</c>, and what the verbs that read the store share.</summary>
internal static class StoreCommands
{
    /// <summary>The JSON document of <c>store migrate --json</c>.</summary>
    internal sealed record MigrateResult(string Store, long From, long To, bool Applied);

    /// <summary>The JSON document of <c>store purge --json</c>: per table the rows deleted and the age they were older than.</summary>
    internal sealed record PurgeResult(string Store, int RetentionDays, int KeyRetentionDays, IReadOnlyList<PurgeCount> Tables);

    /// <summary>The <c>Store</c> settings the worker would use; exit 78 naming the key when they are invalid.</summary>
    public static StoreSettings Settings(IConfiguration configuration)
    {
        try
        {
            return StoreSettings.Resolve(configuration, AppContext.BaseDirectory);
        }
        catch (StoreConfigurationException exception)
        {
            throw CliException.Configuration(exception.Message);
        }
    }

    /// <summary>
    /// The <c>Store</c> settings of a store that exists: a SQLite file no forwarder created yet is a failure (exit 1)
    /// that names the settings, rather than an empty file created here.
    /// </summary>
    public static StoreSettings ExistingStore(IConfiguration configuration)
    {
        var settings = Settings(configuration);
        if (settings.SqliteFile is { } file && !File.Exists(file))
        {
            throw CliException.Failed($"There is no store at {settings.Description} yet: no forwarder has run with these settings (Store:Provider, Store:ConnectionString, Store:DataDirectory).");
        }

        return settings;
    }

    /// <summary>Runs <paramref name="work"/> on the ledger; an unreachable store is a failure (exit 1) saying what to check.</summary>
    public static async Task<T> WithLedgerAsync<T>(CliSession session, StoreSettings settings, Func<SqlDeliveryLedger, Task<T>> work)
    {
        using var ledger = new SqlDeliveryLedger(settings, session.TimeProvider);
        try
        {
            return await work(ledger);
        }
        catch (StoreUnavailableException exception)
        {
            throw CliException.Failed($"{exception.Message} Check Store:ConnectionString and that the database is up.");
        }
    }

    public static async Task<int> PurgeAsync(CliSession session, IConfiguration configuration, bool json, CancellationToken cancellationToken)
    {
        var settings = ExistingStore(configuration);
        var counts = await WithLedgerAsync(session, settings, ledger =>
            new StorePurger(ledger, settings, session.TimeProvider).PurgeAsync(cancellationToken));
        if (json)
        {
            session.WriteJson(new PurgeResult(settings.Description, (int)settings.Retention.TotalDays, (int)settings.KeyRetention.TotalDays, counts));
            return ExitCodes.Ok;
        }

        var table = new Table()
            .AddColumn(WholeTable.Identifier("Table"))
            .AddColumn(new TableColumn("Deleted").RightAligned())
            .AddColumn("Older than");
        foreach (var count in counts)
        {
            table.AddRow(Formats.Cell(count.Table), Formats.Cell(count.Deleted), Formats.Cell(Formats.Time(count.Before)));
        }

        session.Console.Write(new WholeTable(table));
        session.Console.WriteLine(
            $"Purged {settings.Description}: attempts after Store:RetentionDays ({settings.Retention.TotalDays:0}), " +
            $"ledger rows unchanged for Store:KeyRetentionDays ({settings.KeyRetention.TotalDays:0}) unless under a live lease.");
        return ExitCodes.Ok;
    }

    public static async Task<int> MigrateAsync(CliSession session, IConfiguration configuration, bool json, CancellationToken cancellationToken)
    {
        var settings = Settings(configuration);
        MigrationResult result;
        try
        {
            session.Note($"Migrating {settings.Description} (waits while another instance migrates it)…", json);
            result = await new StoreMigrator(settings).MigrateAsync(cancellationToken);
        }
        catch (StoreUnavailableException exception)
        {
            throw CliException.Failed($"{exception.Message} Check Store:ConnectionString (or Store:DataDirectory) and that the database is up, then run store migrate again.");
        }
        catch (StoreSchemaException exception)
        {
            throw CliException.Failed(exception.Message);
        }

        if (json)
        {
            session.WriteJson(new MigrateResult(settings.Description, result.From, result.To, result.Applied));
        }
        else
        {
            session.Console.WriteLine(result.Applied
                ? $"Migrated {settings.Description} from schema version {result.From} to {result.To}."
                : $"{settings.Description} is at schema version {result.To}, this version's; nothing to do.");
        }

        return ExitCodes.Ok;
    }
}
