using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SyncWorker.Hosting;
using SyncWorker.Manifest;
using SyncWorker.Messaging;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace SyncWorker.Tests.Deploy;

/// <summary>
/// The worker settings one deploy file (or a pair of files) gives one process: environment variables by name, and the
/// repository file that ends up at <c>Manifest__Path</c> (null when the default, the manifest in the image, is used).
/// </summary>
internal sealed record DeployedWorker(string Where, IReadOnlyDictionary<string, string> Environment, string? ManifestFile);

/// <summary>
/// Reads the worker settings of <c>deploy/docker</c>, <c>deploy/kubernetes</c> and <c>deploy/systemd</c>, knows which
/// configuration keys the worker reads, and runs the worker's own start-up validation on a set of settings.
/// </summary>
internal static partial class DeploySettings
{
    public const string Placeholder = "REPLACE_ME";

    public const string ComposePath = "deploy/docker/compose.yaml";
    public const string ComposeEnvExamplePath = "deploy/docker/.env.example";
    public const string DockerfilePath = "deploy/docker/Dockerfile";
    public const string KubernetesFolder = "deploy/kubernetes";
    public const string SecretExamplePath = "deploy/kubernetes/secret.example.yaml";
    public const string SystemdUnitPath = "deploy/systemd/syncworker.service";
    public const string SystemdTemplatePath = "deploy/systemd/syncworker@.service";
    public const string SystemdEnvExamplePath = "deploy/systemd/syncworker.env.example";

    /// <summary>
    /// Configuration keys the lead is adding to <c>RabbitMqOptions</c> in src/SyncWorker.Messaging/MessagingOptions.cs
    /// (properties <c>QueueType</c> and <c>Hosts</c>; issue 6, "Scale out on RabbitMQ"), used by the deploy files
    /// before they reach main. Once the README's configuration table lists them, this list is redundant but harmless.
    /// </summary>
    public static readonly IReadOnlyList<string> KeysBeingAdded = ["RabbitMq:QueueType", "RabbitMq:Hosts"];

    /// <summary>
    /// Variables read by the .NET host and runtime rather than by SyncWorker's configuration (README "Configuration"
    /// names ASPNETCORE_ENVIRONMENT and ASPNETCORE_URLS; the official images set ASPNETCORE_HTTP_PORTS).
    /// </summary>
    public static readonly IReadOnlyList<string> HostVariables =
        ["ASPNETCORE_ENVIRONMENT", "ASPNETCORE_HTTP_PORTS", "ASPNETCORE_URLS", "DOTNET_NOLOGO", "DOTNET_CLI_TELEMETRY_OPTOUT"];

    /// <summary>
    /// Entry forms the README describes in the meaning column rather than as rows: a webhook secret given as an object.
    /// </summary>
    private static readonly string[] KeysInProse = ["Stripe:WebhookSecrets:N:Secret", "Stripe:WebhookSecrets:N:TestOnly", "Stripe:WebhookSecrets:N:Mode"];

    /// <summary>The keys of the README's configuration table (first column), with list indexes written <c>N</c>.</summary>
    public static IReadOnlyList<string> DocumentedKeys()
    {
        var keys = new List<string>();
        var inConfiguration = false;
        foreach (var line in File.ReadLines(WorkerHost.RepositoryFile("README.md")))
        {
            if (line.StartsWith("## ", StringComparison.Ordinal))
            {
                inConfiguration = line == "## Configuration";
                continue;
            }

            var row = inConfiguration ? TableKey().Match(line) : Match.Empty;
            if (row.Success)
            {
                keys.Add(row.Groups["key"].Value);
            }
        }

        return keys;
    }

    /// <summary>Every configuration key a deploy file may set: the README's table, the keys being added, the prose forms.</summary>
    public static IReadOnlyList<string> KnownKeys() => [.. DocumentedKeys(), .. KeysBeingAdded, .. KeysInProse];

