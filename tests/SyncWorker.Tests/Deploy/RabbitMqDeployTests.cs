using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Testing;

namespace SyncWorker.Tests.Deploy;

/// <summary>
/// <c>deploy/rabbitmq</c>: the definitions create the vhost the workers use, with the queue type they declare, and
/// policies that match SyncWorker's queue names (and never its dead-letter queues); no password or hash is committed;
/// the node configuration is a 3-node cluster whose consumer timeout outlasts a delivery round; and a real RabbitMQ
/// node boots with these files.
/// </summary>
public sealed class RabbitMqDeployTests
{
    internal const string ConfigPath = "deploy/rabbitmq/rabbitmq.conf";
    internal const string DefinitionsPath = "deploy/rabbitmq/definitions.json";
    internal const string PluginsPath = "deploy/rabbitmq/enabled_plugins";
    internal const string CreateUsersPath = "deploy/rabbitmq/create-users.sh";

    private const string Vhost = "syncworker";

    /// <summary>rabbitmq.conf as key/value pairs (sysctl format: <c>key = value</c>, <c>##</c> comments).</summary>
    internal static IReadOnlyDictionary<string, string> Config()
    {
        var config = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(WorkerHost.RepositoryFile(ConfigPath)).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')))
        {
            var parts = line.Split('=', 2);
            Assert.That(parts, Has.Length.EqualTo(2), $"{ConfigPath}: '{line}' is not key = value");
            Assert.That(config.TryAdd(parts[0].Trim(), parts[1].Trim()), Is.True, $"{ConfigPath}: {parts[0].Trim()} is set twice");
        }

        return config;
    }

    private static JsonObject Definitions() => JsonNode.Parse(File.ReadAllText(WorkerHost.RepositoryFile(DefinitionsPath)))!.AsObject();

    private static IEnumerable<JsonObject> Policies() => Definitions()["policies"]!.AsArray().Select(p => p!.AsObject());

    /// <summary>The policy RabbitMQ applies to a queue: the highest-priority one whose pattern matches.</summary>
    private static JsonObject? PolicyFor(string queue) =>
        Policies().Where(p => (string?)p["apply-to"] is "queues" or "all" && Regex.IsMatch(queue, (string)p["pattern"]!, RegexOptions.None, TimeSpan.FromSeconds(1)))
            .OrderByDescending(p => (int)p["priority"]!).FirstOrDefault();

    [Test]
    public void The_vhost_default_queue_type_is_the_queue_type_every_worker_declares()
    {
        var vhost = Definitions()["vhosts"]!.AsArray().Single(v => (string?)v!["name"] == Vhost)!;
        var declared = DeploySettings.Workers().Select(w => w.Environment.GetValueOrDefault("RabbitMq__QueueType", "classic")).Distinct().ToList();

        Assert.Multiple(() =>
        {
            Assert.That(declared, Has.Count.EqualTo(1), "one queue type for all deploy files");
            Assert.That((string?)vhost["default_queue_type"], Is.EqualTo(declared[0]));
            Assert.That((string?)vhost["metadata"]?["default_queue_type"], Is.EqualTo(declared[0]));
            Assert.That(DeploySettings.Workers().Select(w => new Uri(w.Environment["RabbitMq__Uri"]).AbsolutePath.Trim('/')), Is.All.EqualTo(Vhost));
        });
    }

    [Test]
    public void No_password_or_hash_is_committed()
    {
        var definitions = Definitions();
        var users = definitions["users"]?.AsArray() ?? [];
        var text = File.ReadAllText(WorkerHost.RepositoryFile(DefinitionsPath));

        Assert.Multiple(() =>
        {
            Assert.That(users.Select(u => (string?)u!["password_hash"]), Is.All.Null.Or.Empty, "users come from create-users.sh");
            Assert.That(text, Does.Not.Contain("\"password\""));
            Assert.That(File.ReadAllText(WorkerHost.RepositoryFile(CreateUsersPath)), Does.Contain("${SYNCWORKER_RABBITMQ_PASSWORD:?").And.Contain("${RABBITMQ_ADMIN_PASSWORD:?"),
                "passwords come from the environment, required");
        });
    }

