namespace SyncWorker.Store;

/// <summary>Which database holds SyncWorker's memory (<c>Store:Provider</c>).</summary>
public enum StoreProvider
{
    /// <summary>An embedded SQLite file (default): one instance, nothing to install.</summary>
    Sqlite,

    /// <summary>PostgreSQL (Npgsql): production, and every deployment with more than one instance.</summary>
    Postgres,
}
