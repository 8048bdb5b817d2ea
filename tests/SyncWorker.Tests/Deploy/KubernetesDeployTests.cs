using System.Text.Json.Nodes;
using SyncWorker.Contracts;
using YamlDotNet.RepresentationModel;

namespace SyncWorker.Tests.Deploy;

/// <summary>
/// <c>deploy/kubernetes</c>: a namespace-agnostic kustomize base whose Deployments run locked down with a writable
/// <c>/tmp</c>, whose Service and PodDisruptionBudgets select the right pods, whose mounted manifest is the app's, and
/// whose KEDA triggers watch SyncWorker's queues with credentials from the Secret.
/// </summary>
public sealed class KubernetesDeployTests
{
    private static readonly string[] Roles = ["receiver", "forwarder"];

    private static YamlMappingNode Deployment(string role) => DeploySettings.KubernetesObject("Deployment", $"syncworker-{role}");

    private static IReadOnlyDictionary<string, string> PodLabels(string role) =>
        DeploySettings.Scalars(DeploySettings.Child(Deployment(role), "spec", "template", "metadata", "labels"));

    private static bool Selects(IReadOnlyDictionary<string, string> selector, IReadOnlyDictionary<string, string> labels) =>
        selector.Count > 0 && selector.All(s => labels.TryGetValue(s.Key, out var value) && value == s.Value);

    [Test]
    public void Every_object_is_complete_and_namespace_agnostic()
    {
        var objects = DeploySettings.KubernetesObjects();

        Assert.Multiple(() =>
        {
            Assert.That(objects.Select(o => DeployFiles.Scalar(o, "kind")), Is.SupersetOf(new[]
            {
                "ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget", "ScaledObject", "TriggerAuthentication",
            }));
            foreach (var o in objects)
            {
                var metadata = DeploySettings.Child(o, "metadata");
                Assert.That(DeployFiles.Scalar(o, "apiVersion"), Is.Not.Null.And.Not.Empty);
                Assert.That(DeployFiles.Scalar(metadata, "name"), Is.Not.Null.And.Not.Empty);
                Assert.That(DeployFiles.Scalar(metadata, "namespace"), Is.Null, $"{DeployFiles.Scalar(metadata, "name")}: no namespace");
            }
        });
    }

    [Test]
    public void The_kustomization_lists_every_manifest_but_the_example_secret()
    {
        var folder = WorkerHost.RepositoryFile(DeploySettings.KubernetesFolder);
        var yaml = Directory.GetFiles(folder, "*.yaml").Select(Path.GetFileName).Where(f => f is not ("kustomization.yaml" or "secret.example.yaml" or "secret.yaml"));

        Assert.That(DeploySettings.KustomizationResources(), Is.EquivalentTo(yaml));
    }

    [Test]
    public void The_mounted_manifest_is_the_apps_manifest()
    {
        foreach (var role in Roles)
        {
            var path = DeploySettings.KubernetesEnvironment(Deployment(role))["Manifest__Path"];
            var file = DeploySettings.KubernetesMountedFile(Deployment(role), path);

            Assert.That(file, Is.Not.Null, $"{role}: a generated ConfigMap file is mounted at {path}");
            Assert.That(JsonNode.DeepEquals(
                JsonNode.Parse(File.ReadAllText(WorkerHost.RepositoryFile(file!))),
                JsonNode.Parse(File.ReadAllText(WorkerHost.RepositoryFile("manifest/stripe-app.json")))), Is.True,
                $"{file} is manifest/stripe-app.json (copy it again after changing the manifest)");
        }
    }

