using Microsoft.Extensions.Configuration;

namespace SyncWorker.Store.Tests;

public sealed class StoreSettingsTests
{
    private static StoreSettings Resolve(Dictionary<string, string?> values, string appDirectory = "/opt/syncworker") =>
        StoreSettings.Resolve(new ConfigurationBuilder().AddInMemoryCollection(values).Build(), appDirectory);

    private static string Refused(Dictionary<string, string?> values) =>
        Assert.Throws<StoreConfigurationException>(() => Resolve(values))!.Message;

    [Test]
    public void With_nothing_set_the_store_is_syncworker_db_in_a_data_folder_beside_the_app()
    {
        var settings = Resolve([]);
        Assert.That(settings.Provider, Is.EqualTo(StoreProvider.Sqlite));
        Assert.That(settings.SqliteFile, Is.EqualTo("/opt/syncworker/data/syncworker.db"));
        Assert.That(settings.Description, Is.EqualTo("SQLite /opt/syncworker/data/syncworker.db"));
        Assert.That(settings.Lease, Is.EqualTo(TimeSpan.FromSeconds(300)));
    }

    [Test]
    public void A_relative_data_directory_resolves_beside_the_app_and_an_absolute_one_as_it_is()
    {
        Assert.That(Resolve(new() { ["Store:DataDirectory"] = "state" }).SqliteFile, Is.EqualTo("/opt/syncworker/state/syncworker.db"));
        Assert.That(Resolve(new() { ["Store:DataDirectory"] = "/var/lib/syncworker" }).SqliteFile, Is.EqualTo("/var/lib/syncworker/syncworker.db"));
        Assert.That(Resolve(new() { ["Store:ConnectionString"] = "Data Source=/srv/ledger.db" }).SqliteFile, Is.EqualTo("/srv/ledger.db"));
    }

    [Test]
    public void Postgres_takes_its_connection_string_and_describes_it_without_the_password()
    {
        var settings = Resolve(new()
        {
            ["Store:Provider"] = "postgres",
            ["Store:ConnectionString"] = "Host=db.internal;Port=5433;Database=syncworker;Username=sw;Password=hunter2-secret",
        });
        Assert.That(settings.Provider, Is.EqualTo(StoreProvider.Postgres));
        Assert.That(settings.Description, Is.EqualTo("PostgreSQL db.internal:5433/syncworker"));
        Assert.That(settings.ConnectionString, Does.Contain("Application Name=syncworker"));
        Assert.That(settings.SqliteFile, Is.Null);
    }

    [TestCase("Host=db;Database=syncworker;Username=sw", 32, 2)]
    [TestCase("Host=db;Database=syncworker;Username=sw;Max Auto Prepare=0", 0, 5)]
    [TestCase("Host=db;Database=syncworker;Username=sw;MaxAutoPrepare=5", 5, 5)]
    [TestCase("Host=db;Database=syncworker;Username=sw;Auto Prepare Min Usages=3", 32, 3)]
    public void Postgres_prepares_the_ledgers_statements_unless_the_connection_string_says_otherwise(string connectionString, int maxAutoPrepare, int minUsages)
    {
        var settings = Resolve(new() { ["Store:Provider"] = "Postgres", ["Store:ConnectionString"] = connectionString });
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(settings.ConnectionString);
        Assert.That((builder.MaxAutoPrepare, builder.AutoPrepareMinUsages), Is.EqualTo((maxAutoPrepare, minUsages)));
    }

    [Test]
    public void An_unknown_provider_is_refused_naming_the_key_and_the_choices()
    {
        var message = Refused(new() { ["Store:Provider"] = "mysql" });
        Assert.That(message, Does.Contain("Store:Provider").And.Contain("Sqlite or Postgres").And.Contain("'mysql'"));
        Assert.That(Refused(new() { ["Store:Provider"] = "1" }), Does.Contain("Store:Provider"));
    }

