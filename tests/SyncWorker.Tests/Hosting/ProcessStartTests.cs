using System.Diagnostics;

namespace SyncWorker.Tests.Hosting;

/// <summary>The real executable, as an operator starts it: exit codes and what it prints.</summary>
public sealed class ProcessStartTests
{
    [Test]
    public async Task Production_without_a_broker_exits_78_and_says_which_key_to_set()
    {
        var (exitCode, output) = await RunWorkerAsync(new() { ["ASPNETCORE_ENVIRONMENT"] = "Production", ["Stripe__WebhookSecrets__0"] = "whsec_process_test_secret_01" });

        Assert.That(exitCode, Is.EqualTo(78), output);
        Assert.That(output, Does.Contain("SyncWorker did not start").And.Contain("RabbitMq:Uri").And.Contain("Messaging:Transport=InMemory"));
        Assert.That(output, Does.Not.Contain("   at "), "no stack trace for a configuration error");
    }

    [Test]
    public async Task Secret_given_as_an_api_key_exits_78_without_echoing_it()
    {
        var (exitCode, output) = await RunWorkerAsync(new()
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["Stripe__WebhookSecrets__0"] = "sk_test_thisIsAnApiKeyNotASecret",
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
        });

        Assert.That(exitCode, Is.EqualTo(78), output);
        Assert.That(output, Does.Contain("Stripe:WebhookSecrets:0"));
        Assert.That(output, Does.Not.Contain("sk_test_thisIsAnApiKeyNotASecret"));
        Assert.That(output, Does.Not.Contain("   at "), "no stack trace for a configuration error");
    }

    [Test]
    public async Task Production_with_a_live_target_over_plain_http_exits_78_naming_the_key()
    {
        var (exitCode, output) = await RunWorkerAsync(new()
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
            ["Worker__Role"] = "Forwarder",
            ["RabbitMq__Uri"] = "amqp://guest:guest@127.0.0.1:1/", // never reached: validation stops the start first
            ["Fulfillment__Targets__0__Name"] = "warehouse",
            ["Fulfillment__Targets__0__Url"] = "http://fulfillment.example.com/webhooks/stripe-orders",
            ["Fulfillment__Targets__0__Mode"] = "live",
            ["Fulfillment__Targets__0__Format"] = "event",
            ["Fulfillment__Targets__0__Events__0"] = "checkout.session.completed",
            ["Fulfillment__Targets__0__SigningSecret"] = "whsec_" + Convert.ToBase64String(new byte[32]),
        });

        Assert.That(exitCode, Is.EqualTo(78), output);
        Assert.That(output, Does.Contain("Fulfillment:Targets:0:Url uses http://fulfillment.example.com").And.Contain("HTTPS"));
        Assert.That(output, Does.Not.Contain("   at "), "no stack trace for a configuration error");
    }

    private static async Task<(int ExitCode, string Output)> RunWorkerAsync(Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "SyncWorker.dll"));
        foreach (var name in start.Environment.Keys.Where(key => key.StartsWith("Stripe__", StringComparison.Ordinal) || key.StartsWith("RabbitMq__", StringComparison.Ordinal)
            || key.StartsWith("Fulfillment__", StringComparison.Ordinal) || key.StartsWith("Worker__", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout + await stderr);
    }
}
