using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Configuration;
using SyncWorker.Store;
using SyncWorker.Testing;

namespace SyncWorker.FaultInjection.Tests;

/// <summary>
/// The real SyncWorker executable as an operator runs it: <c>dotnet SyncWorker.dll</c> from the test output, configured
/// only through environment variables, on a fixed loopback port so that a restart answers where Stripe already sends.
/// Standard output and error go to a log file, named in every failure message.
/// </summary>
internal sealed class WorkerProcess : IAsyncDisposable
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(45);

    // Settings that could leak in from the test runner's environment and change what the worker does.
    private static readonly string[] InheritedPrefixesRemoved =
        ["ASPNETCORE_", "Stripe__", "RabbitMq__", "Fulfillment__", "Worker__", "Webhooks__", "Manifest__", "Messaging__", "Logging__"];

    private readonly IReadOnlyDictionary<string, string> _environment;
    private readonly string _logDirectory;
    private readonly string _name;
    private readonly Lock _logLock = new();
    private readonly List<DateTimeOffset> _kills = [];
    private readonly List<DateTimeOffset> _launches = [];
    private Process? _process;
    private StreamWriter? _log;
    private int _starts;

    private WorkerProcess(string name, int port, IReadOnlyDictionary<string, string> environment, string logDirectory)
    {
        _name = name;
        Port = port;
        _environment = environment;
        _logDirectory = logDirectory;
        BaseAddress = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/");
    }

    /// <summary>The loopback port, the same across restarts.</summary>
    public int Port { get; }

    public Uri BaseAddress { get; }

    /// <summary>Where Stripe posts events.</summary>
    public Uri WebhookUrl => new(BaseAddress, "webhooks/stripe");

    /// <summary>The log file of the current (or last) run.</summary>
    public string LogPath { get; private set; } = "";

    /// <summary>Process id of the current run.</summary>
    public int ProcessId => _process?.Id ?? throw new InvalidOperationException("The worker is not running.");

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>When this worker was killed (SIGKILL), each time: by <see cref="KillAsync"/>, or after a SIGTERM it outlived.</summary>
    public IReadOnlyList<DateTimeOffset> Kills
    {
        get
        {
            lock (_kills)
            {
                return [.. _kills];
            }
        }
    }

    /// <summary>
    /// Each SIGKILL (<see cref="Kills"/>) and when this worker was next launched (null if it was not): a request the
    /// worker sent in between came from the killed process.
    /// </summary>
    public IReadOnlyList<(DateTimeOffset Killed, DateTimeOffset? Relaunched)> KillWindows
    {
        get
        {
            lock (_kills)
            {
                return _kills.Select(kill => (kill, _launches.Where(launch => launch > kill).Select(launch => (DateTimeOffset?)launch).FirstOrDefault())).ToList();
            }
        }
    }

    /// <summary>The worker's <c>Store:*</c> settings as it resolves them, to read the delivery ledger it keeps.</summary>
    public StoreSettings StoreSettings()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(_environment.Select(pair => KeyValuePair.Create(pair.Key.Replace("__", ":", StringComparison.Ordinal), (string?)pair.Value)))
            .Build();
        return Store.StoreSettings.Resolve(configuration, AppContext.BaseDirectory);
    }

    /// <summary>
    /// Starts the worker with <paramref name="settings"/> (configuration keys in <c>Section:Key</c> or <c>Section__Key</c>
    /// form) on a free port and waits until it answers HTTP.
    /// </summary>
    public static async Task<WorkerProcess> StartAsync(string name, IReadOnlyDictionary<string, string> settings, string logDirectory)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["Logging__LogLevel__Default"] = "Warning",
            // Readable lines; Failures() reads them.
            ["Logging__Console__FormatterName"] = "simple",
            ["DOTNET_NOLOGO"] = "1",
        };
        // A store of its own beside its logs (SQLite), kept across restarts, unless the scenario gives one.
        environment["Store__DataDirectory"] = Path.Combine(logDirectory, "store-" + name);
        foreach (var (key, value) in settings)
        {
            environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var port = LoopbackPorts.Free();
        environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
        Directory.CreateDirectory(logDirectory);
        var worker = new WorkerProcess(name, port, environment, logDirectory);
        try
        {
            await worker.RestartAsync();
        }
        catch
        {
            // A worker that did not come up is not left running behind the failure.
            await worker.DisposeAsync();
            throw;
        }

        return worker;
    }

    /// <summary>Starts the worker again on the same port with the same settings (after a kill or a stop).</summary>
    public async Task RestartAsync()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"Worker {_name} is still running (pid {_process!.Id}).");
        }

        CloseLog();
        _process?.Dispose();
        _starts++;
        LogPath = Path.Combine(_logDirectory, $"{_name}-run{_starts.ToString(CultureInfo.InvariantCulture)}.log");
        _log = new StreamWriter(LogPath, append: false, Encoding.UTF8) { AutoFlush = true };
        lock (_kills)
        {
            _launches.Add(DateTimeOffset.UtcNow);
        }

        _process = Launch([], line => WriteLog(line));
        await WaitUntilAnsweringAsync();
    }

    /// <summary>SIGKILL: the process (and anything it started) ends at once, with no chance to finish anything.</summary>
    public async Task KillAsync()
    {
        var process = _process ?? throw new InvalidOperationException("The worker is not running.");
        NoteKill();
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
        WriteLog("[fault-injection] killed with SIGKILL");
    }

    /// <summary>
    /// SIGTERM, as an orchestrator stops a container: returns how long the process took to exit and its exit code. If it
    /// has not exited after <paramref name="killAfter"/> it is killed (as the orchestrator would), and the exit code is null.
    /// </summary>
    public async Task<(TimeSpan Elapsed, int? ExitCode)> TerminateAsync(TimeSpan killAfter)
    {
        var process = _process ?? throw new InvalidOperationException("The worker is not running.");
        var clock = Stopwatch.StartNew();
        using (var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", process.Id.ToString(CultureInfo.InvariantCulture) }, UseShellExecute = false })
            ?? throw new InvalidOperationException("kill did not start."))
        {
            await kill.WaitForExitAsync();
            if (kill.ExitCode != 0)
            {
                throw new InvalidOperationException($"kill -TERM {process.Id} failed with exit code {kill.ExitCode}.");
            }
        }

        using var deadline = new CancellationTokenSource(killAfter);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            var elapsed = clock.Elapsed;
            NoteKill();
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            WriteLog($"[fault-injection] still running {elapsed.TotalSeconds:F1} s after SIGTERM; killed");
            return (elapsed, null);
        }

        clock.Stop();
        WriteLog($"[fault-injection] exited {process.ExitCode} {clock.Elapsed.TotalSeconds:F2} s after SIGTERM");
        return (clock.Elapsed, process.ExitCode);
    }

    /// <summary>
    /// Runs a command-line verb of the same executable with the same environment (for example
    /// <c>dead-letters replay --target x --all</c>) and returns its exit code and output.
    /// </summary>
    public async Task<(int ExitCode, string Output)> RunVerbAsync(IReadOnlyList<string> arguments, TimeSpan timeout)
    {
        var output = new StringBuilder();
        var outputLock = new Lock();
        using var process = Launch(arguments, line =>
        {
            lock (outputLock)
            {
                output.AppendLine(line);
            }
        });
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            lock (outputLock)
            {
                return (-1, $"(killed after {timeout.TotalSeconds} s)\n{output}");
            }
        }

        // WaitForExit without a timeout also waits for the redirected streams to reach their end.
        await process.WaitForExitAsync();
        lock (outputLock)
        {
            return (process.ExitCode, output.ToString());
        }
    }

    /// <summary>
    /// Every <c>fail:</c> / <c>crit:</c> log entry, and every warning that something faulted (MassTransit logs a bus that
    /// failed to start as a warning), of every run so far, with the run's file name: the worker's own account of what went
    /// wrong, for the report.
    /// </summary>
    public IReadOnlyList<string> Failures()
    {
        var found = new List<string>();
        foreach (var path in Directory.GetFiles(_logDirectory, $"{_name}-run*.log").Order(StringComparer.Ordinal))
        {
            string[] lines;
            using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
            using (var reader = new StreamReader(stream))
            {
                lines = reader.ReadToEnd().Split('\n');
            }

            for (var i = 0; i < lines.Length; i++)
            {
                var level = lines[i].TrimStart('\uFEFF');
                if (!level.StartsWith("fail:", StringComparison.Ordinal) && !level.StartsWith("crit:", StringComparison.Ordinal) && !level.StartsWith("warn:", StringComparison.Ordinal))
                {
                    continue;
                }

                // The message follows the level line, after any scope lines ("=> SpanId:… => ConnectionId:…").
                var message = lines.Skip(i + 1).Take(3).Select(line => line.Trim()).Where(line => !line.StartsWith("=>", StringComparison.Ordinal)).Take(2).ToList();
                var text = string.Join(' ', message);
                if (!level.StartsWith("warn:", StringComparison.Ordinal) || text.Contains("faulted", StringComparison.OrdinalIgnoreCase))
                {
                    found.Add($"{Path.GetFileName(path)}: {level.Trim()} {text}");
                }
            }
        }

        return found;
    }

    /// <summary>Every line of every run's log so far (runs in order).</summary>
    public IReadOnlyList<string> LogLines()
    {
        var lines = new List<string>();
        foreach (var path in Directory.GetFiles(_logDirectory, $"{_name}-run*.log").Order(StringComparer.Ordinal))
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            lines.AddRange(reader.ReadToEnd().Split('\n'));
        }

        return lines;
    }

    /// <summary>The last lines of the current log, for failure messages.</summary>
    public string LogTail(int lines = 40)
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            var all = reader.ReadToEnd().Split('\n');
            return $"--- {LogPath} (last {lines} lines) ---\n" + string.Join('\n', all.TakeLast(lines));
        }
        catch (IOException exception)
        {
            return $"(log {LogPath} unreadable: {exception.Message})";
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        _process?.Dispose();
        CloseLog();
    }

    private Process Launch(IReadOnlyList<string> arguments, Action<string> onLine)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _logDirectory,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "SyncWorker.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var key in start.Environment.Keys.Where(key => InheritedPrefixesRemoved.Any(prefix => key.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))).ToList())
        {
            start.Environment.Remove(key);
        }

        foreach (var (key, value) in _environment)
        {
            start.Environment[key] = value;
        }

        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                onLine(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                onLine("[stderr] " + e.Data);
            }
        };
        if (!process.Start())
        {
            throw new InvalidOperationException("dotnet SyncWorker.dll did not start.");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>An empty POST answers 400 (no signature) once Kestrel listens; anything HTTP means up.</summary>
    private async Task WaitUntilAnsweringAsync()
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var until = DateTime.UtcNow + ReadyTimeout;
        while (DateTime.UtcNow < until)
        {
            if (_process!.HasExited)
            {
                throw new InvalidOperationException($"Worker {_name} exited with code {_process.ExitCode} during start.\n{LogTail()}");
            }

            try
            {
                using var content = new ByteArrayContent([]);
                using var response = await client.PostAsync(WebhookUrl, content);
                return;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Listening but not answering yet.
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"Worker {_name} did not answer HTTP on port {Port} within {ReadyTimeout.TotalSeconds} s.\n{LogTail()}");
    }

    private void NoteKill()
    {
        lock (_kills)
        {
            _kills.Add(DateTimeOffset.UtcNow);
        }
    }

    private void WriteLog(string line)
    {
        lock (_logLock)
        {
            _log?.WriteLine(line);
        }
    }

    private void CloseLog()
    {
        lock (_logLock)
        {
            _log?.Dispose();
            _log = null;
        }
    }
}
