using System.Diagnostics;
using System.Globalization;
using RabbitMQ.Client;

namespace SyncWorker.Testing;

/// <summary>
/// A private RabbitMQ node for one test fixture: its own node name, free loopback ports and a
/// temporary data folder, so fault tests can stop and restart it without touching any other broker.
/// Requires Debian's <c>rabbitmq-server</c> package (the README's test command installs it).
/// </summary>
public sealed class RabbitMqNode : IAsyncDisposable
{
    private const string BinDirectory = "/usr/lib/rabbitmq/bin";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    private readonly string _dataDirectory;
    private Process? _server;

    private RabbitMqNode(string nodeName, int amqpPort, int distributionPort, string dataDirectory, int? tlsPort = null)
    {
        NodeName = nodeName;
        AmqpPort = amqpPort;
        DistributionPort = distributionPort;
        TlsPort = tlsPort;
        _dataDirectory = dataDirectory;
    }

    /// <summary>Erlang node name, for <c>rabbitmqctl -n</c>.</summary>
    public string NodeName { get; }

    public int AmqpPort { get; }

    public int DistributionPort { get; }

    /// <summary>
    /// The port of the TLS (amqps) listener on 127.0.0.1, for a node launched with a certificate; null otherwise. The plain
    /// <see cref="AmqpPort"/> stays open as well, for the fixture's own checks and for tests that look at the broker.
    /// </summary>
    public int? TlsPort { get; }

    /// <summary>The node's log folder (<c>RABBITMQ_LOG_BASE</c>): its log file names the node.</summary>
    public string LogDirectory => Path.Combine(_dataDirectory, "log");

    /// <summary>
    /// Every "Channel error" entry of the node's log that names <paramref name="virtualHost"/> (with the lines that follow
    /// it, which say what failed): a passive declare of a missing queue is one, for example.
    /// </summary>
    public IReadOnlyList<string> ChannelErrors(string virtualHost)
    {
        var errors = new List<string>();
        if (!Directory.Exists(LogDirectory))
        {
            return errors;
        }

        foreach (var file in Directory.EnumerateFiles(LogDirectory, "*.log"))
        {
            string text;
            using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            using (var reader = new StreamReader(stream))
            {
                text = reader.ReadToEnd();
            }

            // RabbitMQ 3.10 writes each line of a message with its own timestamp: the "Channel error" line, then the line
            // saying what failed.
            var lines = text.Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                if (lines[i].Contains("Channel error", StringComparison.Ordinal) && lines[i].Contains($"vhost: '{virtualHost}'", StringComparison.Ordinal))
                {
                    errors.Add(i + 1 < lines.Length ? lines[i] + "\n" + lines[i + 1] : lines[i]);
                }
            }
        }

