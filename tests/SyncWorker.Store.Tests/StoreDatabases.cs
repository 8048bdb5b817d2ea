using Microsoft.Extensions.Configuration;
using SyncWorker.Testing;

namespace SyncWorker.Store.Tests;

/// <summary>
/// One private PostgreSQL cluster for the whole assembly (started on first use) and a fresh database per test, of either
/// provider: an empty SQLite file in a temporary folder, or a new PostgreSQL database.
/// </summary>
[SetUpFixture]
public sealed class StoreDatabases
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static PostgresServer? _postgres;
    private static readonly string Folder = Path.Combine(Path.GetTempPath(), "syncworker-store-tests", Guid.NewGuid().ToString("N")[..8]);

    /// <summary>The shared cluster, started on first use.</summary>
    public static async Task<PostgresServer> PostgresAsync()
    {
        await Gate.WaitAsync();
        try
        {
            return _postgres ??= await PostgresServer.LaunchAsync();
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>The <c>Store</c> settings of a new, empty database of <paramref name="provider"/>.</summary>
    public static async Task<StoreSettings> NewAsync(StoreProvider provider)
    {
        var values = new Dictionary<string, string?> { ["Store:Provider"] = provider.ToString() };
        if (provider == StoreProvider.Postgres)
        {
            values["Store:ConnectionString"] = await (await PostgresAsync()).CreateDatabaseAsync("store");
        }
        else
        {
            values["Store:DataDirectory"] = Path.Combine(Folder, Guid.NewGuid().ToString("N")[..8]);
        }

        return StoreSettings.Resolve(new ConfigurationBuilder().AddInMemoryCollection(values).Build(), AppContext.BaseDirectory);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }

        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
            // No SQLite test ran.
        }
    }
}
