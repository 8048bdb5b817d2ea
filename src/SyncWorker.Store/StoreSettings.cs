using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace SyncWorker.Store;

/// <summary>
/// The store's settings as resolved and validated at start (<see cref="Resolve"/>): the provider, a connection string
/// ready to open, and a description safe for logs (never a password).
/// </summary>
public sealed class StoreSettings
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Store";

    /// <summary>Default of <c>Store:LeaseSeconds</c>.</summary>
    public const int DefaultLeaseSeconds = 300;

    /// <summary>Default of <c>Store:RetentionDays</c>: how long attempts are kept.</summary>
    public const int DefaultRetentionDays = 30;

    /// <summary>
    /// Default of <c>Store:KeyRetentionDays</c>: how long a ledger row (the key that recognises a repeat) is kept after
    /// its last change. Backfill lists events up to 30 days old and Stripe retries a webhook for up to 3 days, so a key
    /// must outlive 30 days (the minimum is <see cref="MinimumKeyRetentionDays"/>); 45 leaves two weeks for dead letters
    /// replayed late and for clocks.
    /// </summary>
    public const int DefaultKeyRetentionDays = 45;

    /// <summary>
    /// Default of <c>Store:OrderRetentionDays</c>: how long an order (its payment intent) and its delivered
    /// <c>order.paid</c> rows are kept, so that a refund or dispute months after the payment still finds its order and
    /// sees that the payment reached the target: card refunds are possible for about 180 days and disputes can be opened
    /// up to 120 days after a payment (longer for some methods), so a little over a year.
    /// </summary>
    public const int DefaultOrderRetentionDays = 400;

    /// <summary>The least <c>Store:KeyRetentionDays</c>: one day more than backfill reaches back (30 days).</summary>
    public const int MinimumKeyRetentionDays = 31;

    /// <summary>The most either retention setting may be (ten years).</summary>
    public const int MaximumRetentionDays = 3650;

    /// <summary>The SQLite file's name in <c>Store:DataDirectory</c> when <c>Store:ConnectionString</c> is not set.</summary>
    public const string DefaultSqliteFile = "syncworker.db";

    private StoreSettings(StoreProvider provider, string connectionString, string description, TimeSpan lease, string? sqliteFile)
    {
        Provider = provider;
        ConnectionString = connectionString;
        Description = description;
        Lease = lease;
        SqliteFile = sqliteFile;
    }

    /// <summary>The provider.</summary>
    public StoreProvider Provider { get; }

    /// <summary>The connection string to open (contains the password, if any: never log it).</summary>
    public string ConnectionString { get; }

    /// <summary>Where the store is, for logs and status: the SQLite file, or PostgreSQL's host, port and database.</summary>
    public string Description { get; }

    /// <summary><c>Store:LeaseSeconds</c>.</summary>
    public TimeSpan Lease { get; }

    /// <summary><c>Store:RetentionDays</c>: delivery attempts older than this (by start) are purged.</summary>
    public TimeSpan Retention { get; private set; } = TimeSpan.FromDays(DefaultRetentionDays);

    /// <summary><c>Store:KeyRetentionDays</c>: ledger rows unchanged for longer than this are purged (never a leased one).</summary>
    public TimeSpan KeyRetention { get; private set; } = TimeSpan.FromDays(DefaultKeyRetentionDays);

    /// <summary>Default of <c>Installs:PurgeAfterDays</c>.</summary>
    public const int DefaultInstallPurgeAfterDays = 30;

    /// <summary>
    /// <c>Installs:PurgeAfterDays</c>: how long after an account uninstalled the app (in live mode, and installed in no
    /// mode) its data is deleted from the store in the background; null (0) for never (then only <c>accounts purge</c>).
    /// </summary>
    public TimeSpan? InstallPurgeAfter { get; private set; } = TimeSpan.FromDays(DefaultInstallPurgeAfterDays);

    /// <summary><c>Store:OrderRetentionDays</c>: orders and their delivered <c>order.paid</c> rows unchanged for longer than this are purged.</summary>
    public TimeSpan OrderRetention { get; private set; } = TimeSpan.FromDays(DefaultOrderRetentionDays);

    /// <summary>The SQLite database file (full path); null for PostgreSQL.</summary>
    public string? SqliteFile { get; }

    /// <summary>
    /// Reads the <c>Store</c> section: <c>Provider</c> (<c>Sqlite</c> default, or <c>Postgres</c>), <c>ConnectionString</c>
    /// (SQLite: <c>Data Source=&lt;file&gt;</c>, default <c>syncworker.db</c> in <c>DataDirectory</c>, itself default a
    /// <c>data</c> folder beside the app; PostgreSQL: an Npgsql connection string, required), <c>LeaseSeconds</c>
    /// (default 300, 30 to 3600: how long a forwarder's claim on a delivery lasts before another may take it over),
    /// <c>RetentionDays</c> (default 30, 1 to 3650: attempts) and <c>KeyRetentionDays</c> (default 45, 31 to 3650 and
    /// at least <c>RetentionDays</c>: ledger rows).
    /// Throws <see cref="StoreConfigurationException"/> naming the key and the fix.
    /// </summary>
    /// <param name="configuration">The app's configuration.</param>
    /// <param name="appDirectory">The folder relative paths resolve against (the app's folder).</param>
    public static StoreSettings Resolve(IConfiguration configuration, string appDirectory)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(appDirectory);
        var section = configuration.GetSection(Section);
        var providerText = section["Provider"];
        StoreProvider provider;
        if (string.IsNullOrWhiteSpace(providerText))
        {
            provider = StoreProvider.Sqlite;
        }
        else if (!Enum.TryParse(providerText.Trim(), ignoreCase: true, out provider) || !Enum.IsDefined(provider) || int.TryParse(providerText, out _))
        {
            throw new StoreConfigurationException($"Store:Provider must be Sqlite or Postgres (got '{providerText}'). Sqlite (the default) keeps a file for one instance; Postgres is for production and more than one instance.");
        }

        var leaseSeconds = WholeNumber(section, "LeaseSeconds", DefaultLeaseSeconds, 30, 3600, "seconds");
        var retentionDays = WholeNumber(section, "RetentionDays", DefaultRetentionDays, 1, MaximumRetentionDays, "days");
        var keyRetentionDays = WholeNumber(section, "KeyRetentionDays", DefaultKeyRetentionDays, MinimumKeyRetentionDays, MaximumRetentionDays, "days",
            " Keys must outlive the 30 days over which backfill and Stripe can still send an event again.");
        if (keyRetentionDays < retentionDays)
        {
            throw new StoreConfigurationException(
                $"Store:KeyRetentionDays ({keyRetentionDays}) must be at least Store:RetentionDays ({retentionDays}): a delivery's ledger row must outlive its attempts. " +
                $"Raise Store:KeyRetentionDays to {retentionDays} or more, or lower Store:RetentionDays.");
        }

        var orderRetentionDays = WholeNumber(section, "OrderRetentionDays", Math.Max(DefaultOrderRetentionDays, keyRetentionDays), keyRetentionDays, MaximumRetentionDays, "days",
            " An order must be remembered at least as long as its ledger rows (Store:KeyRetentionDays), and for as long as refunds and disputes of it can come (default 400).");

        var lease = TimeSpan.FromSeconds(leaseSeconds);
        var connectionString = section["ConnectionString"];
        var settings = provider == StoreProvider.Postgres
            ? ResolvePostgres(connectionString, lease)
            : ResolveSqlite(connectionString, section["DataDirectory"], appDirectory, lease);
        settings.Retention = TimeSpan.FromDays(retentionDays);
        settings.KeyRetention = TimeSpan.FromDays(keyRetentionDays);
        settings.OrderRetention = TimeSpan.FromDays(orderRetentionDays);
        var purgeAfter = configuration["Installs:PurgeAfterDays"];
        if (!string.IsNullOrWhiteSpace(purgeAfter))
        {
            if (!int.TryParse(purgeAfter, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var days) || days < 0 || days > MaximumRetentionDays)
            {
                throw new StoreConfigurationException(
                    $"Installs:PurgeAfterDays must be a whole number of days between 0 (never: only `accounts purge`) and {MaximumRetentionDays} (got '{purgeAfter}'); the default is {DefaultInstallPurgeAfterDays}.");
            }

            settings.InstallPurgeAfter = days == 0 ? null : TimeSpan.FromDays(days);
        }

        return settings;
    }

    /// <summary>The whole number at <c>Store:{key}</c>, or <paramref name="fallback"/> when unset; throws naming the key and the range.</summary>
    private static int WholeNumber(IConfigurationSection section, string key, int fallback, int minimum, int maximum, string unit, string why = "")
    {
        var text = section[key];
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        if (!int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var value) || value < minimum || value > maximum)
        {
            throw new StoreConfigurationException($"Store:{key} must be a whole number of {unit} between {minimum} and {maximum} (got '{text}'); the default is {fallback}.{why}");
        }

        return value;
    }

    private static StoreSettings ResolvePostgres(string? connectionString, TimeSpan lease)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new StoreConfigurationException("Store:ConnectionString is required with Store:Provider Postgres: set it to an Npgsql connection string, for example Host=db;Port=5432;Database=syncworker;Username=syncworker;Password=… (environment variable Store__ConnectionString).");
        }

        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception exception) when (exception is ArgumentException or FormatException or InvalidOperationException)
        {
            // The message of the parser can quote the string (and its password): name the problem, not the value.
            throw new StoreConfigurationException("Store:ConnectionString is not a valid Npgsql connection string (Key=Value pairs separated by ';', for example Host=db;Database=syncworker;Username=syncworker;Password=…).");
        }

        if (string.IsNullOrWhiteSpace(builder.Host))
        {
            throw new StoreConfigurationException("Store:ConnectionString names no Host: add Host=<server> (for example Host=db;Database=syncworker;Username=syncworker;Password=…).");
        }

        if (string.IsNullOrWhiteSpace(builder.Database))
        {
            throw new StoreConfigurationException("Store:ConnectionString names no Database: add Database=<name> (SyncWorker creates its tables in it, not the database itself).");
        }

        // SyncWorker's own name in pg_stat_activity, unless the operator chose one.
        if (string.IsNullOrWhiteSpace(builder.ApplicationName))
        {
            builder.ApplicationName = "syncworker";
        }

        // The ledger runs the same few statements for every delivery: Npgsql prepares them once per physical connection
        // (kept across pooled reuse), so PostgreSQL does not parse and plan each one again. An operator's own
        // Max Auto Prepare (0 turns it off) and Auto Prepare Min Usages win.
        if (!Sets(connectionString, "MaxAutoPrepare"))
        {
            builder.MaxAutoPrepare = DefaultMaxAutoPrepare;
            if (!Sets(connectionString, "AutoPrepareMinUsages"))
            {
                builder.AutoPrepareMinUsages = 2;
            }
        }

        var description = $"PostgreSQL {builder.Host}:{builder.Port}/{builder.Database}";
        return new StoreSettings(StoreProvider.Postgres, builder.ConnectionString, description, lease, sqliteFile: null);
    }

    /// <summary>Npgsql's <c>Max Auto Prepare</c> when the connection string does not set it.</summary>
    public const int DefaultMaxAutoPrepare = 32;

    /// <summary>True when the connection string sets <paramref name="keyword"/> (written with or without spaces).</summary>
    private static bool Sets(string connectionString, string keyword) =>
        new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString }.Keys.Cast<string>()
            .Any(key => key.Replace(" ", "", StringComparison.Ordinal).Equals(keyword, StringComparison.OrdinalIgnoreCase));

    private static StoreSettings ResolveSqlite(string? connectionString, string? dataDirectory, string appDirectory, TimeSpan lease)
    {
        SqliteConnectionStringBuilder builder;
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            var folder = string.IsNullOrWhiteSpace(dataDirectory) ? "data" : dataDirectory.Trim();
            folder = Path.GetFullPath(folder, appDirectory);
            builder = new SqliteConnectionStringBuilder { DataSource = Path.Combine(folder, DefaultSqliteFile) };
        }
        else
        {
            try
            {
                builder = new SqliteConnectionStringBuilder(connectionString);
            }
            catch (Exception exception) when (exception is ArgumentException or FormatException or InvalidOperationException)
            {
                throw new StoreConfigurationException("Store:ConnectionString is not a valid SQLite connection string: use Data Source=<file>, or leave it unset for syncworker.db in Store:DataDirectory.");
            }

            if (string.IsNullOrWhiteSpace(builder.DataSource))
            {
                throw new StoreConfigurationException("Store:ConnectionString names no file: use Data Source=<file>, or leave it unset for syncworker.db in Store:DataDirectory.");
            }

            if (builder.DataSource.Trim() == ":memory:" || builder.Mode == SqliteOpenMode.Memory)
            {
                throw new StoreConfigurationException("Store:ConnectionString points at an in-memory SQLite database, which is lost at exit and differs per connection: use Data Source=<file>.");
            }

            builder.DataSource = Path.GetFullPath(builder.DataSource, appDirectory);
        }

        // Writers wait for each other (SQLITE_BUSY is retried up to the command timeout) instead of failing at once.
        builder.DefaultTimeout = Math.Max(builder.DefaultTimeout, 30);
        builder.Pooling = true;
        return new StoreSettings(StoreProvider.Sqlite, builder.ConnectionString, $"SQLite {builder.DataSource}", lease, builder.DataSource);
    }

    /// <summary>A new, closed connection to the store.</summary>
    public DbConnection CreateConnection() => Provider == StoreProvider.Postgres
        ? new NpgsqlConnection(ConnectionString)
        : new SqliteConnection(ConnectionString);
}

/// <summary>The <c>Store</c> section is invalid; the message names the key and the fix, never a password.</summary>
public sealed class StoreConfigurationException(string message) : Exception(message);
