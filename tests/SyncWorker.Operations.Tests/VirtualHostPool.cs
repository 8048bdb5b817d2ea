using System.Text.Json;
using SyncWorker.Testing;

namespace SyncWorker.Operations.Tests;

/// <summary>
/// Fresh virtual hosts for the tests of one fixture, made up front with one <c>rabbitmqctl import_definitions</c>
/// (each <c>rabbitmqctl</c> call starts an Erlang VM, which costs about half a second). Each is handed out once.
/// </summary>
internal sealed class VirtualHostPool(RabbitMqNode node)
{
    private readonly Queue<string> _fresh = new();

    public async Task FillAsync(int count)
    {
        var names = Enumerable.Range(0, count).Select(_ => "vh-" + Guid.NewGuid().ToString("N")[..12]).ToList();
        var definitions = new
        {
            vhosts = names.Select(name => new { name }),
            permissions = names.Select(name => new { user = "guest", vhost = name, configure = ".*", write = ".*", read = ".*" }),
        };
        var path = Path.Combine(Path.GetTempPath(), $"syncworker-vhosts-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(path, JsonSerializer.Serialize(definitions));
        try
        {
            await node.CtlAsync(["import_definitions", path]);
        }
        finally
        {
            File.Delete(path);
        }

        foreach (var name in names)
        {
            _fresh.Enqueue(name);
        }
    }

    /// <summary>A virtual host no test used before.</summary>
    public async Task<string> TakeAsync() => _fresh.TryDequeue(out var name) ? name : await node.CreateVirtualHostAsync();
}