    [Test]
    public void Postgres_without_a_connection_string_is_refused_with_an_example()
    {
        var message = Refused(new() { ["Store:Provider"] = "Postgres" });
        Assert.That(message, Does.Contain("Store:ConnectionString is required").And.Contain("Host=").And.Contain("Store__ConnectionString"));
    }

    [TestCase("Host=db;Username=sw;Password=hunter2-secret", "names no Database")]
    [TestCase("Database=sw;Username=sw;Password=hunter2-secret", "names no Host")]
    [TestCase("Host=db;Database=sw;Password=hunter2-secret;Bogus Key=1", "not a valid Npgsql connection string")]
    public void A_bad_postgres_connection_string_is_refused_without_showing_the_password(string connectionString, string expected)
    {
        var message = Refused(new() { ["Store:Provider"] = "Postgres", ["Store:ConnectionString"] = connectionString });
        Assert.That(message, Does.Contain("Store:ConnectionString").And.Contain(expected));
        Assert.That(message, Does.Not.Contain("hunter2"));
    }

    [TestCase("Data Source=:memory:")]
    [TestCase("Data Source=ledger;Mode=Memory")]
    public void An_in_memory_sqlite_database_is_refused(string connectionString)
    {
        Assert.That(Refused(new() { ["Store:ConnectionString"] = connectionString }), Does.Contain("in-memory"));
    }

    [Test]
    public void A_sqlite_connection_string_without_a_file_is_refused()
    {
        Assert.That(Refused(new() { ["Store:ConnectionString"] = "Cache=Shared" }), Does.Contain("names no file"));
    }

    [TestCase("29")]
    [TestCase("3601")]
    [TestCase("five minutes")]
    public void A_lease_out_of_range_is_refused_with_the_range_and_the_default(string value)
    {
        var message = Refused(new() { ["Store:LeaseSeconds"] = value });
        Assert.That(message, Does.Contain("Store:LeaseSeconds").And.Contain("between 30 and 3600").And.Contain("default is 300"));
    }

    [Test]
    public void Retention_keeps_attempts_30_days_and_ledger_keys_45_by_default()
    {
        var settings = Resolve([]);
        Assert.That(settings.Retention, Is.EqualTo(TimeSpan.FromDays(30)));
        Assert.That(settings.KeyRetention, Is.EqualTo(TimeSpan.FromDays(45)));
        var chosen = Resolve(new() { ["Store:RetentionDays"] = "7", ["Store:KeyRetentionDays"] = "90" });
        Assert.That((chosen.Retention, chosen.KeyRetention), Is.EqualTo((TimeSpan.FromDays(7), TimeSpan.FromDays(90))));
        Assert.That(settings.OrderRetention, Is.EqualTo(TimeSpan.FromDays(400)), "orders: as long as refunds and disputes can come");
    }

    [TestCase("Store:RetentionDays", "0", "between 1 and 3650")]
    [TestCase("Store:RetentionDays", "thirty", "between 1 and 3650")]
    [TestCase("Store:KeyRetentionDays", "30", "between 31 and 3650")]
    [TestCase("Store:KeyRetentionDays", "5000", "between 31 and 3650")]
    [TestCase("Store:OrderRetentionDays", "44", "between 45 and 3650")]
    public void A_retention_out_of_range_is_refused_naming_the_key_and_the_range(string key, string value, string range)
    {
        var message = Refused(new() { [key] = value });
        Assert.That(message, Does.StartWith(key).And.Contain(range).And.Contain($"'{value}'"));
    }

    [Test]
    public void Keys_kept_shorter_than_attempts_are_refused_with_the_fix()
    {
        var message = Refused(new() { ["Store:RetentionDays"] = "60", ["Store:KeyRetentionDays"] = "45" });
        Assert.That(message, Does.Contain("Store:KeyRetentionDays (45) must be at least Store:RetentionDays (60)").And.Contain("Raise Store:KeyRetentionDays to 60"));
    }
}
