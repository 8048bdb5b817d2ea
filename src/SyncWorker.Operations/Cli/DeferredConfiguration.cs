using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Primitives;

namespace SyncWorker.Operations.Cli;

/// <summary>
/// The verbs' configuration, built the first time a verb reads it: <c>--help</c>, a usage error or the worker's own start
/// never build it.
/// </summary>
internal sealed class DeferredConfiguration(Func<IConfiguration> build) : IConfiguration
{
    private readonly Lazy<IConfiguration> _configuration = new(build);

    public string? this[string key]
    {
        get => _configuration.Value[key];
        set => _configuration.Value[key] = value;
    }

    public IEnumerable<IConfigurationSection> GetChildren() => _configuration.Value.GetChildren();

    public IChangeToken GetReloadToken() => _configuration.Value.GetReloadToken();

    public IConfigurationSection GetSection(string key) => _configuration.Value.GetSection(key);
}
