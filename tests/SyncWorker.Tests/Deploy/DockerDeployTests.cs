using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace SyncWorker.Tests.Deploy;

/// <summary>One instruction of a Dockerfile, continuation lines joined.</summary>
internal sealed record DockerInstruction(string Instruction, string Arguments);

/// <summary>
/// <c>deploy/docker/Dockerfile</c> builds the worker with the SDK and runs it on the ASP.NET Core runtime as a non-root
/// user, with a HEALTHCHECK that the runtime image can actually run; <c>.dockerignore</c> keeps secrets and build output
/// out of the context.
/// </summary>
public sealed partial class DockerDeployTests
{
    /// <summary>The Dockerfile's instructions, split into stages at each FROM.</summary>
    internal static IReadOnlyList<IReadOnlyList<DockerInstruction>> Stages()
    {
        var stages = new List<List<DockerInstruction>>();
        var logical = "";
        foreach (var raw in File.ReadLines(WorkerHost.RepositoryFile(DeploySettings.DockerfilePath)))
        {
            var line = raw.Trim();
            if (logical.Length == 0 && (line.Length == 0 || line.StartsWith('#')))
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                logical += line[..^1] + " ";
                continue;
            }

            logical += line;
            var parts = logical.Split(' ', 2);
            var instruction = new DockerInstruction(parts[0].ToUpperInvariant(), parts.Length > 1 ? parts[1].Trim() : "");
            if (instruction.Instruction == "FROM")
            {
                stages.Add([]);
            }

            stages[^1].Add(instruction);
            logical = "";
        }

