using SyncWorker.Contracts;
using SyncWorker.Messaging;

namespace SyncWorker.Forwarding.Health;

/// <summary>
/// The cluster-wide disabled state of targets: the marker queue <see cref="Topology.DisabledMarker"/>, which every
/// forwarder's <see cref="Hosting.TargetEndpointSupervisor"/> honours as it honours a pause marker.
/// </summary>
public interface ITargetDisableMarkers
{
    /// <summary>False where targets cannot be disabled (the in-memory transport has no marker queues): nothing is evaluated.</summary>
    bool Available => true;

    /// <summary>True while the target's disable marker exists.</summary>
    Task<bool> ExistsAsync(string target, CancellationToken cancellationToken);

    /// <summary>Creates the target's disable marker (nothing happens when it exists).</summary>
    Task SetAsync(string target, CancellationToken cancellationToken);

    /// <summary>Deletes the target's disable marker; true when it existed.</summary>
    Task<bool> ClearAsync(string target, CancellationToken cancellationToken);
}

/// <summary><see cref="ITargetDisableMarkers"/> on RabbitMQ, through <see cref="BrokerAdmin"/>.</summary>
public sealed class BrokerDisableMarkers(BrokerAdmin admin) : ITargetDisableMarkers
{
    /// <inheritdoc />
    public Task<bool> ExistsAsync(string target, CancellationToken cancellationToken) =>
        admin.MarkerExistsAsync(Topology.DisabledMarker(target), cancellationToken);

    /// <inheritdoc />
    public Task SetAsync(string target, CancellationToken cancellationToken) =>
        admin.DeclareMarkerAsync(Topology.DisabledMarker(target), cancellationToken);

    /// <inheritdoc />
    public Task<bool> ClearAsync(string target, CancellationToken cancellationToken) =>
        admin.DeleteMarkerAsync(Topology.DisabledMarker(target), cancellationToken);
}

/// <summary>
/// The in-memory transport's (development without <c>RabbitMq:Uri</c>): there are no marker queues for forwarders to
/// honour, so targets are never disabled there.
/// </summary>
public sealed class NoDisableMarkers : ITargetDisableMarkers
{
    /// <inheritdoc />
    public bool Available => false;

    /// <inheritdoc />
    public Task<bool> ExistsAsync(string target, CancellationToken cancellationToken) => Task.FromResult(false);

    /// <inheritdoc />
    public Task SetAsync(string target, CancellationToken cancellationToken) =>
        throw new InvalidOperationException("Targets are not disabled on the in-memory transport: set RabbitMq:Uri.");

    /// <inheritdoc />
    public Task<bool> ClearAsync(string target, CancellationToken cancellationToken) => Task.FromResult(false);
}
