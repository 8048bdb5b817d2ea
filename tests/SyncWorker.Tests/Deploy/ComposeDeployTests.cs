using System.Diagnostics;
using System.Text.Json.Nodes;
using YamlDotNet.RepresentationModel;

namespace SyncWorker.Tests.Deploy;

/// <summary>
/// <c>deploy/docker/compose.yaml</c>: a compose implementation accepts it; its RabbitMQ nodes are the cluster of
/// <c>deploy/rabbitmq/rabbitmq.conf</c> with that folder's files mounted where the config expects them; the workers
/// connect to those nodes; the demo manifest differs from the app's only by the example target.
/// </summary>
public sealed class ComposeDeployTests
{
    private static readonly string[] RabbitServices = ["rabbit-1", "rabbit-2", "rabbit-3"];

    [Test]
    public async Task A_compose_implementation_accepts_the_file_and_refuses_it_without_the_secrets()
    {
        var compose = ComposeCommand();
        if (compose is null)
        {
            Assert.Fail("No compose implementation here (neither `docker compose` nor `docker-compose`), so the file cannot be validated. ./test.sh installs Debian's docker-compose; or: apt-get install docker-compose.");
            return;
        }

        var variables = DeploySettings.EnvFile(DeploySettings.ComposeEnvExamplePath);
        var accepted = await RunAsync(compose.Value, ["config", "--quiet"], variables);
        var missing = await RunAsync(compose.Value, ["config", "--quiet"], variables.ToDictionary(v => v.Key, v => v.Key == "STRIPE_WEBHOOK_SECRET" ? "" : v.Value));

        Assert.Multiple(() =>
        {
            Assert.That(accepted.ExitCode, Is.Zero, accepted.Output);
            Assert.That(missing.ExitCode, Is.Not.Zero, "an empty secret is refused before anything starts");
            Assert.That(missing.Output, Does.Contain("STRIPE_WEBHOOK_SECRET"), "and the message names it");
        });
    }

