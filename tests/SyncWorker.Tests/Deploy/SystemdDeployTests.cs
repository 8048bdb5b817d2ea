using SyncWorker.Hosting;

namespace SyncWorker.Tests.Deploy;

/// <summary>
/// <c>deploy/systemd</c>: hardened units that run the published worker as its own user, restart it on failure but not
/// on a configuration error, and pass <c>systemd-analyze verify</c>.
/// </summary>
public sealed class SystemdDeployTests
{
    private static readonly string[] Units = [DeploySettings.SystemdUnitPath, DeploySettings.SystemdTemplatePath];

    [TestCaseSource(nameof(Units))]
    public void Runs_the_published_worker_as_its_own_user_and_does_not_restart_a_configuration_error(string unit)
    {
        var directives = DeploySettings.SystemdDirectivesWithSections(unit);
        string? Get(string key) => directives.Where(d => d.Section == "Service" && d.Key == key).Select(d => d.Value).LastOrDefault();

        Assert.Multiple(() =>
        {
            Assert.That(Get("User"), Is.EqualTo("syncworker"));
            Assert.That(Get("ExecStart"), Does.Match(@"^/usr/bin/dotnet (?<dir>/[^ ]+)/SyncWorker\.dll$"));
            Assert.That(Get("ExecStart"), Does.StartWith($"/usr/bin/dotnet {Get("WorkingDirectory")}/"), "relative settings paths resolve in the install folder");
            Assert.That(directives.Where(d => d.Key == "EnvironmentFile").Select(d => d.Value), Does.Contain("/etc/syncworker/syncworker.env"));
            Assert.That(Get("Restart"), Is.EqualTo("on-failure"));
            Assert.That(Get("RestartPreventExitStatus")?.Split(' '), Does.Contain(SyncWorkerApp.ConfigurationErrorExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            Assert.That(Get("KillSignal") ?? "SIGTERM", Is.EqualTo("SIGTERM"));
        });
    }

    [TestCaseSource(nameof(Units))]
    public void Is_hardened(string unit)
    {
        var service = DeploySettings.SystemdDirectivesWithSections(unit).Where(d => d.Section == "Service")
            .GroupBy(d => d.Key).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.Ordinal);

        Assert.Multiple(() =>
        {
            Assert.That(service.GetValueOrDefault("NoNewPrivileges"), Is.EqualTo("yes"));
            Assert.That(service.GetValueOrDefault("ProtectSystem"), Is.EqualTo("strict"));
            Assert.That(service.GetValueOrDefault("ProtectHome"), Is.EqualTo("yes"));
            Assert.That(service.GetValueOrDefault("PrivateTmp"), Is.EqualTo("yes"), "ASP.NET Core needs a writable /tmp");
            Assert.That(service.GetValueOrDefault("CapabilityBoundingSet"), Is.Empty);
            Assert.That(service.GetValueOrDefault("MemoryDenyWriteExecute", "no"), Is.EqualTo("no"), "the .NET JIT writes code and then runs it");
        });
    }

    [Test]
    public void The_template_takes_the_role_from_the_instance_name_and_the_env_file_leaves_it_alone()
    {
        Assert.Multiple(() =>
        {
            Assert.That(DeploySettings.SystemdEnvironment(DeploySettings.SystemdTemplatePath, "forwarder")["Worker__Role"], Is.EqualTo("forwarder"));
            // systemd lets EnvironmentFile= override Environment=: a role there would override the instance name.
            Assert.That(DeploySettings.EnvFile(DeploySettings.SystemdEnvExamplePath).Keys, Has.None.EqualTo("Worker__Role"));
        });
    }

    [TestCaseSource(nameof(Units))]
    public async Task systemd_analyze_verify_reports_nothing(string unit)
    {
        var analyze = DeployTools.OnPath("systemd-analyze");
        if (analyze is null)
        {
            Assert.Fail("systemd-analyze is not on PATH, so the unit cannot be verified. ./test.sh installs Debian's systemd package when it is missing; or: apt-get install systemd.");
            return;
        }

        // verify wants a unit name it can load: a template needs an instance.
        var folder = Directory.CreateTempSubdirectory("syncworker-systemd-");
        try
        {
            var name = Path.GetFileName(unit);
            File.Copy(WorkerHost.RepositoryFile(unit), Path.Combine(folder.FullName, name));
            var (exitCode, standardOutput, standardError) = await DeployTools.RunAsync(
                analyze, ["verify", "--man=no", "./" + name.Replace("@.", "@receiver.", StringComparison.Ordinal)], workingDirectory: folder.FullName);
            var output = standardOutput + standardError;
            // Problems in the file are reported as "path:line: message"; a missing dotnet binary on this machine is not one.
            var problems = output.Split('\n').Where(line => line.Contains(name + ":", StringComparison.Ordinal)).ToList();

            Assert.Multiple(() =>
            {
                Assert.That(exitCode, Is.Zero, output);
                Assert.That(problems, Is.Empty);
            });
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
