using FluentMigrator.Runner;
using FluentMigrator.Runner.Initialization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using SyncWorker.Store.Migrations;

namespace SyncWorker.Store;

/// <summary>What <see cref="StoreMigrator.MigrateAsync"/> did.</summary>
/// <param name="From">The schema version before (0: an empty database).</param>
/// <param name="To">The schema version after: <see cref="StoreMigrator.LatestVersion"/>.</param>
public sealed record MigrationResult(long From, long To)
{
    /// <summary>True when migrations ran (the schema was older).</summary>
    public bool Applied => To != From;
}

/// <summary>
/// Brings the store's schema to this version with FluentMigrator, under a lock so that instances starting together
/// migrate once: PostgreSQL's session advisory lock, or for SQLite an exclusive lock file beside the database. Used at
/// start and by <c>store migrate</c>.
/// </summary>
public sealed partial class StoreMigrator(StoreSettings settings, ILogger<StoreMigrator>? logger = null)
{
    /// <summary>The schema version this build expects.</summary>
    public const long LatestVersion = 6;

    /// <summary>
    /// The table (from version 3) holding the oldest schema version that still works with the store as migrated: a
    /// SyncWorker older than the store, but not older than that, runs without migrating (a rolling upgrade).
    /// </summary>
    public const string CompatibilityTable = "schema_compatibility";

    // pg_advisory_lock key: "SyncWrkr" as a 64-bit number, the same in every SyncWorker instance and nothing else's.
    private const long PostgresLockKey = 0x53796E6357726B72;

    private readonly ILogger _logger = logger ?? NullLogger<StoreMigrator>.Instance;

    /// <summary>
    /// Applies the migrations this build has and the store lacks; waits for another instance's migration to finish
    /// first. Throws <see cref="StoreUnavailableException"/> when the store cannot be reached, and
    /// <see cref="StoreSchemaException"/> when the store's schema is newer than this build.
    /// </summary>
    public Task<MigrationResult> MigrateAsync(CancellationToken cancellationToken) => MigrateToAsync(LatestVersion, cancellationToken);

