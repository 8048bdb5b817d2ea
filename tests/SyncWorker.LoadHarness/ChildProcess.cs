using System.Diagnostics;
using System.Globalization;
using SyncWorker.Testing;

namespace SyncWorker.LoadHarness;

/// <summary>The tutorial receiver as its own process (this executable in <c>tutorial-receiver</c> mode), like the worker.</summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;

    private ChildProcess(Process process, StreamWriter log, Uri baseAddress)
    {
        _process = process;
        _log = log;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public Uri WebhookUrl => new(BaseAddress, "webhooks/stripe");

    public int ProcessId => _process.Id;

    public static async Task<ChildProcess> StartTutorialAsync(string name, Uri amqp, string secret, string logDirectory)
    {
        var port = LoopbackPorts.Free();
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = logDirectory,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "SyncWorker.LoadHarness.dll"));
        start.ArgumentList.Add(TutorialReceiver.Mode);
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("ASPNETCORE_", StringComparison.Ordinal) || k.StartsWith("Logging__", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(key);
        }

        start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        // Same logging level as the worker in this harness.
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["TUTORIAL_RABBITMQ_URI"] = amqp.ToString();
        start.Environment["TUTORIAL_WEBHOOK_SECRET"] = secret;
        var log = new StreamWriter(Path.Combine(logDirectory, name + ".log")) { AutoFlush = true };
        var process = Process.Start(start) ?? throw new InvalidOperationException("The tutorial receiver did not start.");
        var gate = new Lock();
        void Write(string? line)
        {
            if (line is not null)
            {
                lock (gate)
                {
                    log.WriteLine(line);
                }
            }
        }

        process.OutputDataReceived += (_, e) => Write(e.Data);
        process.ErrorDataReceived += (_, e) => Write(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var child = new ChildProcess(process, log, new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/"));
        await child.WaitAnsweringAsync(TimeSpan.FromSeconds(60));
        return child;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        await _log.DisposeAsync();
    }

    private async Task WaitAnsweringAsync(TimeSpan timeout)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The tutorial receiver exited with code {_process.ExitCode}.");
            }

            try
            {
                using var response = await client.GetAsync(new Uri(BaseAddress, "ping"));
                return;
            }
            catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"The tutorial receiver did not answer within {timeout.TotalSeconds} s.");
    }
}
