using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SyncWorker.Contracts;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Store.Retention;

/// <summary>
/// One kind of row the store's retention deletes: the rows of <paramref name="Table"/> whose <paramref name="TimeColumn"/>
/// (Unix milliseconds) is older than <paramref name="Age"/> and that meet <paramref name="Condition"/> (SQL both providers
/// run; it may use <c>@now</c>, the current time in Unix milliseconds). With <paramref name="ClearColumn"/> the rows
/// stay and only that column (a stored body) is set to null.
/// </summary>
public sealed record RetentionRule(string Table, string TimeColumn, TimeSpan Age, string? Condition = null, string? ClearColumn = null, string? Label = null)
{
    /// <summary>
    /// What the rule purges, in logs, counts and the metric's <c>table</c> tag: <see cref="Label"/> when given (two rules
    /// of one table), else the table, or <c>table.column</c>.
    /// </summary>
    public string Name => Label ?? (ClearColumn is null ? Table : $"{Table}.{ClearColumn}");
}

/// <summary>How many rows one purge deleted from a table (or cleared, for <c>table.column</c>).</summary>
public sealed record PurgeCount(string Table, long Deleted, DateTimeOffset Before);

/// <summary>
/// Deletes what the store keeps no longer (<see cref="Rules"/>): delivery attempts after <c>Store:RetentionDays</c> (by
/// start), ledger rows after <c>Store:KeyRetentionDays</c> without change (never one under a live lease). In bounded
/// batches (<see cref="BatchSize"/> rows per statement, <see cref="BatchPause"/> between statements), each its own short
/// transaction taken in turn with deliveries (<see cref="SqlDeliveryLedger.RunAsync{T}"/>), so a purge never holds
/// deliveries up for long. Several instances purging at once are harmless: a row deleted by one is simply not found by
/// the other. Counts go to the log and to <c>syncworker.store.purged</c> (tag <c>table</c>).
/// </summary>
public sealed partial class StorePurger
{
    /// <summary>Rows deleted per statement.</summary>
    public const int DefaultBatchSize = 1000;

    /// <summary>The pause between two full batches, for deliveries to go first.</summary>
    public static readonly TimeSpan DefaultBatchPause = TimeSpan.FromMilliseconds(100);

    private readonly SqlDeliveryLedger _ledger;
    private readonly StoreSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Created by dependency injection (or by <c>store purge</c> with no logger).</summary>
    public StorePurger(SqlDeliveryLedger ledger, StoreSettings settings, TimeProvider time, ILogger<StorePurger>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(ledger);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(time);
        _ledger = ledger;
        _settings = settings;
        _time = time;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        Rules = RulesOf(settings);
    }

    /// <summary>Rows deleted per statement (default <see cref="DefaultBatchSize"/>).</summary>
    public int BatchSize { get; init; } = DefaultBatchSize;

    /// <summary>The pause between two full batches (default <see cref="DefaultBatchPause"/>; zero for none).</summary>
    public TimeSpan BatchPause { get; init; } = DefaultBatchPause;

    private const string PaidAndDelivered = "(action = 'order.paid' AND state = 'delivered')";

    /// <summary>What is purged, in order.</summary>
    public IReadOnlyList<RetentionRule> Rules { get; }

    /// <summary>
    /// The store's rules: attempts by <c>started_at</c> and the orders' stored <c>order.paid</c> documents by
    /// <c>updated_at</c> after <see cref="StoreSettings.Retention"/>; ledger rows by <c>updated_at</c> after
    /// <see cref="StoreSettings.KeyRetention"/>, except those whose lease has not run out and delivered <c>order.paid</c>
    /// rows, which are kept with their orders (payment intent to order) for <see cref="StoreSettings.OrderRetention"/>: a
    /// refund or dispute months later still finds its order and sees that its payment reached the target. A table added
    /// later (by a migration) is one more line here. The backfill ledger's entries go after 31 days (Stripe lists events
    /// of the last 30 days only).
    /// </summary>
    public static IReadOnlyList<RetentionRule> RulesOf(StoreSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return
        [
            new RetentionRule("delivery_attempts", "started_at", settings.Retention),
            new RetentionRule("orders", "updated_at", settings.Retention, ClearColumn: "document"),
            new RetentionRule("deliveries", "updated_at", settings.KeyRetention, $"(lease_until IS NULL OR lease_until < @now) AND NOT ({PaidAndDelivered})"),
            new RetentionRule("deliveries", "updated_at", settings.OrderRetention, $"(lease_until IS NULL OR lease_until < @now) AND {PaidAndDelivered}", Label: "deliveries/order.paid"),
            new RetentionRule("orders", "updated_at", settings.OrderRetention),
            new RetentionRule("backfill_events", "fed_at", BackfillLedgerRetention.Retention),
        ];
    }