        return errors;
    }

    /// <summary>True between a successful start and a stop.</summary>
    public bool IsRunning => _server is { HasExited: false };

    /// <summary>An AMQP URI for the given virtual host, with the default guest user (loopback only).</summary>
    public Uri AmqpUri(string virtualHost = "/") =>
        new($"amqp://guest:guest@127.0.0.1:{AmqpPort}/{Uri.EscapeDataString(virtualHost)}");

    /// <summary>Creates and starts a new node and waits until it accepts connections.</summary>
    public static Task<RabbitMqNode> LaunchAsync(CancellationToken cancellationToken = default) =>
        LaunchAsync($"sw{System.Environment.ProcessId}x{Guid.NewGuid().ToString("N")[..8]}", cancellationToken);

    /// <summary>
    /// Creates and starts a new node named <c>{id}@localhost</c> (its data folder is named after <paramref name="id"/>,
    /// which must be unique on the machine) and waits until it accepts connections.
    /// </summary>
    public static Task<RabbitMqNode> LaunchAsync(string id, CancellationToken cancellationToken = default) =>
        LaunchAsync(id, null, cancellationToken);

    /// <summary>
    /// Creates and starts a new node with, when <paramref name="tls"/> is given, a TLS listener on 127.0.0.1
    /// (<see cref="TlsPort"/>) that presents that certificate (RabbitMQ's <c>ssl_options</c>; no client certificate asked
    /// for). The plain listener stays on <see cref="AmqpPort"/>.
    /// </summary>
    public static Task<RabbitMqNode> LaunchAsync(string id, ServerCertificate? tls, CancellationToken cancellationToken = default) =>
        LaunchAsync(id, tls, settings: [], cancellationToken);

    /// <summary>
    /// As <see cref="LaunchAsync(string, ServerCertificate?, CancellationToken)"/>, with extra <c>rabbitmq.conf</c> lines
    /// (<paramref name="settings"/>, such as <c>channel_max = 16</c>).
    /// </summary>
    public static async Task<RabbitMqNode> LaunchAsync(string id, ServerCertificate? tls, IReadOnlyList<string> settings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        if (!File.Exists(Path.Combine(BinDirectory, "rabbitmq-server")))
        {
            throw new InvalidOperationException(
                "rabbitmq-server is not installed. Run ./test.sh (it installs Debian's rabbitmq-server package), " +
                "or: apt-get install -y rabbitmq-server");
        }

        var dataDirectory = Path.Combine(Path.GetTempPath(), "syncworker-rabbitmq", id);
        Directory.CreateDirectory(dataDirectory);
        await File.WriteAllTextAsync(Path.Combine(dataDirectory, "enabled_plugins"), "[].", cancellationToken);

        int? tlsPort = null;
        var conf = new List<string>(settings);
        if (tls is not null)
        {
            var (ca, certificate, key) = tls.WriteTo(Path.Combine(dataDirectory, "tls"));
            tlsPort = LoopbackPorts.Free();
            conf.AddRange(
            [
                $"listeners.ssl.1 = 127.0.0.1:{tlsPort.Value.ToString(CultureInfo.InvariantCulture)}",
                $"ssl_options.cacertfile = {ca}",
                $"ssl_options.certfile = {certificate}",
                $"ssl_options.keyfile = {key}",
                "ssl_options.verify = verify_none",
                "ssl_options.fail_if_no_peer_cert = false",
            ]);
        }

        if (conf.Count > 0)
        {
            await File.WriteAllTextAsync(Path.Combine(dataDirectory, "rabbitmq.conf"), string.Join('\n', conf) + "\n", cancellationToken);
        }

        var node = new RabbitMqNode($"{id}@localhost", LoopbackPorts.Free(), LoopbackPorts.Free(), dataDirectory, tlsPort);
        await node.StartAsync(cancellationToken);
        return node;
    }

    /// <summary>(Re)starts the node on the same ports and data folder, keeping durable queues and messages.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (IsRunning)
        {
            return;
        }

        var start = new ProcessStartInfo(Path.Combine(BinDirectory, "rabbitmq-server"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in NodeEnvironment())
        {
            start.Environment[key] = value;
        }

        _server = Process.Start(start) ?? throw new InvalidOperationException("rabbitmq-server did not start.");
        _server.OutputDataReceived += (_, _) => { };
        _server.ErrorDataReceived += (_, _) => { };
        _server.BeginOutputReadLine();
        _server.BeginErrorReadLine();

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(StartTimeout);
        while (true)
        {
            if (_server.HasExited)
            {
                throw new InvalidOperationException(
                    $"rabbitmq-server exited with code {_server.ExitCode}; see the logs in {_dataDirectory}/log.");
            }

            if (await TryConnectAsync(timeout.Token))
            {
                return;
            }

            try
            {
                await Task.Delay(200, timeout.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException(
                    $"RabbitMQ node {NodeName} did not accept AMQP connections within {StartTimeout.TotalSeconds} s; " +
                    $"see the logs in {_dataDirectory}/log.");
            }
        }
    }

    /// <summary>Stops the node gracefully (durable data stays for a restart).</summary>
    public async Task StopAsync()
    {
        if (_server is null)
        {
            return;
        }

        if (!_server.HasExited)
        {
            await CtlAsync(["stop"], throwOnError: false);
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _server.WaitForExitAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                _server.Kill(entireProcessTree: true);
                await _server.WaitForExitAsync();
            }
        }

        _server.Dispose();
        _server = null;
    }

    /// <summary>
    /// SIGKILL of the node's whole process tree (the <c>rabbitmq-server</c> script, <c>beam.smp</c> and its children):
    /// the node dies with no chance to tell its peers or its clients. Returns once no process of the node is left
    /// (epmd, shared by every node on the machine, stays). The data folder stays, so <see cref="StartAsync"/> can bring
    /// it back.
    /// </summary>
    public async Task KillAsync()
    {
        if (_server is null)
        {
            return;
        }

        if (!_server.HasExited)
        {
            _server.Kill(entireProcessTree: true);
            await _server.WaitForExitAsync();
        }

        _server.Dispose();
        _server = null;

        // The tree was collected when Kill ran; make sure nothing of the node outlived it (a helper the VM had started,
        // say). Only processes started for this node are touched.
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (ProcessesOfNode() is { Count: > 0 } left)
        {
            if (DateTime.UtcNow > until)
            {
                throw new InvalidOperationException($"Processes of {NodeName} still run after SIGKILL: {string.Join(", ", left)}");
            }

            foreach (var pid in left)
            {
                try
                {
                    using var process = Process.GetProcessById(pid);
                    process.Kill(entireProcessTree: true);
                }
                catch (ArgumentException)
                {
                    // Gone already.
                }
                catch (InvalidOperationException)
                {
                    // Gone already.
                }
            }

            await Task.Delay(100);
        }
    }

    /// <summary>
    /// Ids of running processes of this node's server (Linux, from /proc): those started with this node's
    /// <c>RABBITMQ_NODENAME</c> in their environment (the <c>rabbitmq-server</c> script, its Erlang VM and the VM's helpers),
    /// except <c>rabbitmqctl</c> runs (they carry the same environment) and epmd (shared by every node on the machine).
    /// </summary>
    public IReadOnlyList<int> ProcessesOfNode()
    {
        var marker = "RABBITMQ_NODENAME=" + NodeName + "\0";
        var found = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == System.Environment.ProcessId)
            {
                continue;
            }

            try
            {
                // A zombie's command line is empty: it is not running.
                var commandLine = File.ReadAllText(Path.Combine(directory, "cmdline"));
                if (commandLine.Length == 0 || commandLine.Contains("rabbitmqctl", StringComparison.Ordinal) || commandLine.Contains("epmd", StringComparison.Ordinal))
                {
                    continue;
                }

                if (File.ReadAllText(Path.Combine(directory, "environ")).Contains(marker, StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (IOException)
            {
                // Exited while we looked.
            }
            catch (UnauthorizedAccessException)
            {
                // Not ours.
            }
        }

        return found;
    }

    /// <summary>Creates a virtual host and gives the guest user full rights on it.</summary>
    public async Task<string> CreateVirtualHostAsync(string? name = null)
    {
        name ??= "vh-" + Guid.NewGuid().ToString("N")[..12];
        await CtlAsync(["add_vhost", name]);
        await CtlAsync(["set_permissions", "-p", name, "guest", ".*", ".*", ".*"]);
        return name;
    }

    /// <summary>Runs <c>rabbitmqctl -n NODE args</c> and returns its standard output.</summary>
    public async Task<string> CtlAsync(IReadOnlyList<string> arguments, bool throwOnError = true)
    {
        var start = new ProcessStartInfo(Path.Combine(BinDirectory, "rabbitmqctl"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-n");
        start.ArgumentList.Add(NodeName);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in NodeEnvironment())
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("rabbitmqctl did not start.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (throwOnError && process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"rabbitmqctl {string.Join(' ', arguments)} failed ({process.ExitCode}): {await error}");
        }

        return await output;
    }

    /// <summary>Opens a RabbitMQ.Client connection to the given virtual host.</summary>
    public Task<IConnection> ConnectAsync(string virtualHost = "/", CancellationToken cancellationToken = default) =>
        new ConnectionFactory { Uri = AmqpUri(virtualHost) }.CreateConnectionAsync(cancellationToken);

    /// <summary>Fetches every ready message of a queue (acknowledging them) and returns their bodies.</summary>
    public async Task<IReadOnlyList<BasicGetResult>> DrainAsync(string virtualHost, string queue)
    {
        await using var connection = await ConnectAsync(virtualHost);
        await using var channel = await connection.CreateChannelAsync();
        var messages = new List<BasicGetResult>();
        while (await channel.BasicGetAsync(queue, autoAck: true) is { } message)
        {
            messages.Add(message);
        }

        return messages;
    }

    /// <summary>Ready-message count of a queue; throws when the queue does not exist.</summary>
    public async Task<uint> MessageCountAsync(string virtualHost, string queue)
    {
        await using var connection = await ConnectAsync(virtualHost);
        await using var channel = await connection.CreateChannelAsync();
        var declared = await channel.QueueDeclarePassiveAsync(queue);
        return declared.MessageCount;
    }

    /// <summary>Ready-message count of a queue; 0 when it does not exist (yet).</summary>
    public async Task<uint> MessageCountOrZeroAsync(string virtualHost, string queue)
    {
        try
        {
            return await MessageCountAsync(virtualHost, queue);
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return 0;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless; the next run uses a new one.
        }
    }

    private Dictionary<string, string> NodeEnvironment() => new()
    {
        ["RABBITMQ_NODENAME"] = NodeName,
        ["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1",
        ["RABBITMQ_NODE_PORT"] = AmqpPort.ToString(CultureInfo.InvariantCulture),
        ["RABBITMQ_DIST_PORT"] = DistributionPort.ToString(CultureInfo.InvariantCulture),
        ["RABBITMQ_MNESIA_BASE"] = Path.Combine(_dataDirectory, "mnesia"),
        ["RABBITMQ_LOG_BASE"] = Path.Combine(_dataDirectory, "log"),
        ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(_dataDirectory, "enabled_plugins"),
        ["RABBITMQ_CONFIG_FILE"] = Path.Combine(_dataDirectory, "rabbitmq"),
        ["RABBITMQ_ADVANCED_CONFIG_FILE"] = Path.Combine(_dataDirectory, "advanced.config"),
        ["HOME"] = System.Environment.GetEnvironmentVariable("HOME") ?? "/root",
    };

    private async Task<bool> TryConnectAsync(CancellationToken cancellationToken)
    {
        try
        {
            var factory = new ConnectionFactory { Uri = AmqpUri(), RequestedConnectionTimeout = TimeSpan.FromSeconds(2) };
            await using var connection = await factory.CreateConnectionAsync(cancellationToken);
            return connection.IsOpen;
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            return false;
        }
    }
}
