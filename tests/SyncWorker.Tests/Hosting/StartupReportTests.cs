using Microsoft.Extensions.Logging;
using SyncWorker.Tests.Logging;

namespace SyncWorker.Tests.Hosting;

/// <summary>What the worker says about itself at start, as captured from its logs.</summary>
public sealed class StartupReportTests
{
    private const string Warning = "OrderTargetMissesDelayedPayments";

    [Test]
    public async Task An_order_target_without_async_payment_succeeded_is_warned_about_at_start_naming_its_key()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Messaging:Transport"] = "InMemory",
            ["Stripe:ApiKey"] = "sk_live_startup-report-tests-not-a-key",
        };
        AddTarget(settings, 0, "both", "order", "checkout.session.completed", "checkout.session.async_payment_succeeded");
        AddTarget(settings, 1, "completed-only", "order", "checkout.session.completed");
        AddTarget(settings, 2, "wildcard", "order", "checkout.session.*");
        AddTarget(settings, 3, "raw-events", "event", "checkout.session.completed");
        var logs = new CapturedLogs();

        await using (await WorkerHost.StartAsync(settings, logs.AddTo))
        {
        }

        var warnings = logs.Entries.Where(e => e.EventId.Name == Warning).ToList();
        Assert.That(warnings.Select(Target), Is.EqualTo(new[] { "completed-only" }), "only the order target that would miss delayed payments");
        var warning = warnings.Single();
        Assert.Multiple(() =>
        {
            Assert.That(warning.Level, Is.EqualTo(LogLevel.Warning));
            Assert.That(warning.Category, Is.EqualTo("SyncWorker.Hosting.StartupReport"));
            Assert.That(warning.Message, Does.Contain("checkout.session.async_payment_succeeded").And.Contain("ACH").And.Contain("SEPA").And.Contain("Bacs"));
            Assert.That(warning.Message, Does.Contain("Fulfillment:Targets:1:Events"), "names the key to fix");
        });
    }

    [Test]
    public async Task A_receiver_says_nothing_about_targets()
    {
        var settings = new Dictionary<string, string?> { ["Messaging:Transport"] = "InMemory", ["Worker:Role"] = "Receiver" };
        AddTarget(settings, 0, "completed-only", "order", "checkout.session.completed");
        var logs = new CapturedLogs();

        await using (await WorkerHost.StartAsync(settings, logs.AddTo))
        {
        }

        Assert.That(logs.Entries.Where(e => e.EventId.Name == Warning), Is.Empty, "a receiver forwards nothing");
    }

    private static string? Target(CapturedEntry entry) =>
        entry.State.Where(pair => pair.Key == "Target").Select(pair => pair.Value).FirstOrDefault();

    private static void AddTarget(Dictionary<string, string?> settings, int index, string name, string format, params string[] events)
    {
        var key = $"Fulfillment:Targets:{index}";
        settings[$"{key}:Name"] = name;
        settings[$"{key}:Url"] = $"http://localhost:9090/fulfillment/{name}";
        settings[$"{key}:Mode"] = "live";
        settings[$"{key}:Format"] = format;
        settings[$"{key}:SigningSecret"] = "whsec_" + Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
        for (var i = 0; i < events.Length; i++)
        {
            settings[$"{key}:Events:{i}"] = events[i];
        }
    }
}
