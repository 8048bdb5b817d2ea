using System.Diagnostics;

namespace SyncWorker.Tests.Hosting;

/// <summary>The real executable with a target's <c>Auth:*</c> wrong: exit 78, naming the key and the fix, never the secret.</summary>
public sealed class AuthProcessStartTests
{
    private const string ClientSecret = "process-client-secret-2b7d41";

    [Test]
    public async Task Production_with_an_http_token_url_for_a_live_target_exits_78_naming_Auth_TokenUrl()
    {
        var (exitCode, output) = await RunWorkerAsync(new()
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
            ["Worker__Role"] = "Forwarder",
            ["RabbitMq__Uri"] = "amqp://guest:guest@127.0.0.1:1/", // never reached: validation stops the start first
            ["Fulfillment__Targets__0__Name"] = "warehouse",
            ["Fulfillment__Targets__0__Url"] = "https://fulfillment.example.com/webhooks/stripe-orders",
            ["Fulfillment__Targets__0__Mode"] = "live",
            ["Fulfillment__Targets__0__Format"] = "event",
            ["Fulfillment__Targets__0__Events__0"] = "checkout.session.completed",
            ["Fulfillment__Targets__0__SigningSecret"] = "whsec_" + Convert.ToBase64String(new byte[32]),
            ["Fulfillment__Targets__0__Auth__Type"] = "OAuth2ClientCredentials",
            ["Fulfillment__Targets__0__Auth__TokenUrl"] = "http://fulfillment.example.com/webhooks/oauth2/token",
            ["Fulfillment__Targets__0__Auth__ClientId"] = "syncworker",
            ["Fulfillment__Targets__0__Auth__ClientSecret"] = ClientSecret,
            ["Fulfillment__Targets__0__Headers__Authorization"] = "Bearer " + ClientSecret,
        });

        Assert.That(exitCode, Is.EqualTo(78), output);
        Assert.That(output, Does.Contain("Fulfillment:Targets:0:Auth:TokenUrl uses http://fulfillment.example.com").And.Contain("HTTPS"));
        Assert.That(output, Does.Contain("Fulfillment:Targets:0:Headers:Authorization cannot be configured while Fulfillment:Targets:0:Auth:Type is OAuth2ClientCredentials"));
        Assert.That(output, Does.Not.Contain(ClientSecret), "never the secret");
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
            || key.StartsWith("Fulfillment__", StringComparison.Ordinal) || key.StartsWith("Worker__", StringComparison.Ordinal) || key.StartsWith("ASPNETCORE_", StringComparison.Ordinal) || key.StartsWith("DOTNET_ENVIRONMENT", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment["Stripe__WebhookSecrets__0"] = "whsec_process_test_secret_01";
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Assert.Fail($"still running after 60 s (killed):\n{await stdout + await stderr}");
        }

        return (process.ExitCode, await stdout + await stderr);
    }
}