        return stages;
    }

    internal static IReadOnlyList<DockerInstruction> FinalStage() => Stages()[^1];

    internal static IReadOnlyList<DockerInstruction> Instructions(IReadOnlyList<DockerInstruction> stage) => stage;

    /// <summary>The value an ENV instruction of the stage gives <paramref name="name"/> (both ENV forms).</summary>
    internal static string EnvValue(IReadOnlyList<DockerInstruction> stage, string name)
    {
        foreach (var env in stage.Where(i => i.Instruction == "ENV"))
        {
            var match = EnvAssignment().Matches(env.Arguments).FirstOrDefault(m => m.Groups["name"].Value == name);
            if (match is not null)
            {
                return match.Groups["value"].Value;
            }
        }

        throw new AssertionException($"the Dockerfile's final stage sets no ENV {name}");
    }

    /// <summary>The URL the HEALTHCHECK command requests.</summary>
    internal static string HealthcheckUrl()
    {
        var healthcheck = FinalStage().Single(i => i.Instruction == "HEALTHCHECK").Arguments;
        return Url().Match(healthcheck) is { Success: true } url ? url.Value : throw new AssertionException("HEALTHCHECK requests no http:// URL");
    }

    [Test]
    public void Builds_with_the_SDK_and_runs_on_the_ASP_NET_Core_runtime()
    {
        var stages = Stages();
        var from = stages.Select(s => s[0].Arguments).ToList();
        var runtime = FinalStage();

        Assert.Multiple(() =>
        {
            Assert.That(stages, Has.Count.GreaterThanOrEqualTo(2), "multi-stage");
            Assert.That(from[0], Does.StartWith("mcr.microsoft.com/dotnet/sdk:10.0"));
            Assert.That(from[^1], Does.StartWith("mcr.microsoft.com/dotnet/aspnet:10.0"));
            Assert.That(runtime.Where(i => i.Instruction == "COPY").Select(i => i.Arguments), Has.All.StartWith("--from=build"), "the runtime image gets only the published output");
            Assert.That(stages[0].Any(i => i.Instruction == "RUN" && i.Arguments.Contains("dotnet publish src/SyncWorker/SyncWorker.csproj", StringComparison.Ordinal)), Is.True);
        });
    }

    [Test]
    public void Runs_the_worker_as_a_non_root_user_and_as_PID_1()
    {
        var runtime = FinalStage();
        var user = runtime.Last(i => i.Instruction == "USER").Arguments;
        var entrypoint = runtime.Single(i => i.Instruction == "ENTRYPOINT").Arguments;

        Assert.Multiple(() =>
        {
            Assert.That(user, Is.Not.AnyOf("root", "0", "0:0"));
            Assert.That(user, Is.EqualTo("$APP_UID").Or.Match("^[1-9][0-9]*$"), "a numeric uid, so Kubernetes' runAsNonRoot can verify it");
            Assert.That(entrypoint, Does.StartWith("["), "exec form: the worker itself receives SIGTERM");
            Assert.That(entrypoint, Is.EqualTo($"[\"dotnet\", \"{AssemblyName()}.dll\"]"));
        });
    }

    [Test]
    public void The_healthcheck_command_is_installed_in_the_runtime_image()
    {
        var runtime = FinalStage();
        var healthcheck = runtime.Single(i => i.Instruction == "HEALTHCHECK").Arguments;
        var command = ExecCommand().Match(healthcheck);

        Assert.That(command.Success, Is.True, "HEALTHCHECK ... CMD [\"program\", ...] (exec form: no shell needed)");
        var program = command.Groups["program"].Value;
        Assert.That(runtime.Any(i => i.Instruction == "RUN" && i.Arguments.Contains("apt-get install", StringComparison.Ordinal) && i.Arguments.Split(' ').Contains(program)), Is.True,
            $"the runtime stage installs {program}: the ASP.NET Core images have no curl or wget");
    }

    [Test]
    public void Copies_every_source_project_before_restoring()
    {
        var build = Stages()[0];
        var restoreAt = build.ToList().FindIndex(i => i.Instruction == "RUN" && i.Arguments.Contains("dotnet restore", StringComparison.Ordinal));
        var copied = build.Take(restoreAt).Where(i => i.Instruction == "COPY").SelectMany(i => i.Arguments.Split(' ')[..^1]).ToHashSet(StringComparer.Ordinal);
        var projects = Directory.GetFiles(WorkerHost.RepositoryFile("src"), "*.csproj", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(WorkerHost.RepositoryFile(""), p).Replace('\\', '/'));

        Assert.Multiple(() =>
        {
            Assert.That(restoreAt, Is.GreaterThan(0));
            Assert.That(copied, Is.SupersetOf(projects), "a project missing here fails the restore");
            Assert.That(copied, Is.SupersetOf(new[] { "global.json", "Directory.Build.props", "Directory.Packages.props" }));
            foreach (var source in copied)
            {
                Assert.That(File.Exists(WorkerHost.RepositoryFile(source)) || Directory.Exists(WorkerHost.RepositoryFile(source)), Is.True, source);
            }
        });
    }

    [Test]
    public void Dockerignore_keeps_build_output_and_env_files_out_but_lets_the_sources_in()
    {
        var patterns = File.ReadLines(WorkerHost.RepositoryFile(".dockerignore")).Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        var copiedFolders = FinalStage().Concat(Stages()[0]).Where(i => i.Instruction == "COPY" && !i.Arguments.StartsWith("--from", StringComparison.Ordinal))
            .SelectMany(i => i.Arguments.Split(' ')[..^1]).Select(s => s.TrimEnd('/').Split('/')[0]).ToHashSet(StringComparer.Ordinal);

        Assert.Multiple(() =>
        {
            Assert.That(patterns, Is.SupersetOf(new[] { "**/bin/", "**/obj/", ".git/", "**/.env", "**/*.env" }));
            Assert.That(patterns.Select(p => p.TrimEnd('/')), Has.None.AnyOf(copiedFolders.Cast<object>().ToArray()), "nothing the Dockerfile copies is ignored");
        });
    }

    private static string AssemblyName()
    {
        var project = XDocument.Load(WorkerHost.RepositoryFile("src/SyncWorker/SyncWorker.csproj"));
        return project.Descendants("AssemblyName").FirstOrDefault()?.Value ?? "SyncWorker";
    }

    [GeneratedRegex(@"(?<name>[A-Za-z_][A-Za-z0-9_]*)=(?<value>[^\s]*)")]
    private static partial Regex EnvAssignment();

    [GeneratedRegex(@"http://[^""\s]+")]
    private static partial Regex Url();

    [GeneratedRegex(@"CMD \[""(?<program>[^""]+)""")]
    private static partial Regex ExecCommand();
}