    [Test]
    public void The_RabbitMQ_services_are_the_nodes_of_the_cluster_config_with_its_files_mounted()
    {
        var services = DeploySettings.ComposeServices();
        var config = RabbitMqDeployTests.Config();
        var nodes = config.Where(c => c.Key.StartsWith("cluster_formation.classic_config.nodes.", StringComparison.Ordinal)).Select(c => c.Value).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(nodes, Is.EquivalentTo(RabbitServices.Select(s => $"rabbit@{DeployFiles.Scalar(DeploySettings.Child(services, s), "hostname")}")));
            foreach (var service in RabbitServices)
            {
                Assert.That(DeploySettings.ComposeMountedFile(service, "/etc/rabbitmq/rabbitmq.conf"), Is.EqualTo(RabbitMqDeployTests.ConfigPath), service);
                Assert.That(DeploySettings.ComposeMountedFile(service, "/etc/rabbitmq/enabled_plugins"), Is.EqualTo(RabbitMqDeployTests.PluginsPath), service);
                Assert.That(DeploySettings.ComposeMountedFile(service, config["definitions.local.path"]), Is.EqualTo(RabbitMqDeployTests.DefinitionsPath), $"{service}: definitions.local.path");
                Assert.That(DeploySettings.Scalars(DeploySettings.Child(services, service, "environment")), Does.ContainKey("RABBITMQ_ERLANG_COOKIE"), $"{service}: one cookie for the cluster");
                Assert.That(DeploySettings.Child(services, service).Children.ContainsKey(new YamlScalarNode("healthcheck")), Is.True, $"{service}: workers wait for a healthy broker");
            }
        });
    }

    [Test]
    public void The_workers_connect_to_the_cluster_nodes_after_the_users_exist()
    {
        var services = DeploySettings.ComposeServices();
        var users = DeploySettings.Child(services, "rabbitmq-users");
        var script = DeploySettings.ComposeMountedFile("rabbitmq-users", "/usr/local/bin/create-users.sh");

        Assert.Multiple(() =>
        {
            Assert.That(script, Is.EqualTo(RabbitMqDeployTests.CreateUsersPath));
            Assert.That(DeploySettings.Scalars(DeploySettings.Child(users, "environment"))["RABBITMQ_NODE"], Is.AnyOf(RabbitServices.Select(s => (object)$"rabbit@{s}").ToArray()));
            foreach (var service in new[] { "receiver", "forwarder" })
            {
                var environment = DeploySettings.ComposeEnvironment(service);
                var uri = new Uri(environment["RabbitMq__Uri"]);
                var hosts = environment["RabbitMq__Hosts"].Split(',');
                Assert.That(hosts.Prepend($"{uri.Host}:{uri.Port}"), Is.EquivalentTo(RabbitServices.Select(s => $"{s}:5672")), $"{service}: every node, the first in the URI");
                Assert.That(uri.UserInfo.Split(':')[0], Is.EqualTo("syncworker"), $"{service}: the user create-users.sh creates");
                Assert.That(DeployFiles.Scalar(DeploySettings.Child(services, service, "depends_on", "rabbitmq-users"), "condition"), Is.EqualTo("service_completed_successfully"), service);
            }
        });
    }

    [Test]
    public void The_image_is_built_from_the_repository_root_with_the_Dockerfile()
    {
        foreach (var service in new[] { "receiver", "forwarder" })
        {
            var build = DeploySettings.Child(DeploySettings.ComposeServices(), service, "build");
            var context = Path.GetFullPath(Path.Combine(WorkerHost.RepositoryFile("deploy/docker"), DeployFiles.Scalar(build, "context")!));

            Assert.That(context.TrimEnd('/'), Is.EqualTo(WorkerHost.RepositoryFile("").TrimEnd('/')), service);
            Assert.That(DeployFiles.Scalar(build, "dockerfile"), Is.EqualTo(DeploySettings.DockerfilePath), service);
        }
    }

    [Test]
    public void The_demo_manifest_is_the_apps_manifest_plus_the_example_target()
    {
        var app = JsonNode.Parse(File.ReadAllText(WorkerHost.RepositoryFile("manifest/stripe-app.json")))!;
        var demoFile = DeploySettings.ComposeMountedFile("forwarder", DeploySettings.ComposeEnvironment("forwarder")["Manifest__Path"])!;
        var demo = JsonNode.Parse(File.ReadAllText(WorkerHost.RepositoryFile(demoFile)))!;
        var appSources = SourcesList(app);
        var demoSources = SourcesList(demo);
        var targetUrl = new Uri(DeploySettings.ComposeEnvironment("forwarder")["Fulfillment__Targets__0__Url"]);

        Sources(demo).Clear();
        Sources(app).Clear();
        Assert.Multiple(() =>
        {
            Assert.That(JsonNode.DeepEquals(app, demo), Is.True, $"{demoFile} differs from manifest/stripe-app.json only in connect-src");
            Assert.That(demoSources, Is.SupersetOf(appSources));
            Assert.That(demoSources.Except(appSources), Is.All.StartsWith($"http://{targetUrl.Host}:{targetUrl.Port}/"), "what is added is the example target");
            Assert.That(DeploySettings.ComposeServices().Children.ContainsKey(new YamlScalarNode(targetUrl.Host)), Is.True, "the target is a compose service");
        });
    }

    private static JsonArray Sources(JsonNode manifest) => manifest["ui_extension"]!["content_security_policy"]!["connect-src"]!.AsArray();

    private static List<string> SourcesList(JsonNode manifest) => Sources(manifest).Select(n => (string)n!).ToList();

    /// <summary><c>docker compose</c> when the plugin works, else <c>docker-compose</c>, else null.</summary>
    private static (string Program, string[] Prefix)? ComposeCommand()
    {
        if (OnPath("docker") && Run("docker", ["compose", "version"]) == 0)
        {
            return ("docker", ["compose"]);
        }

        return OnPath("docker-compose") ? ("docker-compose", []) : null;
    }

    private static bool OnPath(string program) => DeployTools.OnPath(program) is not null;

    private static int Run(string program, string[] arguments)
    {
        try
        {
            using var process = Process.Start(DeployTools.StartInfo(program, arguments))!;
            process.WaitForExit(30_000);
            return process.HasExited ? process.ExitCode : -1;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return -1;
        }
    }

    private static async Task<(int ExitCode, string Output)> RunAsync((string Program, string[] Prefix) compose, string[] arguments, IReadOnlyDictionary<string, string> environment)
    {
        var (exitCode, output, error) = await DeployTools.RunAsync(
            compose.Program, [.. compose.Prefix, "--file", WorkerHost.RepositoryFile(DeploySettings.ComposePath), .. arguments], environment);
        return (exitCode, output + error);
    }
}