    /// <summary>
    /// True when the environment variable <paramref name="name"/> sets a key the worker reads. Keys are compared
    /// case-insensitively, as .NET configuration does; <c>__0</c> list indexes match <c>N</c>, and a list key also
    /// takes entries (<c>Stripe__WebhookSecrets__0</c>). Header names under <c>Headers</c> are free.
    /// </summary>
    public static bool IsKnownVariable(string name, IReadOnlyList<string> knownKeys)
    {
        if (HostVariables.Contains(name, StringComparer.Ordinal))
        {
            return true;
        }

        var key = NumericSegment().Replace(ConfigurationKey(name), ":N");
        return knownKeys.Any(known =>
            string.Equals(key, known, StringComparison.OrdinalIgnoreCase)
            || string.Equals(key, known + ":N", StringComparison.OrdinalIgnoreCase)
            || (known.EndsWith(":Headers", StringComparison.Ordinal) && key.StartsWith(known + ":", StringComparison.OrdinalIgnoreCase)));
    }

    /// <summary><c>Section__Key__0</c> as the configuration key <c>Section:Key:0</c>.</summary>
    public static string ConfigurationKey(string variable) => variable.Replace("__", ":", StringComparison.Ordinal);

    // ---- the files ------------------------------------------------------------------------------------------------

