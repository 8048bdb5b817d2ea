using System.Net;
using Microsoft.Extensions.Configuration;
using SyncWorker.Hosting;
using SyncWorker.Testing;

namespace SyncWorker.Tests.Deploy;

/// <summary>
/// The settings the compose file, the Kubernetes manifests and the systemd units give the worker: keys it reads, values
/// it accepts, secrets only as placeholders that it refuses, and the endpoints and timings the platforms rely on.
/// </summary>
public sealed class DeployConfigurationTests
{
    private static readonly IReadOnlyList<DeployedWorker> Workers = DeploySettings.Workers();

    private static IEnumerable<TestCaseData> EachWorker() =>
        Workers.Select(w => new TestCaseData(w.Where).SetArgDisplayNames(w.Where));

    private static DeployedWorker Worker(string where) => Workers.Single(w => w.Where == where);

    [Test]
    public void The_key_reference_is_read_from_the_README_and_rejects_unknown_names()
    {
        var known = DeploySettings.KnownKeys();

        Assert.Multiple(() =>
        {
            Assert.That(DeploySettings.DocumentedKeys(), Has.Count.GreaterThan(30).And.Contains("RabbitMq:Uri").And.Contains("Worker:Role").And.Contains("Worker:ShutdownTimeoutSeconds"));
            Assert.That(DeploySettings.IsKnownVariable("Fulfillment__Targets__3__Events__12", known), Is.True);
            Assert.That(DeploySettings.IsKnownVariable("RabbitMq__Hosts__1", known), Is.True, "a key being added, as a list");
            Assert.That(DeploySettings.IsKnownVariable("RabbitMq__Url", known), Is.False);
            Assert.That(DeploySettings.IsKnownVariable("Worker__Roles", known), Is.False);
            Assert.That(DeploySettings.IsKnownVariable("Fulfillment__Targets__0__Secret", known), Is.False);
            Assert.That(DeploySettings.IsKnownVariable("ASPNETCORE_HTTP_PORT", known), Is.False);
        });
    }

    [Test]
    public void The_deploy_files_configure_every_role_in_every_form() =>
        Assert.That(Workers.Select(w => w.Where), Is.EquivalentTo(new[]
        {
            $"{DeploySettings.ComposePath} receiver", $"{DeploySettings.ComposePath} forwarder",
            $"{DeploySettings.KubernetesFolder} syncworker-receiver", $"{DeploySettings.KubernetesFolder} syncworker-forwarder",
            DeploySettings.SystemdUnitPath, $"{DeploySettings.SystemdTemplatePath} (receiver)", $"{DeploySettings.SystemdTemplatePath} (forwarder)",
        }));

    [TestCaseSource(nameof(EachWorker))]
    public void Every_variable_is_a_key_the_worker_reads(string where)
    {
        var known = DeploySettings.KnownKeys();
        var unknown = Worker(where).Environment.Keys.Where(name => !DeploySettings.IsKnownVariable(name, known));

        Assert.That(unknown, Is.Empty, "not in README 'Configuration', not a key being added, not a .NET host variable");
    }

    [TestCaseSource(nameof(EachWorker))]
    public void The_role_and_the_queue_settings_are_values_the_worker_accepts(string where)
    {
        var environment = Worker(where).Environment;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(DeploySettings.Configuration(Worker(where), fillPlaceholders: false)).Build();
        var expectedRole = where.Contains("receiver", StringComparison.Ordinal) ? WorkerRole.Receiver
            : where.Contains("forwarder", StringComparison.Ordinal) ? WorkerRole.Forwarder : WorkerRole.All;

        Assert.Multiple(() =>
        {
            Assert.That(WorkerRoles.Resolve(configuration), Is.EqualTo(expectedRole));
            Assert.That(environment.GetValueOrDefault("RabbitMq__QueueType"), Is.AnyOf("classic", "quorum"));
            Assert.That(environment.GetValueOrDefault("RabbitMq__Hosts")?.Split(','), Is.Not.Null.And.Not.Empty.And.All.Match(@"^[a-z0-9.-]+:[0-9]{2,5}$"), "host:port entries");
            Assert.That(environment.GetValueOrDefault("RabbitMq__Uri"), Does.StartWith("amqp").And.EndWith("/syncworker"), "the vhost of deploy/rabbitmq");
        });
    }