    [Test]
    public void Policies_match_SyncWorkers_queues_and_never_its_dead_letter_queues()
    {
        const string target = "warehouse";
        Assert.Multiple(() =>
        {
            Assert.That((string?)PolicyFor(Topology.IntakeQueue)?["name"], Is.EqualTo("syncworker-intake"));
            Assert.That((string?)PolicyFor(Topology.TargetQueue(target))?["name"], Is.EqualTo("syncworker-targets"));
            Assert.That((string?)PolicyFor(Topology.TargetQueue("a-1"))?["name"], Is.EqualTo("syncworker-targets"));
            foreach (var delay in Topology.DefaultRedeliveryDelaysSeconds.Distinct())
            {
                foreach (var wait in Topology.RedeliveryWaits((long)delay, 0.2))
                {
                    Assert.That((string?)PolicyFor(Topology.DelayQueue(wait))?["name"], Is.EqualTo("syncworker-delays"), $"{wait} s");

                    // Delay queues of earlier versions still return their messages: they keep at-least-once dead-lettering.
                    Assert.That((string?)PolicyFor(Topology.TargetDelayQueue(target, wait))?["name"], Is.EqualTo("syncworker-delays"), $"per-target {wait} s");
                }

                Assert.That((string?)PolicyFor(Topology.LegacyDelayQueue(target, (long)delay))?["name"], Is.EqualTo("syncworker-delays"), $"legacy {delay} s");
            }

            Assert.That((string?)PolicyFor(Topology.DelayQueue(Topology.RetryAfterWait(600)))?["name"], Is.EqualTo("syncworker-delays"), "Retry-After wait");

            // A delivery limit on a dead-letter queue would drop dead letters that `dead-letters list` has looked at.
            Assert.That(PolicyFor(Topology.TargetErrorQueue(target)), Is.Null);
            Assert.That(PolicyFor(Topology.IntakeQueue + Topology.ErrorQueueSuffix), Is.Null);
            Assert.That(PolicyFor(Topology.PausedMarker(target)), Is.Null, "the pause marker keeps its own x-max-length 0");
            Assert.That(PolicyFor("syncworker.poison"), Is.Null);
        });
    }

    [Test]
    public void Policies_are_complete_and_what_they_dead_letter_to_exists()
    {
        var definitions = Definitions();
        var exchanges = definitions["exchanges"]!.AsArray().Select(e => (string)e!["name"]!).ToHashSet(StringComparer.Ordinal);
        var bound = definitions["bindings"]!.AsArray().Select(b => (string)b!["source"]!).ToHashSet(StringComparer.Ordinal);

        Assert.Multiple(() =>
        {
            foreach (var policy in Policies())
            {
                var name = (string?)policy["name"];
                var definition = policy["definition"]!.AsObject();
                Assert.That((string?)policy["vhost"], Is.EqualTo(Vhost), name);
                if ((string?)definition["dead-letter-strategy"] == "at-least-once")
                {
                    Assert.That((string?)definition["overflow"], Is.EqualTo("reject-publish"), $"{name}: at-least-once dead-lettering requires it");
                }

                if (definition["dead-letter-exchange"] is { } exchange)
                {
                    Assert.That(exchanges, Does.Contain((string)exchange!), $"{name}: its dead-letter exchange is defined");
                    Assert.That(bound, Does.Contain((string)exchange!), $"{name}: and bound to a queue");
                }

                if (definition["delivery-limit"] is { } limit)
                {
                    Assert.That(definition["dead-letter-exchange"], Is.Not.Null, $"{name}: a delivery limit without dead-lettering drops messages");
                    Assert.That((int)limit!, Is.GreaterThanOrEqualTo(10), $"{name}: rolling restarts hand deliveries back; leave room");
                }
            }
        });
    }

    [Test]
    public void The_node_config_forms_a_3_node_cluster_and_loads_the_definitions()
    {
        var config = Config();

        Assert.Multiple(() =>
        {
            Assert.That(config["cluster_formation.peer_discovery_backend"], Is.EqualTo("classic_config"));
            Assert.That(config.Keys.Count(k => k.StartsWith("cluster_formation.classic_config.nodes.", StringComparison.Ordinal)), Is.EqualTo(3));
            Assert.That(config["definitions.import_backend"], Is.EqualTo("local_filesystem"));
            Assert.That(config, Does.ContainKey("vm_memory_high_watermark.relative").And.ContainKey("disk_free_limit.absolute"));
            Assert.That(config["loopback_users.guest"], Is.EqualTo("true"));
            Assert.That(File.ReadAllText(WorkerHost.RepositoryFile(PluginsPath)).Trim(), Does.Match(@"^\[([a-z_]+)(,[a-z_]+)*\]\.$").And.Contain("rabbitmq_management"));
        });
    }

    [Test]
    public void The_consumer_timeout_outlasts_a_delivery_round_with_the_default_target_settings()
    {
        var defaults = new TargetOptions();
        var retry = defaults.Retry;
        var round = ((retry.MaxRetryAttempts + 1) * defaults.TimeoutSeconds) + (retry.MaxRetryAttempts * retry.MaxDelaySeconds) + retry.MaxRetryAfterSeconds;
        var timeout = TimeSpan.FromMilliseconds(DeploySettings.Int(Config()["consumer_timeout"]));

        Assert.That(timeout, Is.GreaterThan(TimeSpan.FromSeconds(round) * 2), $"a delivery round holds a message up to about {round} s");
    }

