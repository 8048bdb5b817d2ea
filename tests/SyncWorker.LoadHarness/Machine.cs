using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace SyncWorker.LoadHarness;

/// <summary>Describes the machine and the software versions, for the report.</summary>
internal static class Machine
{
    public static MachineInfo Describe()
    {
        var model = Run("lscpu", []).Split('\n').FirstOrDefault(l => l.StartsWith("Model name:", StringComparison.Ordinal))?["Model name:".Length..].Trim() ?? "unknown";
        var memKb = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        var os = File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?["PRETTY_NAME=".Length..].Trim('"') ?? "Linux";
        var kernel = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        var hypervisor = Run("lscpu", []).Split('\n').FirstOrDefault(l => l.StartsWith("Hypervisor vendor:", StringComparison.Ordinal))?["Hypervisor vendor:".Length..].Trim();
        return new MachineInfo(
            hypervisor is { Length: > 0 } ? $"{model} ({hypervisor} virtual machine)" : model,
            Environment.ProcessorCount,
            long.Parse(memKb, CultureInfo.InvariantCulture) / 1024.0 / 1024.0,
            os,
            kernel,
            $"{RuntimeInformation.FrameworkDescription}, SDK {Run("dotnet", ["--version"]).Trim()}",
            Run("dpkg-query", ["-W", "-f=${Version}", "rabbitmq-server"]).Trim(),
            Run("dpkg-query", ["-W", "-f=${Version}", "erlang-base"]).Trim());
    }

    public static string GitCommit()
    {
        var commit = Run("git", ["rev-parse", "--short=12", "HEAD"]).Trim();
        var dirty = Run("git", ["status", "--porcelain", "--untracked-files=no", "--", "src", "tests"]).Trim().Length > 0;
        return commit.Length == 0 ? "unknown" : dirty ? commit + " (with uncommitted changes)" : commit;
    }

    private static string Run(string file, IReadOnlyList<string> arguments)
    {
        try
        {
            var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }

            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode == 0 ? output : "";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "";
        }
    }
}