    [TestCaseSource(nameof(EachWorker))]
    public void With_its_secrets_filled_in_the_worker_passes_its_start_up_validation(string where)
    {
        var worker = Worker(where);
        var problems = DeploySettings.StartupProblems(DeploySettings.Configuration(worker, fillPlaceholders: true), DeploySettings.EnvironmentOf(worker));

        Assert.That(DeploySettings.EnvironmentOf(worker), Is.EqualTo("Production"), "deployments run in Production, where its rules (https to live targets) apply");
        Assert.That(problems, Is.Empty, "the targets, the manifest they need (connect-src, permissions, https for live data) and every value are valid");
    }

    [TestCaseSource(nameof(EachWorker))]
    public void As_committed_the_worker_refuses_to_start(string where)
    {
        var problems = DeploySettings.StartupProblems(DeploySettings.Configuration(Worker(where), fillPlaceholders: false), DeploySettings.EnvironmentOf(Worker(where)));

        Assert.That(problems, Is.Not.Empty, "a deployment whose secrets were not replaced must not run");
    }

    /// <summary>systemd's all-roles unit reads every secret, so each placeholder alone must stop it, naming its key.</summary>
    [Test]
    public void Each_placeholder_alone_stops_the_worker_naming_its_key()
    {
        var worker = Worker(DeploySettings.SystemdUnitPath);
        var placeholders = DeploySettings.Configuration(worker, fillPlaceholders: false)
            .Where(c => c.Value == DeploySettings.Placeholder).Select(c => c.Key).ToList();

        Assert.That(placeholders, Is.SupersetOf(new[] { "Stripe:WebhookSecrets:0", "Stripe:ApiKey", "Fulfillment:Targets:0:SigningSecret", "Admin:Token" }));
        Assert.Multiple(() =>
        {
            foreach (var key in placeholders)
            {
                var problems = DeploySettings.StartupProblems(DeploySettings.Configuration(worker, fillPlaceholders: true, key), DeploySettings.EnvironmentOf(worker));
                Assert.That(problems, Has.Some.Contains(key), key);
                Assert.That(string.Join('\n', problems), Does.Not.Contain("whsec_deploy_tests").And.Not.Contain("sk_live_deploytests"), "no secret in the message");
            }
        });
    }

    [Test]
    public void Secrets_appear_only_as_placeholders_and_never_in_a_ConfigMap()
    {
        var problems = new List<string>();
        foreach (var worker in Workers)
        {
            foreach (var (variable, value) in worker.Environment)
            {
                var key = DeploySettings.ConfigurationKey(variable);
                var secret = IsSecretKey(key);
                if (secret && key.Equals("RabbitMq:Uri", StringComparison.OrdinalIgnoreCase))
                {
                    var password = new Uri(value).UserInfo.Split(':', 2).ElementAtOrDefault(1);
                    if (password != DeploySettings.Placeholder)
                    {
                        problems.Add($"{worker.Where}: {variable} has a password that is not {DeploySettings.Placeholder}");
                    }
                }
                else if (secret && value != DeploySettings.Placeholder)
                {
                    problems.Add($"{worker.Where}: {variable} is not {DeploySettings.Placeholder}");
                }
            }
        }

        var configMap = DeploySettings.Scalars(DeploySettings.Child(DeploySettings.KubernetesObject("ConfigMap", "syncworker"), "data"));
        problems.AddRange(configMap.Keys.Where(k => IsSecretKey(DeploySettings.ConfigurationKey(k))).Select(k => $"ConfigMap syncworker holds the secret {k}"));
        var secretObject = DeploySettings.YamlDocuments(DeploySettings.SecretExamplePath).Single();
        if (secretObject.Children.ContainsKey(new YamlDotNet.RepresentationModel.YamlScalarNode("data")))
        {
            problems.Add($"{DeploySettings.SecretExamplePath}: use stringData (readable placeholders), not base64 data");
        }

        problems.AddRange(DeploySettings.EnvFile(DeploySettings.ComposeEnvExamplePath)
            .Where(v => v.Key != "COMPOSE_PROJECT_NAME" && v.Value != DeploySettings.Placeholder)
            .Select(v => $"{DeploySettings.ComposeEnvExamplePath}: {v.Key} is not {DeploySettings.Placeholder}"));

        Assert.That(problems, Is.Empty);
    }