    [Test]
    public async Task A_RabbitMQ_node_boots_with_these_files_and_imports_the_definitions()
    {
        const string bin = "/usr/lib/rabbitmq/bin";
        Assert.That(File.Exists(Path.Combine(bin, "rabbitmq-server")), Is.True, "rabbitmq-server is installed (./test.sh installs it)");
        var data = Directory.CreateTempSubdirectory("syncworker-deploy-rabbitmq-");
        var node = $"deploy{Environment.ProcessId}x{Guid.NewGuid().ToString("N")[..6]}@localhost";
        var amqp = LoopbackPorts.Free();
        // The committed file, with this machine's free ports and the definitions' path in the repository.
        var config = File.ReadAllText(WorkerHost.RepositoryFile(ConfigPath))
            .Replace("listeners.tcp.default = 5672", $"listeners.tcp.default = {amqp}", StringComparison.Ordinal)
            .Replace("management.tcp.port = 15672", $"management.tcp.port = {LoopbackPorts.Free()}", StringComparison.Ordinal)
            .Replace("prometheus.tcp.port = 15692", $"prometheus.tcp.port = {LoopbackPorts.Free()}", StringComparison.Ordinal)
            .Replace("/etc/rabbitmq/definitions.json", WorkerHost.RepositoryFile(DefinitionsPath), StringComparison.Ordinal);
        await File.WriteAllTextAsync(Path.Combine(data.FullName, "rabbitmq.conf"), config);
        var environment = new Dictionary<string, string>
        {
            ["RABBITMQ_NODENAME"] = node,
            ["RABBITMQ_CONFIG_FILE"] = Path.Combine(data.FullName, "rabbitmq.conf"),
            ["RABBITMQ_ENABLED_PLUGINS_FILE"] = WorkerHost.RepositoryFile(PluginsPath),
            ["RABBITMQ_MNESIA_BASE"] = Path.Combine(data.FullName, "mnesia"),
            ["RABBITMQ_LOG_BASE"] = Path.Combine(data.FullName, "log"),
            ["RABBITMQ_DIST_PORT"] = LoopbackPorts.Free().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["HOME"] = data.FullName,
        };

        using var server = Process.Start(DeployTools.StartInfo(Path.Combine(bin, "rabbitmq-server"), [], environment))!;
        var log = new System.Text.StringBuilder();
        server.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        server.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        try
        {
            // await_startup fails at once while the node is not registered yet: ask again until it answers or 2 minutes pass.
            var deadline = DateTime.UtcNow.AddMinutes(2);
            var started = await CtlAsync(bin, environment, "await_startup", "--timeout", "30");
            while (started.ExitCode != 0 && DateTime.UtcNow < deadline && !server.HasExited)
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
                started = await CtlAsync(bin, environment, "await_startup", "--timeout", "30");
            }

            Assert.That(started.ExitCode, Is.Zero, () => $"the node did not start with {ConfigPath}:\n{started.Output}\n{log}");
            var vhosts = await CtlAsync(bin, environment, "list_vhosts", "--silent", "name", "default_queue_type");
            var policies = await CtlAsync(bin, environment, "list_policies", "--silent", "-p", Vhost);
            var queues = await CtlAsync(bin, environment, "list_queues", "--silent", "-p", Vhost, "name", "type");
            var users = await CtlAsync(bin, environment, "list_users", "--silent");

            Assert.Multiple(() =>
            {
                Assert.That(vhosts.Output, Does.Match($@"(?m)^{Vhost}\s+quorum\s*$"));
                foreach (var policy in Policies())
                {
                    Assert.That(policies.Output, Does.Contain((string)policy["name"]!), "imported");
                }

                Assert.That(queues.Output, Does.Match(@"(?m)^syncworker\.poison\s+quorum\s*$"));
                Assert.That(users.Output, Does.Not.Contain("guest"), "definitions at boot: no default guest user");
            });
        }
        finally
        {
            await CtlAsync(bin, environment, "stop");
            if (!server.WaitForExit(30_000))
            {
                server.Kill(entireProcessTree: true);
            }

            data.Delete(recursive: true);
        }
    }

    [Test]
    public async Task create_users_sh_is_valid_bash_and_grants_the_user_the_workers_use()
    {
        var script = File.ReadAllText(WorkerHost.RepositoryFile(CreateUsersPath));
        var bash = await DeployTools.RunAsync("bash", ["-n", WorkerHost.RepositoryFile(CreateUsersPath)]);
        var users = DeploySettings.Workers().Select(w => new Uri(w.Environment["RabbitMq__Uri"]).UserInfo.Split(':')[0]).Distinct().ToList();

        Assert.Multiple(() =>
        {
            Assert.That(bash.ExitCode, Is.Zero, "bash -n: " + bash.Error);
            Assert.That(users, Is.EqualTo(new[] { "syncworker" }));
            Assert.That(script, Does.Contain($"set_permissions -p {Vhost} {users[0]} \".*\" \".*\" \".*\""));
            Assert.That(script, Does.Contain($"user {users[0]} \"$SYNCWORKER_RABBITMQ_PASSWORD\""));
        });
    }

    private static async Task<(int ExitCode, string Output)> CtlAsync(string bin, Dictionary<string, string> environment, params string[] arguments)
    {
        var (exitCode, output, error) = await DeployTools.RunAsync(
            Path.Combine(bin, "rabbitmqctl"), ["-n", environment["RABBITMQ_NODENAME"], .. arguments], environment, timeout: TimeSpan.FromSeconds(150));
        return (exitCode, output + error);
    }
}