    /// <summary>Runs every rule to the end once: what each deleted.</summary>
    public async Task<IReadOnlyList<PurgeCount>> PurgeAsync(CancellationToken cancellationToken)
    {
        var counts = new List<PurgeCount>();
        foreach (var rule in Rules)
        {
            counts.Add(await PurgeAsync(rule, cancellationToken).ConfigureAwait(false));
        }

        return counts;
    }

    /// <summary>Deletes, batch by batch, the rows of one rule that are older than its age now.</summary>
    public async Task<PurgeCount> PurgeAsync(RetentionRule rule, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rule);
        var now = _time.GetUtcNow();
        var before = now - rule.Age;

        // The physical row id (PostgreSQL's ctid, SQLite's rowid) bounds each statement without knowing the table's key;
        // the condition is repeated outside, so a row changed since the inner select (PostgreSQL re-checks it) stays.
        // PostgreSQL takes the ids as an array (ctid = ANY(ARRAY(…)) is a TID scan, where IN may join the whole table).
        var where = $"{rule.TimeColumn} < @before" + (rule.Condition is null ? "" : $" AND {rule.Condition}") +
            (rule.ClearColumn is null ? "" : $" AND {rule.ClearColumn} IS NOT NULL");
        var rows = _settings.Provider == StoreProvider.Postgres
            ? $"ctid = ANY(ARRAY(SELECT ctid FROM {rule.Table} WHERE {where} LIMIT @batch))"
            : $"rowid IN (SELECT rowid FROM {rule.Table} WHERE {where} LIMIT @batch)";
        var sql = rule.ClearColumn is null
            ? $"DELETE FROM {rule.Table} WHERE {rows} AND {where}"
            : $"UPDATE {rule.Table} SET {rule.ClearColumn} = NULL WHERE {rows} AND {where}";
        long deleted = 0;
        var started = _time.GetTimestamp();
        while (true)
        {
            var batch = await _ledger.RunAsync(async connection =>
            {
                await using var command = SqlDeliveryLedger.Command(connection, sql,
                    ("before", before.ToUnixTimeMilliseconds()), ("now", now.ToUnixTimeMilliseconds()), ("batch", BatchSize));
                return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
            deleted += batch;
            if (batch > 0)
            {
                SyncWorkerTelemetry.StorePurged.Add(batch, new TagList { { "table", rule.Name } });
            }

            if (batch < BatchSize)
            {
                break;
            }

            if (BatchPause > TimeSpan.Zero)
            {
                await Task.Delay(BatchPause, _time, cancellationToken).ConfigureAwait(false);
            }
        }

        var elapsedMs = (long)_time.GetElapsedTime(started).TotalMilliseconds;
        if (deleted > 0)
        {
            LogPurged(deleted, rule.Name, before, elapsedMs);
        }
        else
        {
            LogNothingToPurge(rule.Name, before);
        }

        return new PurgeCount(rule.Name, deleted, before);
    }

    [LoggerMessage(EventId = 7010, Level = LogLevel.Information, Message = "Retention deleted {Count} rows of {Table} older than {Before:o} in {ElapsedMs} ms")]
    private partial void LogPurged(long count, string table, DateTimeOffset before, long elapsedMs);

    [LoggerMessage(EventId = 7011, Level = LogLevel.Debug, Message = "Retention found no row of {Table} older than {Before:o}")]
    private partial void LogNothingToPurge(string table, DateTimeOffset before);
}