    /// <summary>
    /// Migrates up to <paramref name="version"/> only (a test brings a store to an earlier version this way, to check the
    /// upgrade from it); otherwise as <see cref="MigrateAsync"/>.
    /// </summary>
    public async Task<MigrationResult> MigrateToAsync(long version, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(version, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(version, LatestVersion);
        try
        {
            return settings.Provider == StoreProvider.Postgres
                ? await MigratePostgresAsync(version, cancellationToken).ConfigureAwait(false)
                : await MigrateSqliteAsync(version, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (StoreErrors.IsUnavailable(exception) && !cancellationToken.IsCancellationRequested)
        {
            throw new StoreUnavailableException($"The store ({settings.Description}) could not be migrated: {StoreErrors.Describe(exception)}", exception);
        }
    }

    /// <summary>The store's schema version (0: empty); throws <see cref="StoreUnavailableException"/> when unreachable.</summary>
    public async Task<long> CurrentVersionAsync(CancellationToken cancellationToken)
    {
        if (settings.SqliteFile is { } file && !File.Exists(file))
        {
            // Not created yet (opening it would create it): an empty store.
            return 0;
        }

        try
        {
            await using var connection = settings.CreateConnection();
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return await VersionAsync(connection, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (StoreErrors.IsUnavailable(exception) && !cancellationToken.IsCancellationRequested)
        {
            throw new StoreUnavailableException($"The store ({settings.Description}) is unreachable: {StoreErrors.Describe(exception)}", exception);
        }
    }

    private async Task<MigrationResult> MigratePostgresAsync(long version, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(settings.ConnectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_lock(@key)", connection))
        {
            lockCommand.Parameters.AddWithValue("key", PostgresLockKey);
            // Waits while another instance migrates; the lock goes with this session.
            lockCommand.CommandTimeout = 0;
            await lockCommand.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        try
        {
            return await RunAsync(connection, version, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await using var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock(@key)", connection);
            unlock.Parameters.AddWithValue("key", PostgresLockKey);
            await unlock.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    private async Task<MigrationResult> MigrateSqliteAsync(long version, CancellationToken cancellationToken)
    {
        var file = settings.SqliteFile!;
        var folder = Path.GetDirectoryName(file)!;
        try
        {
            Directory.CreateDirectory(folder);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new StoreUnavailableException($"The store's folder {folder} cannot be created ({exception.Message}): set Store:DataDirectory (or Store:ConnectionString) to a folder this process may write to.", exception);
        }

        await using var fileLock = await LockFileAsync(file + ".migrate-lock", cancellationToken).ConfigureAwait(false);
        await using var connection = new SqliteConnection(settings.ConnectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        // Readers do not block the writer and the other way round; the setting stays with the file.
        await using (var wal = connection.CreateCommand())
        {
            wal.CommandText = "PRAGMA journal_mode=WAL;";
            await wal.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return await RunAsync(connection, version, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<FileStream> LockFileAsync(string path, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException)
            {
                // Another process migrates this file: wait for it.
                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task<MigrationResult> RunAsync(System.Data.Common.DbConnection connection, long version, CancellationToken cancellationToken)
    {
        var before = await VersionAsync(connection, cancellationToken).ConfigureAwait(false);
        if (before > LatestVersion && await OldestCompatibleAsync(connection, cancellationToken).ConfigureAwait(false) is { } oldest && oldest <= LatestVersion)
        {
            // A newer version migrated it, additively: this one works with it as it is (a rolling upgrade).
            LogNewerCompatible(settings.Description, before, LatestVersion);
            return new MigrationResult(before, before);
        }

        if (before > LatestVersion)
        {
            throw new StoreSchemaException($"The store ({settings.Description}) has schema version {before}, newer than this SyncWorker's {LatestVersion}: a newer version migrated it. Run that version (or newer); SyncWorker never migrates a store down.");
        }

        if (before >= version)
        {
            return new MigrationResult(before, before);
        }

        LogMigrating(settings.Description, before, version);
        // FluentMigrator's runner is synchronous; it opens its own connection (the lock above stays held).
        await Task.Run(() => MigrateUp(settings, version), cancellationToken).ConfigureAwait(false);
        var after = await VersionAsync(connection, cancellationToken).ConfigureAwait(false);
        LogMigrated(settings.Description, after);
        return new MigrationResult(before, after);
    }

    private static void MigrateUp(StoreSettings settings, long version)
    {
        var services = new ServiceCollection()
            .AddFluentMigratorCore()
            .ConfigureRunner(runner =>
            {
                if (settings.Provider == StoreProvider.Postgres)
                {
                    runner.AddPostgres();
                }
                else
                {
                    runner.AddSQLite();
                }

                runner.WithGlobalConnectionString(settings.ConnectionString)
                    .ScanIn(typeof(DeliveryLedgerMigration).Assembly).For.Migrations();
            })
            .Configure<RunnerOptions>(options => options.TransactionPerSession = false)
            .AddLogging()
            .BuildServiceProvider(validateScopes: false);
        using (services)
        {
            using var scope = services.CreateScope();
            scope.ServiceProvider.GetRequiredService<IMigrationRunner>().MigrateUp(version);
        }
    }

    /// <summary>The highest version in FluentMigrator's VersionInfo table; 0 when there is none.</summary>
    private static async Task<long?> OldestCompatibleAsync(System.Data.Common.DbConnection connection, CancellationToken cancellationToken)
    {
        await using var exists = connection.CreateCommand();
        exists.CommandText = connection is SqliteConnection
            ? $"SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '{CompatibilityTable}'"
            : $"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '{CompatibilityTable}'";
        if (Convert.ToInt64(await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture) == 0)
        {
            return null;
        }

        await using var oldest = connection.CreateCommand();
        oldest.CommandText = $"SELECT MAX(oldest_compatible_version) FROM {CompatibilityTable}";
        var value = await oldest.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is null or DBNull ? null : Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<long> VersionAsync(System.Data.Common.DbConnection connection, CancellationToken cancellationToken)
    {
        await using var exists = connection.CreateCommand();
        exists.CommandText = connection is SqliteConnection
            ? "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'VersionInfo'"
            : "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'VersionInfo'";
        if (Convert.ToInt64(await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture) == 0)
        {
            return 0;
        }

        await using var version = connection.CreateCommand();
        version.CommandText = "SELECT MAX(\"Version\") FROM \"VersionInfo\"";
        var value = await version.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is null or DBNull ? 0 : Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "Migrating the store ({Store}) from schema version {From} to {To}")]
    private partial void LogMigrating(string store, long from, long to);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Information, Message = "The store ({Store}) is at schema version {Version}, newer than this SyncWorker's {Own}, and says it still works with it: running without migrating")]
    private partial void LogNewerCompatible(string store, long version, long own);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Information, Message = "The store ({Store}) is at schema version {Version}")]
    private partial void LogMigrated(string store, long version);
}
