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

    [Test]
    public async Task Problems_in_two_sections_exit_78_listing_both_without_a_stack_trace()
    {
        var (exitCode, output) = await RunWorkerAsync(new()
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
            ["Messaging__Transport"] = "InMemory",
            ["Stripe__WebhookSecrets__0"] = "sk_test_thisIsAnApiKeyNotASecret",
            ["Fulfillment__Targets__0__Name"] = "warehouse",
            ["Fulfillment__Targets__0__Url"] = "https://fulfillment.example.com/orders",
            ["Fulfillment__Targets__0__Mode"] = "live",
            ["Fulfillment__Targets__0__Format"] = "event",
            ["Fulfillment__Targets__0__Events__0"] = "checkout.session.completed",
            ["Fulfillment__Targets__0__SigningSecret"] = "not-a-standard-webhooks-secret",
        });

        Assert.That(exitCode, Is.EqualTo(78), output);
        Assert.That(output, Does.Contain("Stripe:WebhookSecrets:0").And.Contain("Fulfillment:Targets:0:SigningSecret"), "both sections' problems, in one report");
        Assert.That(output, Does.Not.Contain("   at "), "no stack trace for a configuration error");
        Assert.That(output, Does.Not.Contain("sk_test_thisIsAnApiKeyNotASecret").And.Not.Contain("not-a-standard-webhooks-secret"));
    }

    [TestCase("--help")]
    [TestCase("-h")]
    public async Task Help_prints_the_commands_and_exits_0_without_starting_the_server(string help)
    {
        // Development with a port of its own: were --help taken for host arguments, the server would start and keep running.
        var (exitCode, output) = await RunWorkerAsync(Development, [help], TimeSpan.FromSeconds(30));

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(output, Does.Contain("Usage:").And.Contain("serve").And.Contain("dead-letters").And.Contain("targets")
            .And.Contain("backfill").And.Contain("status"));
        Assert.That(output, Does.Not.Contain("Now listening"));
    }

    [TestCase("dead-leters", "dead-letters")]
    [TestCase("stats", "status")]
    public async Task A_mistyped_verb_exits_2_with_the_nearest_verb_without_starting_the_server(string word, string nearest)
    {
        var (exitCode, output) = await RunWorkerAsync(Development, [word, "list"], TimeSpan.FromSeconds(30));

        Assert.That(exitCode, Is.EqualTo(2), output);
        Assert.That(output, Does.Contain($"'{word}' is not a SyncWorker command").And.Contain($"Did you mean '{nearest}'?").And.Contain("Usage:"));
        Assert.That(output, Does.Not.Contain("Now listening"));
    }

    [TestCase]
    [TestCase("serve")]
    public async Task Environment_argument_reaches_the_worker(params string[] first)
    {
        // Development in the environment, --environment Production on the command line: the worker starts as Production
        // and so refuses to run without a broker.
        var (exitCode, output) = await RunWorkerAsync(
            new(Development) { ["Stripe__WebhookSecrets__0"] = "whsec_process_test_secret_01" },
            [.. first, "--environment", "Production"],
            TimeSpan.FromSeconds(60));

        Assert.That(exitCode, Is.EqualTo(78), output);
        Assert.That(output, Does.Contain("SyncWorker did not start").And.Contain("RabbitMq:Uri"));
    }

    [TestCase]
    [TestCase("serve")]
    public async Task Key_Value_arguments_reach_the_worker(params string[] first)
    {
        var (exitCode, output) = await RunWorkerAsync(
            Development, [.. first, "--urls", "http://127.0.0.1:0", "Stripe:WebhookSecrets:0=sk_test_givenOnTheCommandLine"], TimeSpan.FromSeconds(60));

        Assert.That(exitCode, Is.EqualTo(78), output);
        Assert.That(output, Does.Contain("Stripe:WebhookSecrets:0"));
        Assert.That(output, Does.Not.Contain("sk_test_givenOnTheCommandLine"));
    }

    private static readonly Dictionary<string, string> Development = new()
    {
        ["ASPNETCORE_ENVIRONMENT"] = "Development",
        ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
    };

    private static Task<(int ExitCode, string Output)> RunWorkerAsync(Dictionary<string, string> environment) =>
        RunWorkerAsync(environment, [], TimeSpan.FromSeconds(60));

    private static async Task<(int ExitCode, string Output)> RunWorkerAsync(Dictionary<string, string> environment, string[] arguments, TimeSpan timeout)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "SyncWorker.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var name in start.Environment.Keys.Where(key => key.StartsWith("Stripe__", StringComparison.Ordinal) || key.StartsWith("RabbitMq__", StringComparison.Ordinal)
            || key.StartsWith("Fulfillment__", StringComparison.Ordinal) || key.StartsWith("Worker__", StringComparison.Ordinal) || key.StartsWith("ASPNETCORE_", StringComparison.Ordinal) || key.StartsWith("DOTNET_ENVIRONMENT", StringComparison.Ordinal)).ToList())
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
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Assert.Fail($"still running after {timeout.TotalSeconds} s (killed):\n{await stdout + await stderr}");
        }

        return (process.ExitCode, await stdout + await stderr);
    }
}
