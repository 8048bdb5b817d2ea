using System.Text.Json;
using Microsoft.Extensions.Configuration;
using SyncWorker.Testing;

namespace SyncWorker.Operations.Tests;

/// <summary><c>store migrate</c> on SQLite and on a private PostgreSQL cluster.</summary>
public sealed class StoreCommandTests
{
    private PostgresServer _postgres = null!;
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "syncworker-store-cli", Guid.NewGuid().ToString("N")[..8]);

    [OneTimeSetUp]
    public async Task StartAsync() => _postgres = await PostgresServer.LaunchAsync();

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _postgres.DisposeAsync();
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    private static IConfiguration Settings(Dictionary<string, string?> values) => new ConfigurationBuilder().AddInMemoryCollection(values).Build();

    [Test]
    public async Task Migrate_creates_the_sqlite_store_then_has_nothing_to_do()
    {
        var folder = Path.Combine(_folder, "sqlite");
        var configuration = Settings(new() { ["Store:DataDirectory"] = folder });

        var first = await CliHarness.RunAsync(configuration, "store", "migrate");
        Assert.That(first.ExitCode, Is.Zero, first.ToString());
        Assert.That(first.Output, Does.Contain($"Migrated SQLite {folder}/syncworker.db from schema version 0 to {Store.StoreMigrator.LatestVersion}."));
        Assert.That(File.Exists(Path.Combine(folder, "syncworker.db")), Is.True);

        var second = await CliHarness.RunAsync(configuration, "store", "migrate");
        Assert.That(second.ExitCode, Is.Zero, second.ToString());
        Assert.That(second.Output, Does.Contain("nothing to do"));
    }

    [Test]
    public async Task Migrate_a_postgresql_store_with_json_output()
    {
        var configuration = Settings(new() { ["Store:Provider"] = "Postgres", ["Store:ConnectionString"] = await _postgres.CreateDatabaseAsync("cli") });

        var run = await CliHarness.RunAsync(configuration, "store", "migrate", "--json");
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        using var document = JsonDocument.Parse(run.Output);
        var root = document.RootElement;
        Assert.That(root.GetProperty("store").GetString(), Does.StartWith($"PostgreSQL 127.0.0.1:{_postgres.Port}/cli_"));
        Assert.That(root.GetProperty("from").GetInt64(), Is.Zero);
        Assert.That(root.GetProperty("to").GetInt64(), Is.EqualTo(Store.StoreMigrator.LatestVersion));
        Assert.That(root.GetProperty("applied").GetBoolean(), Is.True);
        Assert.That(run.Error, Does.Contain("Migrating PostgreSQL"), "the progress note goes to standard error with --json");
    }

    [Test]
    public async Task Invalid_store_settings_exit_78_naming_the_key()
    {
        var run = await CliHarness.RunAsync(Settings(new() { ["Store:Provider"] = "Postgres" }), "store", "migrate");
        Assert.That(run.ExitCode, Is.EqualTo(78), run.ToString());
        Assert.That(run.Error, Does.Contain("Store:ConnectionString is required"));
    }

    [Test]
    public async Task An_unreachable_store_exits_1_saying_what_to_check_without_the_password()
    {
        var run = await CliHarness.RunAsync(
            Settings(new() { ["Store:Provider"] = "Postgres", ["Store:ConnectionString"] = "Host=127.0.0.1;Port=1;Database=sw;Username=sw;Password=pw-never-shown;Timeout=2" }),
            "store", "migrate");
        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error, Does.Contain("PostgreSQL 127.0.0.1:1/sw").And.Contain("Check Store:ConnectionString"));
        Assert.That(run.Output + run.Error, Does.Not.Contain("pw-never-shown"));
    }
}
