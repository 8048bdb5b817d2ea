using Microsoft.Extensions.Configuration;

namespace SyncWorker.Operations.Tests;

/// <summary><c>targets preview</c>: the request a configured target would get, not sent, secrets masked.</summary>
[TestFixture]
public sealed class TargetPreviewTests
{
    private const string Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    private const string ApiKey = "partner-api-key-0123456789-tail";

    [Test]
    public async Task Prints_the_method_the_rendered_URL_the_headers_with_secrets_masked_and_the_body()
    {
        var repo = RepoRoot();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Manifest:Path"] = Path.Combine(repo, "manifest", "stripe-app.json"),
            ["Fulfillment:Targets:0:Name"] = "partner",
            ["Fulfillment:Targets:0:Url"] = "https://fulfillment.example.com/webhooks/orders",
            ["Fulfillment:Targets:0:Mode"] = "live",
            ["Fulfillment:Targets:0:Events:0"] = "checkout.session.completed",
            ["Fulfillment:Targets:0:SigningSecret"] = Secret,
            ["Fulfillment:Targets:0:Headers:X-Api-Key"] = ApiKey,
            ["Fulfillment:Targets:0:Method"] = "PUT",
            ["Fulfillment:Targets:0:Path"] = "/{{ order.order_id }}",
            ["Fulfillment:Targets:0:Template"] = "{\"ref\": {{ order.order_id | json }}, \"name\": \"{{ order.customer.name }}\"}",
        }).Build();

        var run = await CliHarness.RunAsync(configuration, "targets", "preview", "partner");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        var lines = run.Output.Split('\n');
        Assert.Multiple(() =>
        {
            Assert.That(lines[0], Is.EqualTo("PUT https://fulfillment.example.com/webhooks/orders/cs_live_a1Qx7ExampleSessionIdForDocsOnly000000000000000000000000"));
            Assert.That(lines, Does.Contain("X-Api-Key: …tail"), "a header's value masked to its last four characters");
            Assert.That(lines, Has.Some.Match("^webhook-signature: ….{4}$"));
            Assert.That(lines, Has.Some.Match("^webhook-id: msg_[0-9a-f]{32}$"));
            Assert.That(lines, Has.Some.Match("^Idempotency-Key: msg_[0-9a-f]{32}$"));
            Assert.That(lines, Has.Some.Match("^webhook-timestamp: [0-9]+$"));
            Assert.That(lines, Does.Contain("Content-Type: application/json"));
            Assert.That(run.Output, Does.Contain("\n\n{\"ref\": \"cs_live_a1Qx7ExampleSessionIdForDocsOnly000000000000000000000000\", \"name\": \"Jenny Rosen\"}"));
            Assert.That(run.Output, Does.Not.Contain(ApiKey).And.Not.Contain(Secret));
            Assert.That(run.Error, Does.Contain("example order"));
        });
    }

    private static string RepoRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "SyncWorker.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("SyncWorker.sln not found above the test's folder.");
    }
}