    /// <summary>Every YAML document of a file, with merge keys (<c>&lt;&lt;: *anchor</c>) resolved.</summary>
    public static IReadOnlyList<YamlMappingNode> YamlDocuments(string relativePath)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(WorkerHost.RepositoryFile(relativePath));
        stream.Load(new MergingParser(new Parser(reader)));
        return stream.Documents.Select(d => (YamlMappingNode)d.RootNode).ToList();
    }

    public static YamlMappingNode Child(YamlNode node, params string[] path)
    {
        var current = node;
        foreach (var key in path)
        {
            current = current is YamlMappingNode map && map.Children.TryGetValue(new YamlScalarNode(key), out var next)
                ? next
                : throw new AssertionException($"'{string.Join('.', path)}' is missing (at '{key}')");
        }

        return (YamlMappingNode)current;
    }

    public static IReadOnlyDictionary<string, string> Scalars(YamlMappingNode map) =>
        map.Children.Where(pair => pair.Value is YamlScalarNode)
            .ToDictionary(pair => ((YamlScalarNode)pair.Key).Value!, pair => ((YamlScalarNode)pair.Value).Value ?? "", StringComparer.Ordinal);

    /// <summary>KEY=value lines of an env file (comments and blank lines skipped).</summary>
    public static IReadOnlyDictionary<string, string> EnvFile(string relativePath) =>
        File.ReadLines(WorkerHost.RepositoryFile(relativePath))
            .Select(line => line.Trim())
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .Select(line => line.Split('=', 2))
            .ToDictionary(parts => parts[0], parts => parts.Length > 1 ? parts[1] : "", StringComparer.Ordinal);

    /// <summary>The compose file's services.</summary>
    public static YamlMappingNode ComposeServices() => Child(YamlDocuments(ComposePath).Single(), "services");

    /// <summary>
    /// A compose service's environment, with <c>${VAR}</c>, <c>${VAR:?message}</c> and <c>${VAR:-default}</c> taken from
    /// <c>.env.example</c> (so the secrets come out as their placeholders).
    /// </summary>
    public static IReadOnlyDictionary<string, string> ComposeEnvironment(string service)
    {
        var variables = EnvFile(ComposeEnvExamplePath);
        return Scalars(Child(ComposeServices(), service, "environment"))
            .ToDictionary(pair => pair.Key, pair => Interpolation().Replace(pair.Value, match =>
                variables.TryGetValue(match.Groups["name"].Value, out var value)
                    ? value
                    : match.Groups["op"].Value == ":-" ? match.Groups["arg"].Value : throw new AssertionException(
                        $"{ComposePath}: {service} uses ${{{match.Groups["name"].Value}}}, which {ComposeEnvExamplePath} does not define")), StringComparer.Ordinal);
    }

    /// <summary>The host file a compose service mounts at <paramref name="containerPath"/> (relative to the repository), or null.</summary>
    public static string? ComposeMountedFile(string service, string containerPath)
    {
        var volumes = Child(ComposeServices(), service).Children.TryGetValue(new YamlScalarNode("volumes"), out var node)
            ? ((YamlSequenceNode)node).Cast<YamlScalarNode>().Select(v => v.Value!)
            : [];
        var mount = volumes.Select(v => v.Split(':')).FirstOrDefault(parts => parts.Length >= 2 && parts[1] == containerPath);
        return mount is null ? null : Path.GetRelativePath(WorkerHost.RepositoryFile(""), Path.GetFullPath(Path.Combine(WorkerHost.RepositoryFile("deploy/docker"), mount[0])));
    }

    /// <summary>The Kubernetes objects of every resource kustomization.yaml lists, plus the example Secret.</summary>
    public static IReadOnlyList<YamlMappingNode> KubernetesObjects(bool withSecret = true)
    {
        var resources = KustomizationResources().SelectMany(file => YamlDocuments($"{KubernetesFolder}/{file}"));
        return [.. resources, .. withSecret ? YamlDocuments(SecretExamplePath) : []];
    }

    public static IReadOnlyList<string> KustomizationResources() =>
        DeployFiles.Sequence(YamlDocuments($"{KubernetesFolder}/kustomization.yaml").Single(), "resources")
            .Cast<YamlScalarNode>().Select(n => n.Value!).ToList();

    public static YamlMappingNode KubernetesObject(string kind, string name) =>
        KubernetesObjects().Single(o => DeployFiles.Scalar(o, "kind") == kind && DeployFiles.Scalar(Child(o, "metadata"), "name") == name);

    public static YamlMappingNode PodSpec(YamlMappingNode deployment) => Child(deployment, "spec", "template", "spec");

    public static YamlMappingNode Container(YamlMappingNode deployment) =>
        (YamlMappingNode)DeployFiles.Sequence(PodSpec(deployment), "containers").Single();

    /// <summary>The environment one Deployment's container gets: its envFrom ConfigMap and Secret, then its own env.</summary>
    public static IReadOnlyDictionary<string, string> KubernetesEnvironment(YamlMappingNode deployment)
    {
        var container = Container(deployment);
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var source in DeployFiles.Sequence(container, "envFrom").Cast<YamlMappingNode>())
        {
            var (kind, reference, field) = source.Children.ContainsKey(new YamlScalarNode("configMapRef"))
                ? ("ConfigMap", "configMapRef", "data")
                : ("Secret", "secretRef", "stringData");
            var referenced = KubernetesObject(kind, DeployFiles.Scalar(Child(source, reference), "name")!);
            foreach (var (key, value) in Scalars(Child(referenced, field)))
            {
                environment[key] = value;
            }
        }

        foreach (var variable in DeployFiles.Sequence(container, "env").Cast<YamlMappingNode>())
        {
            environment[DeployFiles.Scalar(variable, "name")!] = DeployFiles.Scalar(variable, "value")!;
        }

        return environment;
    }

    /// <summary>
    /// The repository file a Deployment finds at <paramref name="path"/>: the ConfigMap volume mounted at its folder,
    /// generated by kustomization.yaml's configMapGenerator from a file of that name.
    /// </summary>
    public static string? KubernetesMountedFile(YamlMappingNode deployment, string path)
    {
        var folder = path[..path.LastIndexOf('/')];
        var mount = DeployFiles.Sequence(Container(deployment), "volumeMounts").Cast<YamlMappingNode>()
            .FirstOrDefault(m => DeployFiles.Scalar(m, "mountPath") == folder);
        if (mount is null)
        {
            return null;
        }

        var volume = DeployFiles.Sequence(PodSpec(deployment), "volumes").Cast<YamlMappingNode>()
            .Single(v => DeployFiles.Scalar(v, "name") == DeployFiles.Scalar(mount, "name"));
        var configMap = DeployFiles.Scalar(Child(volume, "configMap"), "name");
        var generator = DeployFiles.Sequence(YamlDocuments($"{KubernetesFolder}/kustomization.yaml").Single(), "configMapGenerator")
            .Cast<YamlMappingNode>().SingleOrDefault(g => DeployFiles.Scalar(g, "name") == configMap);
        var file = generator is null ? null : DeployFiles.Sequence(generator, "files").Cast<YamlScalarNode>()
            .Select(f => f.Value!).SingleOrDefault(f => f == path[(path.LastIndexOf('/') + 1)..]);
        return file is null ? null : $"{KubernetesFolder}/{file}";
    }

    /// <summary>Environment= lines of the [Service] section of a unit, %i replaced by <paramref name="instance"/>.</summary>
    public static IReadOnlyDictionary<string, string> SystemdEnvironment(string unitPath, string? instance = null) =>
        SystemdDirectives(unitPath).Where(d => d.Key == "Environment")
            .Select(d => (instance is null ? d.Value : d.Value.Replace("%i", instance, StringComparison.Ordinal)).Split('=', 2))
            .ToDictionary(parts => parts[0], parts => parts[1], StringComparer.Ordinal);

    /// <summary>Every <c>Key=Value</c> directive of a unit file, in order, with its section.</summary>
    public static IReadOnlyList<(string Section, string Key, string Value)> SystemdDirectivesWithSections(string unitPath)
    {
        var directives = new List<(string, string, string)>();
        var section = "";
        foreach (var raw in File.ReadLines(WorkerHost.RepositoryFile(unitPath)))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#') || line.StartsWith(';'))
            {
                continue;
            }

            if (line.StartsWith('['))
            {
                section = line.Trim('[', ']');
                continue;
            }

            var parts = line.Split('=', 2);
            directives.Add((section, parts[0].Trim(), parts.Length > 1 ? parts[1].Trim() : ""));
        }

        return directives;
    }

    public static IReadOnlyList<KeyValuePair<string, string>> SystemdDirectives(string unitPath) =>
        SystemdDirectivesWithSections(unitPath).Select(d => KeyValuePair.Create(d.Key, d.Value)).ToList();

    /// <summary>Every process the deploy files configure, with the settings it gets.</summary>
    public static IReadOnlyList<DeployedWorker> Workers()
    {
        var workers = new List<DeployedWorker>();
        foreach (var service in new[] { "receiver", "forwarder" })
        {
            var environment = ComposeEnvironment(service);
            workers.Add(new DeployedWorker($"{ComposePath} {service}", environment,
                ComposeMountedFile(service, environment.GetValueOrDefault("Manifest__Path", "")) ?? throw new AssertionException(
                    $"{ComposePath}: {service} does not mount a file at Manifest__Path ({environment.GetValueOrDefault("Manifest__Path")})")));
        }

        foreach (var role in new[] { "receiver", "forwarder" })
        {
            var deployment = KubernetesObject("Deployment", $"syncworker-{role}");
            var environment = KubernetesEnvironment(deployment);
            workers.Add(new DeployedWorker($"{KubernetesFolder} syncworker-{role}", environment,
                KubernetesMountedFile(deployment, environment.GetValueOrDefault("Manifest__Path", "")) ?? throw new AssertionException(
                    $"{KubernetesFolder}: syncworker-{role} mounts no generated ConfigMap file at Manifest__Path ({environment.GetValueOrDefault("Manifest__Path")})")));
        }

        var envFile = EnvFile(SystemdEnvExamplePath);
        // systemd: EnvironmentFile= overrides Environment=, whatever the order.
        workers.Add(new DeployedWorker(SystemdUnitPath, Merge(SystemdEnvironment(SystemdUnitPath), envFile), null));
        foreach (var role in new[] { "receiver", "forwarder" })
        {
            workers.Add(new DeployedWorker($"{SystemdTemplatePath} ({role})", Merge(SystemdEnvironment(SystemdTemplatePath, role), envFile), null));
        }

        return workers;
    }

    private static Dictionary<string, string> Merge(IReadOnlyDictionary<string, string> first, IReadOnlyDictionary<string, string> then)
    {
        var merged = new Dictionary<string, string>(first, StringComparer.Ordinal);
        foreach (var (key, value) in then)
        {
            merged[key] = value;
        }

        return merged;
    }

    // ---- the worker's verdict ---------------------------------------------------------------------------------------

    /// <summary>
    /// Configuration for the worker from a deploy file's environment: <c>__</c> keys as <c>:</c> keys, the manifest as
    /// the repository file the deployment mounts, and (when <paramref name="fillPlaceholders"/>) every placeholder
    /// secret replaced by a well-formed test value, except those named in <paramref name="keep"/>.
    /// </summary>
    public static Dictionary<string, string?> Configuration(DeployedWorker worker, bool fillPlaceholders, params string[] keep)
    {
        var configuration = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (variable, value) in worker.Environment)
        {
            if (!HostVariables.Contains(variable, StringComparer.Ordinal))
            {
                configuration[ConfigurationKey(variable)] = value;
            }
        }

        configuration["Manifest:Path"] = WorkerHost.RepositoryFile(worker.ManifestFile ?? "manifest/stripe-app.json");
        if (fillPlaceholders)
        {
            var liveOnly = configuration.Where(c => c.Key.EndsWith(":Mode", StringComparison.OrdinalIgnoreCase)).All(c => c.Value == "live");
            foreach (var key in configuration.Keys.ToList())
            {
                if (configuration[key]!.Contains(Placeholder, StringComparison.Ordinal) && !keep.Contains(key, StringComparer.OrdinalIgnoreCase))
                {
                    configuration[key] = WellFormedSecret(key, configuration[key]!, liveOnly);
                }
            }
        }

        return configuration;
    }

    /// <summary>
    /// The environment the deployment runs the worker in: its <c>ASPNETCORE_ENVIRONMENT</c>, else <c>Production</c>
    /// (a published build's default, and what the Dockerfile sets).
    /// </summary>
    public static string EnvironmentOf(DeployedWorker worker) =>
        worker.Environment.TryGetValue("ASPNETCORE_ENVIRONMENT", out var environment) && environment.Length > 0 ? environment : "Production";

    /// <summary>
    /// What stops the worker at start with this configuration in <paramref name="environmentName"/> (empty when it
    /// would start). Rules that hold only in Production (http targets) need the deployment's own environment.
    /// </summary>
    public static IReadOnlyList<string> StartupProblems(Dictionary<string, string?> configuration, string environmentName)
    {
        try
        {
            var app = SyncWorkerApp.Build([], builder =>
            {
                builder.Environment.EnvironmentName = environmentName;
                builder.Logging.ClearProviders();
                builder.Configuration.AddInMemoryCollection(configuration);
                builder.WebHost.UseUrls("http://127.0.0.1:0");
            });
            // Not disposed: the app never started, and disposing a built MassTransit bus that never started leaves
            // MassTransit's static log context holding a disposed logger factory for the next app built in this process.
            app.Services.GetService<IStartupValidator>()?.Validate();

            return [];
        }
        catch (OptionsValidationException failure)
        {
            return failure.Failures.ToList();
        }
        catch (Exception failure) when (failure is MessagingConfigurationException or ManifestException)
        {
            return [failure.Message];
        }
    }

    private static string WellFormedSecret(string key, string placeholderValue, bool live)
    {
        if (key.Equals("RabbitMq:Uri", StringComparison.OrdinalIgnoreCase) || key.Equals("Store:ConnectionString", StringComparison.OrdinalIgnoreCase))
        {
            return placeholderValue.Replace(Placeholder, "0123456789abcdef", StringComparison.Ordinal);
        }

        if (key.StartsWith("Stripe:WebhookSecrets:", StringComparison.OrdinalIgnoreCase))
        {
            return "whsec_deploy_tests_webhook_secret";
        }

        if (key.EndsWith(":SigningSecret", StringComparison.OrdinalIgnoreCase))
        {
            return "whsec_" + Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
        }

        if (key.Equals("Stripe:ApiKey", StringComparison.OrdinalIgnoreCase))
        {
            return (live ? "sk_live_" : "sk_test_") + "deploytests0000000000000000";
        }

        if (key.Equals("Admin:Token", StringComparison.OrdinalIgnoreCase))
        {
            return new string('t', 32);
        }

        if (key.Equals("Store:EncryptionKey", StringComparison.OrdinalIgnoreCase))
        {
            return Convert.ToBase64String(Enumerable.Range(50, 32).Select(i => (byte)i).ToArray());
        }

        throw new AssertionException($"{key} holds the placeholder, but the tests do not know what a real value of it looks like: teach {nameof(DeploySettings)}.{nameof(WellFormedSecret)}");
    }

    public static int Int(string text) => int.Parse(text, NumberStyles.Integer, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^\| `(?<key>[A-Za-z_][A-Za-z0-9_:]*)` \|")]
    private static partial Regex TableKey();

    [GeneratedRegex(@":[0-9]+(?=:|$)")]
    private static partial Regex NumericSegment();

    [GeneratedRegex(@"\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?<op>:\?|:-|\?|-)(?<arg>[^}]*))?\}")]
    private static partial Regex Interpolation();
}
