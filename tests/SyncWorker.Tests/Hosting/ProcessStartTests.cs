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
    public async Task A_missing_rabbitmq_ca_file_exits_78_naming_the_key()
    {
        var (exitCode, output) = await RunWorkerAsync(new()
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["Stripe__WebhookSecrets__0"] = "whsec_process_test_secret_01",
            ["RabbitMq__Uri"] = "amqps://guest:guest@127.0.0.1:1/",
            ["RabbitMq__CaCertificatePath"] = "/nonexistent/syncworker-ca.pem",
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
        });

        Assert.That(exitCode, Is.EqualTo(78), output);
        Assert.That(output, Does.Contain("RabbitMq:CaCertificatePath is '/nonexistent/syncworker-ca.pem', but there is no such file"));
        Assert.That(output, Does.Not.Contain("guest:guest"));
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
        foreach (var name in start.Environment.Keys.Where(key => key.StartsWith("Stripe__", StringComparison.Ordinal) || key.StartsWith("RabbitMq__", StringComparison.Ordinal)).ToList())
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