    [TestCase("receiver")]
    [TestCase("forwarder")]
    public void Pods_run_as_non_root_with_a_read_only_root_and_a_writable_tmp(string role)
    {
        var pod = DeploySettings.PodSpec(Deployment(role));
        var container = DeploySettings.Container(Deployment(role));
        var security = DeploySettings.Scalars(DeploySettings.Child(container, "securityContext"));
        var podSecurity = DeploySettings.Scalars(DeploySettings.Child(pod, "securityContext"));
        var tmp = DeployFiles.Sequence(container, "volumeMounts").Cast<YamlMappingNode>().SingleOrDefault(m => DeployFiles.Scalar(m, "mountPath") == "/tmp");
        var volume = tmp is null ? null : DeployFiles.Sequence(pod, "volumes").Cast<YamlMappingNode>().Single(v => DeployFiles.Scalar(v, "name") == DeployFiles.Scalar(tmp, "name"));

        Assert.Multiple(() =>
        {
            Assert.That(podSecurity["runAsNonRoot"], Is.EqualTo("true"));
            Assert.That(podSecurity["runAsUser"], Is.EqualTo("1654"), "the .NET images' app user (Dockerfile USER $APP_UID)");
            Assert.That(security["readOnlyRootFilesystem"], Is.EqualTo("true"));
            Assert.That(security["allowPrivilegeEscalation"], Is.EqualTo("false"));
            Assert.That(DeployFiles.Sequence(DeploySettings.Child(container, "securityContext", "capabilities"), "drop").Cast<YamlScalarNode>().Select(n => n.Value), Is.EqualTo(new[] { "ALL" }));
            Assert.That(volume?.Children.ContainsKey(new YamlScalarNode("emptyDir")), Is.True, "/tmp is an emptyDir");
            Assert.That(DeployFiles.Scalar(pod, "automountServiceAccountToken"), Is.EqualTo("false"));
        });
    }

    [TestCase("receiver")]
    [TestCase("forwarder")]
    public void Resources_fit_a_worker_that_stays_under_300_MB(string role)
    {
        var resources = DeploySettings.Child(DeploySettings.Container(Deployment(role)), "resources");
        var requests = DeploySettings.Scalars(DeploySettings.Child(resources, "requests"));
        var limits = DeploySettings.Scalars(DeploySettings.Child(resources, "limits"));

        Assert.Multiple(() =>
        {
            Assert.That(Mebibytes(limits["memory"]), Is.GreaterThan(300), "above the worker's working set");
            Assert.That(Mebibytes(requests["memory"]), Is.LessThanOrEqualTo(Mebibytes(limits["memory"])));
            Assert.That(requests, Does.ContainKey("cpu"));
        });
    }

    [Test]
    public void The_Service_and_the_disruption_budgets_select_the_right_pods()
    {
        var service = DeploySettings.Scalars(DeploySettings.Child(DeploySettings.KubernetesObject("Service", "syncworker-receiver"), "spec", "selector"));

        Assert.Multiple(() =>
        {
            Assert.That(Selects(service, PodLabels("receiver")), Is.True, "the Service sends webhooks to receivers");
            Assert.That(Selects(service, PodLabels("forwarder")), Is.False, "and never to forwarders, which have no webhook endpoint");
            foreach (var role in Roles)
            {
                var deployment = Deployment(role);
                Assert.That(Selects(DeploySettings.Scalars(DeploySettings.Child(deployment, "spec", "selector", "matchLabels")), PodLabels(role)), Is.True, $"{role}: Deployment selector");
                var budget = DeploySettings.KubernetesObject("PodDisruptionBudget", $"syncworker-{role}");
                var selector = DeploySettings.Scalars(DeploySettings.Child(budget, "spec", "selector", "matchLabels"));
                Assert.That(Selects(selector, PodLabels(role)), Is.True, $"{role}: PodDisruptionBudget");
                Assert.That(Selects(selector, PodLabels(Roles.Single(r => r != role))), Is.False, $"{role}: PodDisruptionBudget covers one role only");
                Assert.That(DeployFiles.Scalar(DeploySettings.Child(budget, "spec"), "maxUnavailable") ?? DeployFiles.Scalar(DeploySettings.Child(budget, "spec"), "minAvailable"), Is.Not.Null);
            }
        });
    }

