using System.Collections.Frozen;
using Microsoft.Extensions.Options;

namespace SyncWorker.Forwarding.Targets;

/// <summary>The validated targets, compiled once; shared by the dispatcher and the delivery consumers.</summary>
public sealed class TargetRegistry
{
    private readonly FrozenDictionary<string, TargetRoute> _byName;

    /// <summary>Compiles the configured targets (validated at start).</summary>
    public TargetRegistry(IOptions<FulfillmentOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Routes = options.Value.Targets.Select(target => new TargetRoute(target)).ToArray();
        _byName = Routes.ToFrozenDictionary(route => route.Name, StringComparer.Ordinal);
    }

    /// <summary>Every target, in configuration order.</summary>
    public IReadOnlyList<TargetRoute> Routes { get; }

    /// <summary>The target called <paramref name="name"/>, or null when it is not (or no longer) configured.</summary>
    public TargetRoute? Find(string name) => _byName.GetValueOrDefault(name);
}