    [Test]
    public void Every_platform_waits_longer_than_the_workers_shutdown_budget()
    {
        var problems = new List<string>();
        foreach (var worker in Workers)
        {
            var budget = SyncWorkerApp.ShutdownTimeout(new ConfigurationBuilder().AddInMemoryCollection(DeploySettings.Configuration(worker, fillPlaceholders: false)).Build());
            var (waits, before) = Grace(worker.Where);
            if (waits < budget + before)
            {
                problems.Add($"{worker.Where}: the platform kills after {waits.TotalSeconds} s, the worker may take {budget.TotalSeconds} s after a {before.TotalSeconds} s pause");
            }
        }

        Assert.That(problems, Is.Empty);
    }

    [Test]
    public async Task Probe_and_scrape_paths_are_endpoints_the_worker_answers()
    {
        var deployments = new[] { "syncworker-receiver", "syncworker-forwarder" }.Select(n => DeploySettings.KubernetesObject("Deployment", n)).ToList();
        var probes = deployments.SelectMany(d => new[] { "startupProbe", "livenessProbe", "readinessProbe" }
            .Select(p => (Probe: p, Path: DeployFiles.Scalar(DeploySettings.Child(DeploySettings.Container(d), p, "httpGet"), "path")!))).ToList();
        var scrape = deployments.Select(d => DeploySettings.Scalars(DeploySettings.Child(d, "spec", "template", "metadata", "annotations"))["prometheus.io/path"]);
        var healthcheck = new Uri(DockerDeployTests.HealthcheckUrl());
        var paths = probes.Select(p => p.Path).Concat(scrape).Append(healthcheck.AbsolutePath).Distinct().ToList();

        // The real composition (in-memory transport): ready once its bus has started.
        await using var worker = await WorkerHost.StartAsync([]);
        await Eventually.TrueAsync(async () => await StatusAsync(worker, "/health/ready") == HttpStatusCode.OK, TimeSpan.FromSeconds(20));
        var statuses = new Dictionary<string, HttpStatusCode>();
        foreach (var path in paths.Append("/health/not-an-endpoint"))
        {
            statuses[path] = await StatusAsync(worker, path);
        }

        Assert.Multiple(() =>
        {
            foreach (var path in paths)
            {
                Assert.That(statuses[path], Is.EqualTo(HttpStatusCode.OK), path);
            }

            Assert.That(statuses["/health/not-an-endpoint"], Is.EqualTo(HttpStatusCode.NotFound), "the check can tell");
            Assert.That(probes.Where(p => p.Probe is "livenessProbe" or "startupProbe").Select(p => p.Path), Is.All.EqualTo("/health/live"), "restarts never follow the broker");
            Assert.That(probes.Where(p => p.Probe == "readinessProbe").Select(p => p.Path), Is.All.EqualTo("/health/ready"));
            Assert.That(healthcheck.AbsolutePath, Is.EqualTo("/health/live"), "the image's HEALTHCHECK");
        });
    }

