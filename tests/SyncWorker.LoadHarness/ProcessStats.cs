using System.Diagnostics;
using System.Globalization;

namespace SyncWorker.LoadHarness;

/// <summary>CPU and memory of processes and of the machine, read from /proc.</summary>
internal static class ProcStats
{
    /// <summary>Clock ticks per second of /proc/PID/stat (USER_HZ; 100 on every Linux this runs on).</summary>
    private const double TicksPerSecond = 100;

    /// <summary>utime + stime of a process, in seconds; null when it is gone.</summary>
    public static double? CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // After "pid (comm) ": state is field 0, utime field 11, stime field 12.
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// <summary>
    /// CPU seconds of a process tree one level deep, as a PostgreSQL server is: the parent's own and its waited-for
    /// children's (cutime, cstime), plus each live child's (its backends); null when the parent is gone.
    /// </summary>
    public static double? TreeCpuSeconds(int parentPid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{parentPid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var total = fields.Skip(11).Take(4).Sum(f => long.Parse(f, CultureInfo.InvariantCulture)) / TicksPerSecond;
            foreach (var directory in Directory.EnumerateDirectories("/proc"))
            {
                if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && ParentOf(pid) == parentPid)
                {
                    total += CpuSeconds(pid) ?? 0;
                }
            }

            return total;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    private static int? ParentOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // After "pid (comm) ": state is field 0, ppid field 1.
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// <summary>A value of /proc/PID/status in bytes (VmRSS, VmHWM); null when it is gone.</summary>
    public static long? StatusBytes(int pid, string key)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith(key + ":", StringComparison.Ordinal))
                {
                    var kb = line[(key.Length + 1)..].Trim().Split(' ')[0];
                    return long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }

        return null;
    }

    /// <summary>Busy and total CPU seconds of the whole machine since boot (all cores), from /proc/stat.</summary>
    public static (double Busy, double Total) MachineCpu()
    {
        var line = File.ReadLines("/proc/stat").First();
        var values = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8)
            .Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        var total = values.Sum();
        var idle = values[3] + values[4];
        return ((total - idle) / TicksPerSecond, total / TicksPerSecond);
    }

    /// <summary>
    /// The pid of the Erlang VM (beam.smp) running RabbitMQ node <paramref name="nodeName"/>: the node name is not on
    /// its command line, but in its environment (RABBITMQ_NODENAME), which the harness may read as the same user.
    /// </summary>
    public static int? FindBeam(string nodeName)
    {
        var shortName = nodeName.Split('@')[0];
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(directory, "comm")).Trim() != "beam.smp")
                {
                    continue;
                }

                var environment = File.ReadAllText(Path.Combine(directory, "environ"));
                if (environment.Contains("RABBITMQ_NODENAME=" + shortName, StringComparison.Ordinal))
                {
                    return pid;
                }
            }
            catch (IOException)
            {
                // Gone meanwhile.
            }
            catch (UnauthorizedAccessException)
            {
                // Not ours.
            }
        }

        return null;
    }
}

/// <summary>CPU seconds of the parties at one instant.</summary>
/// <param name="Database">The ledger's PostgreSQL server (postmaster and backends), when the phase has one.</param>
internal sealed record CpuSnapshot(double Subject, double Broker, double Harness, double MachineBusy, double MachineTotal, double? Database = null)
{
    public static CpuSnapshot Take(int? subjectPid, int? brokerPid, int? databasePid = null)
    {
        var (busy, total) = ProcStats.MachineCpu();
        return new CpuSnapshot(
            subjectPid is { } s ? ProcStats.CpuSeconds(s) ?? 0 : 0,
            brokerPid is { } b ? ProcStats.CpuSeconds(b) ?? 0 : 0,
            Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds,
            busy,
            total,
            databasePid is { } d ? ProcStats.TreeCpuSeconds(d) : null);
    }
}

/// <summary>Samples the subject's resident memory every 200 ms while a phase runs.</summary>
internal sealed class MemorySampler : IAsyncDisposable
{
    private readonly int _pid;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _maxRss;

    public MemorySampler(int pid)
    {
        _pid = pid;
        _loop = Task.Run(LoopAsync);
    }

    public long MaxRss => Interlocked.Read(ref _maxRss);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            if (ProcStats.StatusBytes(_pid, "VmRSS") is { } rss && rss > _maxRss)
            {
                Interlocked.Exchange(ref _maxRss, rss);
            }

            try
            {
                await Task.Delay(200, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
