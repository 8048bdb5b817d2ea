using Spectre.Console;
using Microsoft.Extensions.Configuration;
using SyncWorker.Store;

namespace SyncWorker.Operations.Cli;

/// <summary><c>store migrate</c>.</summary>
internal static class StoreCommands
{
    /// <summary>The JSON document of <c>store migrate --json</c>.</summary>
    internal sealed record MigrateResult(string Store, long From, long To, bool Applied);

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
