using System.Diagnostics.CodeAnalysis;
using SyncWorker.Forwarding.Targets;

namespace SyncWorker.Forwarding.Delivery;

/// <summary>
/// The targets that <see cref="TargetHttpClientServiceCollectionExtensions.AddTargetHttpClients"/> registered a client
/// for, by name (ordinal). A singleton, built from every call's targets.
/// </summary>
public sealed class TargetHttpClientCatalog
{
    private readonly Dictionary<string, TargetOptions> _targets = new(StringComparer.Ordinal);

    internal TargetHttpClientCatalog(IEnumerable<TargetOptions> targets)
    {
        foreach (TargetOptions target in targets)
        {
            if (!_targets.TryAdd(target.Name, target))
            {
                throw new InvalidOperationException($"Two fulfillment targets are named '{target.Name}'; target names must be unique.");
            }
        }
    }

    /// <summary>The registered target names.</summary>
    public IReadOnlyCollection<string> Names => _targets.Keys;

    internal bool TryGet(string name, [NotNullWhen(true)] out TargetOptions? target) => _targets.TryGetValue(name, out target);
}