    [Test]
    public void The_http_port_is_the_same_everywhere()
    {
        const int port = 8080;
        var ports = new List<(string Where, int Port)>();
        var dockerfile = DockerDeployTests.Instructions(DockerDeployTests.FinalStage());
        foreach (var worker in Workers)
        {
            // Compose containers keep the image's setting; the others set it (the systemd template's per-role file may
            // move a role elsewhere on a shared host, but nothing committed does).
            var setting = worker.Environment.GetValueOrDefault("ASPNETCORE_HTTP_PORTS")
                ?? (worker.Where.StartsWith(DeploySettings.ComposePath, StringComparison.Ordinal) ? DockerDeployTests.EnvValue(dockerfile, "ASPNETCORE_HTTP_PORTS") : "unset");
            ports.Add((worker.Where + " ASPNETCORE_HTTP_PORTS", int.TryParse(setting, out var value) ? value : -1));
        }

        ports.Add(("Dockerfile ENV ASPNETCORE_HTTP_PORTS", DeploySettings.Int(DockerDeployTests.EnvValue(dockerfile, "ASPNETCORE_HTTP_PORTS"))));
        ports.Add(("Dockerfile EXPOSE", DeploySettings.Int(dockerfile.Single(i => i.Instruction == "EXPOSE").Arguments.Split('/')[0])));
        ports.Add(("Dockerfile HEALTHCHECK", new Uri(DockerDeployTests.HealthcheckUrl()).Port));
        foreach (var service in new[] { "receiver", "forwarder" })
        {
            var published = DeploySettings.Child(DeploySettings.ComposeServices(), service).Children[new YamlDotNet.RepresentationModel.YamlScalarNode("ports")];
            // The admin listener's mapping is checked on its own (The_admin_port_is_its_own_everywhere).
            ports.AddRange(((YamlDotNet.RepresentationModel.YamlSequenceNode)published).Cast<YamlDotNet.RepresentationModel.YamlScalarNode>()
                .Select(p => ($"compose {service} ports", DeploySettings.Int(p.Value!.Split('/')[0].Split(':')[^1])))
                .Where(p => p.Item2 != AdminPort));
        }

        foreach (var name in new[] { "syncworker-receiver", "syncworker-forwarder" })
        {
            var deployment = DeploySettings.KubernetesObject("Deployment", name);
            var container = DeploySettings.Container(deployment);
            var named = DeployFiles.Sequence(container, "ports").Cast<YamlDotNet.RepresentationModel.YamlMappingNode>()
                .ToDictionary(p => DeployFiles.Scalar(p, "name")!, p => DeploySettings.Int(DeployFiles.Scalar(p, "containerPort")!));
            foreach (var probe in new[] { "startupProbe", "livenessProbe", "readinessProbe" })
            {
                var probePort = DeployFiles.Scalar(DeploySettings.Child(container, probe, "httpGet"), "port")!;
                ports.Add(($"{name} {probe}", named.TryGetValue(probePort, out var p) ? p : DeploySettings.Int(probePort)));
            }

            ports.Add(($"{name} containerPort", named["http"]));
            ports.Add(($"{name} prometheus.io/port", DeploySettings.Int(DeploySettings.Scalars(DeploySettings.Child(deployment, "spec", "template", "metadata", "annotations"))["prometheus.io/port"])));
        }

        var service0 = DeploySettings.KubernetesObject("Service", "syncworker-receiver");
        var targetPort = DeployFiles.Scalar((YamlDotNet.RepresentationModel.YamlMappingNode)DeployFiles.Sequence(DeploySettings.Child(service0, "spec"), "ports").Single(), "targetPort")!;
        var receiverPorts = DeployFiles.Sequence(DeploySettings.Container(DeploySettings.KubernetesObject("Deployment", "syncworker-receiver")), "ports")
            .Cast<YamlDotNet.RepresentationModel.YamlMappingNode>().ToDictionary(p => DeployFiles.Scalar(p, "name")!, p => DeploySettings.Int(DeployFiles.Scalar(p, "containerPort")!));
        ports.Add(("Service syncworker-receiver targetPort", receiverPorts.TryGetValue(targetPort, out var resolved) ? resolved : DeploySettings.Int(targetPort)));

        Assert.That(ports.Where(p => p.Port != port).Select(p => $"{p.Where}: {p.Port}"), Is.Empty);
    }

    private const int AdminPort = 8081;

    [Test]
    public void The_admin_port_is_its_own_everywhere()
    {
        // Containers: the admin listener on all interfaces of the container, port 8081, published on the host's loopback
        // only (compose) or in no Service (Kubernetes). systemd keeps the loopback default.
        foreach (var worker in Workers)
        {
            if (worker.Where.StartsWith(DeploySettings.ComposePath, StringComparison.Ordinal) || worker.Where.Contains("kubernetes", StringComparison.Ordinal))
            {
                Assert.That(worker.Environment.GetValueOrDefault("Admin__Urls") ?? worker.Environment.GetValueOrDefault("Admin:Urls"), Is.EqualTo($"http://0.0.0.0:{AdminPort}"), worker.Where);
            }
            else
            {
                Assert.That(worker.Environment.ContainsKey("Admin__Urls") || worker.Environment.ContainsKey("Admin:Urls"), Is.False, $"{worker.Where}: the loopback default");
            }
        }

        foreach (var service in new[] { "receiver", "forwarder" })
        {
            var published = ((YamlDotNet.RepresentationModel.YamlSequenceNode)DeploySettings.Child(DeploySettings.ComposeServices(), service)
                .Children[new YamlDotNet.RepresentationModel.YamlScalarNode("ports")]).Cast<YamlDotNet.RepresentationModel.YamlScalarNode>().Select(p => p.Value!).ToList();
            var admin = published.Where(p => p.EndsWith($":{AdminPort}", StringComparison.Ordinal)).ToList();
            Assert.That(admin, Has.Count.EqualTo(1), $"compose {service} publishes the admin port once");
            Assert.That(admin[0], Does.StartWith("127.0.0.1:"), $"compose {service}: on the host's loopback only");
        }

        foreach (var name in new[] { "syncworker-receiver", "syncworker-forwarder" })
        {
            var container = DeploySettings.Container(DeploySettings.KubernetesObject("Deployment", name));
            var named = DeployFiles.Sequence(container, "ports").Cast<YamlDotNet.RepresentationModel.YamlMappingNode>()
                .ToDictionary(p => DeployFiles.Scalar(p, "name")!, p => DeploySettings.Int(DeployFiles.Scalar(p, "containerPort")!));
            Assert.That(named.GetValueOrDefault("admin"), Is.EqualTo(AdminPort), name);
        }

        var service0 = DeploySettings.KubernetesObject("Service", "syncworker-receiver");
        var targets = DeployFiles.Sequence(DeploySettings.Child(service0, "spec"), "ports").Cast<YamlDotNet.RepresentationModel.YamlMappingNode>()
            .Select(p => DeployFiles.Scalar(p, "targetPort")).ToList();
        Assert.That(targets, Has.None.EqualTo("admin").And.None.EqualTo(AdminPort.ToString(System.Globalization.CultureInfo.InvariantCulture)), "the Service Stripe reaches has no admin port");
    }

