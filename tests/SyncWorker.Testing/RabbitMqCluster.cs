using System.Globalization;
using System.Text.Json;

namespace SyncWorker.Testing;

/// <summary>
/// A private RabbitMQ cluster on this machine: N <see cref="RabbitMqNode"/>s, each with its own node name
/// (<c>swc{pid}x{random}a@localhost</c>, <c>…b@…</c>, …), loopback ports and data folder, started in parallel; nodes 2..N
/// join node 1. All nodes are started by the same user and share its Erlang cookie. Disposal stops every node and
/// deletes their data.
/// </summary>
public sealed class RabbitMqCluster : IAsyncDisposable
{
    private static readonly TimeSpan FormationTimeout = TimeSpan.FromSeconds(60);

    private readonly List<RabbitMqNode> _nodes;

    private RabbitMqCluster(List<RabbitMqNode> nodes) => _nodes = nodes;

    /// <summary>The nodes, in the order they were named (a, b, c…); node 1 is the one the others joined.</summary>
    public IReadOnlyList<RabbitMqNode> Nodes => _nodes;

    /// <summary>How long forming the cluster took, step by step, for reports.</summary>
    public string Formation { get; private set; } = "";

    /// <summary><c>host:port</c> of every node's AMQP listener except the first, for <c>RabbitMq:Hosts</c>.</summary>
    public IReadOnlyList<string> AdditionalHosts =>
        _nodes.Skip(1).Select(node => "127.0.0.1:" + node.AmqpPort.ToString(CultureInfo.InvariantCulture)).ToList();

    /// <summary>The AMQP URI of node 1 for <paramref name="virtualHost"/>.</summary>
    public Uri AmqpUri(string virtualHost = "/") => _nodes[0].AmqpUri(virtualHost);

    /// <summary>
    /// Starts <paramref name="size"/> nodes in parallel, joins nodes 2..N to node 1 (one at a time, each <c>stop_app</c>,
    /// <c>join_cluster</c>, <c>start_app</c>) and waits until node 1 reports all of them running.
    /// </summary>
    public static async Task<RabbitMqCluster> LaunchAsync(int size = 3, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 2);
        var id = $"swc{System.Environment.ProcessId}x{Guid.NewGuid().ToString("N")[..6]}";
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var starting = Enumerable.Range(0, size)
            .Select(i => RabbitMqNode.LaunchAsync(id + (char)('a' + i), cancellationToken))
            .ToList();
        try
        {
            await Task.WhenAll(starting);
        }
        catch
        {
            foreach (var node in starting.Where(t => t.IsCompletedSuccessfully))
            {
                await node.Result.DisposeAsync();
            }

            throw;
        }

        var cluster = new RabbitMqCluster(starting.Select(t => t.Result).ToList());
        var started = clock.Elapsed;
        try
        {
            // join_cluster resets the (fresh) node itself. One node at a time: two nodes joining at once can fail to
            // start (start_app: mnesia_app badmatch), as seen here.
            var first = cluster._nodes[0].NodeName;
            foreach (var node in cluster._nodes.Skip(1))
            {
                await node.CtlAsync(["stop_app"]);
                await node.CtlAsync(["join_cluster", first]);
                await node.CtlAsync(["start_app"]);
            }

            var joined = clock.Elapsed;
            await cluster.WaitUntilAllRunningAsync(cancellationToken);
            cluster.Formation = string.Create(CultureInfo.InvariantCulture,
                $"nodes started in {started.TotalSeconds:F1} s, joined at {joined.TotalSeconds:F1} s, all running at {clock.Elapsed.TotalSeconds:F1} s");
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Names of the nodes that <paramref name="askedNode"/> sees running in the cluster.</summary>
    public static async Task<IReadOnlyList<string>> RunningNodesAsync(RabbitMqNode askedNode)
    {
        ArgumentNullException.ThrowIfNull(askedNode);
        var json = await askedNode.CtlAsync(["cluster_status", "--formatter", "json"]);
        using var document = JsonDocument.Parse(json);
        return document.RootElement.TryGetProperty("running_nodes", out var running)
            ? running.EnumerateArray().Select(n => n.GetString() ?? "").ToList()
            : [];
    }

    /// <summary>Runs <c>rabbitmqctl</c> against the first node that is running (so it works while one is down).</summary>
    public Task<string> CtlAsync(IReadOnlyList<string> arguments, bool throwOnError = true) =>
        RunningNode().CtlAsync(arguments, throwOnError);

    /// <summary>Creates a virtual host (cluster-wide) and gives the guest user full rights on it.</summary>
    public Task<string> CreateVirtualHostAsync(string? name = null) => RunningNode().CreateVirtualHostAsync(name);

    /// <summary>The first node that is running.</summary>
    public RabbitMqNode RunningNode() =>
        _nodes.FirstOrDefault(node => node.IsRunning) ?? throw new InvalidOperationException("No node of the cluster is running.");

    public async ValueTask DisposeAsync()
    {
        // Stop the survivors together; a stopped or killed node's Dispose only deletes its data folder.
        await Task.WhenAll(_nodes.Select(node => node.DisposeAsync().AsTask()));
    }

    private async Task WaitUntilAllRunningAsync(CancellationToken cancellationToken)
    {
        var names = _nodes.Select(node => node.NodeName).ToHashSet(StringComparer.Ordinal);
        var until = DateTime.UtcNow + FormationTimeout;
        var last = "";
        while (true)
        {
            var running = await RunningNodesAsync(_nodes[0]);
            last = $"{_nodes[0].NodeName} sees {string.Join(", ", running)}";
            if (names.SetEquals(running))
            {
                return;
            }

            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException($"The cluster did not form within {FormationTimeout.TotalSeconds} s: {last}");
            }

            await Task.Delay(250, cancellationToken);
        }
    }
}