    [Test]
    public void KEDA_scales_forwarders_on_the_intake_and_every_target_queue()
    {
        var scaled = DeploySettings.KubernetesObject("ScaledObject", "syncworker-forwarder");
        var spec = DeploySettings.Child(scaled, "spec");
        var triggers = DeployFiles.Sequence(spec, "triggers").Cast<YamlMappingNode>().ToList();
        var configMap = DeploySettings.Scalars(DeploySettings.Child(DeploySettings.KubernetesObject("ConfigMap", "syncworker"), "data"));
        var targets = configMap.Where(c => c.Key.StartsWith("Fulfillment__Targets__", StringComparison.Ordinal) && c.Key.EndsWith("__Name", StringComparison.Ordinal)).Select(c => c.Value).ToList();
        var queues = triggers.Select(t => DeploySettings.Scalars(DeploySettings.Child(t, "metadata"))["queueName"]).ToList();
        var authentication = DeploySettings.KubernetesObject("TriggerAuthentication", "syncworker-rabbitmq");
        var secretRefs = DeployFiles.Sequence(DeploySettings.Child(authentication, "spec"), "secretTargetRef").Cast<YamlMappingNode>().Select(DeploySettings.Scalars).ToList();
        var secret = DeploySettings.YamlDocuments(DeploySettings.SecretExamplePath).Single();

        Assert.Multiple(() =>
        {
            Assert.That(DeployFiles.Scalar(DeploySettings.Child(spec, "scaleTargetRef"), "name"), Is.EqualTo("syncworker-forwarder"));
            Assert.That(targets, Is.Not.Empty);
            Assert.That(queues, Is.EquivalentTo(targets.Select(Topology.TargetQueue).Prepend(Topology.IntakeQueue)), "names from SyncWorker.Contracts.Topology, one per target");
            Assert.That(triggers.Select(t => DeployFiles.Scalar(t, "type")), Is.All.EqualTo("rabbitmq"));
            Assert.That(triggers.Select(t => DeployFiles.Scalar(DeploySettings.Child(t, "authenticationRef"), "name")), Is.All.EqualTo("syncworker-rabbitmq"));
            Assert.That(DeploySettings.Int(DeployFiles.Scalar(spec, "minReplicaCount")!), Is.GreaterThanOrEqualTo(2), "one forwarder can be drained while another consumes");
            Assert.That(secretRefs.Select(r => r["parameter"]), Is.EquivalentTo(new[] { "host" }));
            foreach (var reference in secretRefs)
            {
                Assert.That(reference["name"], Is.EqualTo(DeployFiles.Scalar(DeploySettings.Child(secret, "metadata"), "name")));
                Assert.That(DeploySettings.Scalars(DeploySettings.Child(secret, "stringData")), Does.ContainKey(reference["key"]));
            }
        });
    }

    [Test]
    public async Task kubectl_kustomize_builds_the_base()
    {
        var kubectl = DeployTools.OnPath("kubectl");
        if (kubectl is null)
        {
            Assert.Fail("kubectl is not on PATH, so the kustomization cannot be built. Install kubectl (https://kubernetes.io/docs/tasks/tools/) and run the tests again.");
            return;
        }

        var (exitCode, output, errors) = await DeployTools.RunAsync(kubectl, ["kustomize", WorkerHost.RepositoryFile(DeploySettings.KubernetesFolder)]);
        var built = new YamlStream();
        built.Load(new StringReader(output));
        var kinds = built.Documents.Select(d => DeployFiles.Scalar((YamlMappingNode)d.RootNode, "kind")).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.Zero, errors);
            Assert.That(kinds, Has.Exactly(2).EqualTo("ConfigMap"), "the settings and the generated manifest");
            Assert.That(kinds, Has.Exactly(2).EqualTo("Deployment"));
            Assert.That(kinds, Has.None.EqualTo("Secret"), "the Secret is created separately, never overwritten by apply -k");
        });
    }

    private static double Mebibytes(string quantity) =>
        quantity.EndsWith("Gi", StringComparison.Ordinal) ? DeploySettings.Int(quantity[..^2]) * 1024.0
        : quantity.EndsWith("Mi", StringComparison.Ordinal) ? DeploySettings.Int(quantity[..^2])
        : throw new AssertionException($"use Mi or Gi: {quantity}");
}
