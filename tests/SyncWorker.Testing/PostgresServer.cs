using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace SyncWorker.Testing;

/// <summary>
/// A private PostgreSQL cluster for tests: <c>initdb</c> in a temporary folder, <c>pg_ctl</c> on a free loopback port,
/// its socket in that folder; never the system cluster. Run as root, the cluster belongs to the <c>postgres</c> user
/// (<c>initdb</c> refuses root) and is driven through <c>runuser</c>. Requires Debian's <c>postgresql</c> package (the
/// README's test command installs it). Each test takes a database of its own (<see cref="CreateDatabaseAsync"/>).
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly string _folder;
    private readonly string _binDirectory;
    private int _databases;

    private PostgresServer(string folder, string binDirectory, int port)
    {
        _folder = folder;
        _binDirectory = binDirectory;
        Port = port;
    }

    /// <summary>The loopback port it listens on.</summary>
    public int Port { get; }

    /// <summary>The postmaster's process id while it runs (from <c>postmaster.pid</c>), else null.</summary>
    public int? ServerProcessId
    {
        get
        {
            try
            {
                return int.TryParse(File.ReadLines(Path.Combine(DataDirectory, "postmaster.pid")).FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;
            }
            catch (IOException)
            {
                return null;
            }
        }
    }

    /// <summary>The server's log file.</summary>
    public string LogFile => Path.Combine(_folder, "postgres.log");

    private string DataDirectory => Path.Combine(_folder, "data");

    /// <summary>A connection string for <paramref name="database"/> as the superuser (trust authentication on loopback).</summary>
    public string ConnectionString(string database = "postgres") =>
        new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = Port,
            Database = database,
            Username = "postgres",
            // Tests stop the server under open pools: keep failures fast and pools from handing out dead connections.
            Timeout = 5,
            Pooling = true,
        }.ConnectionString;

    /// <summary>Creates the cluster in a new temporary folder, starts it and waits until it accepts connections.</summary>
    public static Task<PostgresServer> LaunchAsync(CancellationToken cancellationToken = default) => LaunchAsync(durable: false, cancellationToken);

    /// <summary>
    /// The same; with <paramref name="durable"/> the cluster keeps PostgreSQL's default durability (<c>fsync</c>,
    /// <c>full_page_writes</c> and <c>synchronous_commit</c> on), as in production: the load harness measures with it.
    /// </summary>
    public static async Task<PostgresServer> LaunchAsync(bool durable, CancellationToken cancellationToken = default)
    {
        var binDirectory = FindBinDirectory() ?? throw new InvalidOperationException(
            "PostgreSQL is not installed (no /usr/lib/postgresql/<version>/bin/initdb). Run ./test.sh (it installs Debian's " +
            "postgresql package), or: apt-get install -y postgresql");
        var folder = Path.Combine(Path.GetTempPath(), "syncworker-postgres", $"pg{Environment.ProcessId}x{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(folder);
        if (IsRoot)
        {
            await RunAsync("chown", ["-R", "postgres:postgres", folder], asPostgres: false, cancellationToken);
        }

        var server = new PostgresServer(folder, binDirectory, LoopbackPorts.Free());
        await server.RunToolAsync("initdb", ["-D", server.DataDirectory, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"], cancellationToken);
        await File.AppendAllTextAsync(Path.Combine(server.DataDirectory, "postgresql.conf"), string.Join('\n',
            "",
            $"port = {server.Port.ToString(CultureInfo.InvariantCulture)}",
            "listen_addresses = '127.0.0.1'",
            $"unix_socket_directories = '{folder}'",
            // A test cluster: durability across an OS crash is not what tests look at.
            durable ? "" : "fsync = off",
            durable ? "" : "full_page_writes = off",
            "max_connections = 200",
            ""), cancellationToken);
        if (IsRoot)
        {
            await RunAsync("chown", ["postgres:postgres", Path.Combine(server.DataDirectory, "postgresql.conf")], asPostgres: false, cancellationToken);
        }

        await server.StartAsync(cancellationToken);
        return server;
    }

    /// <summary>Starts the server (again) and waits until it accepts connections.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await RunToolAsync("pg_ctl", ["-D", DataDirectory, "-l", LogFile, "-w", "-t", ((int)StartTimeout.TotalSeconds).ToString(CultureInfo.InvariantCulture), "start"], cancellationToken);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await using var connection = new NpgsqlConnection(ConnectionString());
                await connection.OpenAsync(cancellationToken);
                return;
            }
            catch (NpgsqlException) when (clock.Elapsed < StartTimeout)
            {
                await Task.Delay(200, cancellationToken);
            }
        }
    }

    /// <summary>Stops the server (<c>pg_ctl stop -m fast</c>: open sessions are ended).</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) =>
        RunToolAsync("pg_ctl", ["-D", DataDirectory, "-m", "fast", "-w", "stop"], cancellationToken);

    /// <summary>True while the server answers.</summary>
    public bool IsRunning => File.Exists(Path.Combine(DataDirectory, "postmaster.pid"));

    /// <summary>Creates an empty database of its own for a test and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string? prefix = null, CancellationToken cancellationToken = default)
    {
        var name = $"{prefix ?? "test"}_{Interlocked.Increment(ref _databases).ToString(CultureInfo.InvariantCulture)}_{Guid.NewGuid().ToString("N")[..6]}".ToLowerInvariant();
        await using var connection = new NpgsqlConnection(ConnectionString());
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
        return ConnectionString(name);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            NpgsqlConnection.ClearAllPools();
            if (IsRunning)
            {
                await RunToolAsync("pg_ctl", ["-D", DataDirectory, "-m", "immediate", "-w", "stop"], CancellationToken.None);
            }
        }
        catch (InvalidOperationException)
        {
            // Already stopped.
        }

        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // Left for the OS's temporary-folder cleanup.
        }
        catch (UnauthorizedAccessException)
        {
            // Same.
        }
    }

    private static bool IsRoot => Environment.UserName == "root";

    private Task RunToolAsync(string tool, string[] arguments, CancellationToken cancellationToken) =>
        RunAsync(Path.Combine(_binDirectory, tool), arguments, asPostgres: IsRoot, cancellationToken);

    private static async Task RunAsync(string file, string[] arguments, bool asPostgres, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(asPostgres ? "runuser" : file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            // initdb and pg_ctl change into the data folder's parent; the test's working folder may not be readable by postgres.
            WorkingDirectory = Path.GetTempPath(),
        };
        if (asPostgres)
        {
            foreach (var argument in new[] { "-u", "postgres", "--", file })
            {
                start.ArgumentList.Add(argument);
            }
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start.");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', arguments)} exited with {process.ExitCode}: {await error} {await output}");
        }
    }

    private static string? FindBinDirectory() =>
        Directory.Exists("/usr/lib/postgresql")
            ? Directory.EnumerateDirectories("/usr/lib/postgresql")
                .Select(d => (Directory: d, Version: int.TryParse(Path.GetFileName(d), out var v) ? v : -1))
                .Where(d => d.Version > 0 && File.Exists(Path.Combine(d.Directory, "bin", "initdb")))
                .OrderByDescending(d => d.Version)
                .Select(d => Path.Combine(d.Directory, "bin"))
                .FirstOrDefault()
            : null;
}