    private static bool IsSecretKey(string key) =>
        key.Equals("RabbitMq:Uri", StringComparison.OrdinalIgnoreCase)
        || key.Equals("Stripe:ApiKey", StringComparison.OrdinalIgnoreCase)
        || key.Equals("Admin:Token", StringComparison.OrdinalIgnoreCase)
        || key.StartsWith("Stripe:WebhookSecrets", StringComparison.OrdinalIgnoreCase)
        || key.EndsWith(":SigningSecret", StringComparison.OrdinalIgnoreCase)
        || key.Contains(":Headers:", StringComparison.OrdinalIgnoreCase);

    /// <summary>How long the platform waits after asking the worker to stop, and how long it pauses before asking.</summary>
    private static (TimeSpan Waits, TimeSpan Before) Grace(string where)
    {
        if (where.StartsWith(DeploySettings.ComposePath, StringComparison.Ordinal))
        {
            var service = where.Split(' ')[^1];
            var text = DeployFiles.Scalar(DeploySettings.Child(DeploySettings.ComposeServices(), service), "stop_grace_period")!;
            Assert.That(text, Does.Match("^[0-9]+s$"), $"{where}: stop_grace_period in seconds");
            return (TimeSpan.FromSeconds(DeploySettings.Int(text.TrimEnd('s'))), TimeSpan.Zero);
        }

        if (where.StartsWith(DeploySettings.KubernetesFolder, StringComparison.Ordinal))
        {
            var deployment = DeploySettings.KubernetesObject("Deployment", where.Split(' ')[^1]);
            var grace = DeploySettings.Int(DeployFiles.Scalar(DeploySettings.PodSpec(deployment), "terminationGracePeriodSeconds")!);
            var container = DeploySettings.Container(deployment);
            var preStop = container.Children.ContainsKey(new YamlDotNet.RepresentationModel.YamlScalarNode("lifecycle"))
                ? DeployFiles.Sequence(DeploySettings.Child(container, "lifecycle", "preStop", "exec"), "command").Cast<YamlDotNet.RepresentationModel.YamlScalarNode>().Select(n => n.Value!).ToList()
                : [];
            var pause = preStop is ["sleep", var seconds] ? DeploySettings.Int(seconds) : 0;
            Assert.That(preStop.Count == 0 || pause > 0, Is.True, $"{where}: a preStop hook is a plain sleep");
            return (TimeSpan.FromSeconds(grace), TimeSpan.FromSeconds(pause));
        }

        var unit = where.Split(' ')[0];
        var stop = DeploySettings.SystemdDirectives(unit).Single(d => d.Key == "TimeoutStopSec").Value;
        return (TimeSpan.FromSeconds(DeploySettings.Int(stop)), TimeSpan.Zero);
    }

    private static async Task<HttpStatusCode> StatusAsync(WorkerHost worker, string path)
    {
        using var response = await worker.Client.GetAsync(new Uri(path, UriKind.Relative));
        return response.StatusCode;
    }
}
