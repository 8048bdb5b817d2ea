using SyncWorker.Contracts;
using SyncWorker.Messaging;

namespace SyncWorker.Forwarding.Health;

/// <summary>
/// The cluster-wide disabled state of targets: the marker queue <see cref="Topology.DisabledMarker"/>, which every
/// forwarder's <see cref="Hosting.TargetEndpointSupervisor"/> honours as it honours a pause marker.
/// </summary>
public interface ITargetDisableMarkers
{
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
