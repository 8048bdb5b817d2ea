using SyncWorker.Store.Installs;

namespace SyncWorker.Store.Hosting;

/// <summary>
/// The install registry as the running worker uses it: while <see cref="StoreMonitor"/> has not found the store migrated
/// and reachable, every call throws <see cref="StoreUnavailableException"/> at once (as <see cref="MonitoredOrderRegistry"/>
/// does), rather than meeting a table that does not exist yet.
/// </summary>
internal sealed class MonitoredInstallRegistry(SqlInstallRegistry registry, StoreMonitor monitor) : IInstallRegistry
{
    /// <inheritdoc />
    public Task<bool> ApplyAsync(InstallChange change, CancellationToken cancellationToken) =>
        Available() ? registry.ApplyAsync(change, cancellationToken) : Unavailable<bool>();

    /// <inheritdoc />
    public Task<InstallRecord?> GetAsync(string account, bool livemode, CancellationToken cancellationToken) =>
        Available() ? registry.GetAsync(account, livemode, cancellationToken) : Unavailable<InstallRecord?>();

    /// <inheritdoc />
    public Task<IReadOnlyList<InstallRecord>> ListAsync(CancellationToken cancellationToken) =>
        Available() ? registry.ListAsync(cancellationToken) : Unavailable<IReadOnlyList<InstallRecord>>();

    /// <inheritdoc />
    public Task<IReadOnlyList<(string Account, bool Livemode)>> UninstalledAsync(CancellationToken cancellationToken) =>
        Available() ? registry.UninstalledAsync(cancellationToken) : Unavailable<IReadOnlyList<(string, bool)>>();

    private bool Available() => monitor.IsAvailable;

    private Task<T> Unavailable<T>() =>
        Task.FromException<T>(new StoreUnavailableException($"The store ({monitor.Description}) is not available yet: {monitor.Problem}"));
}
