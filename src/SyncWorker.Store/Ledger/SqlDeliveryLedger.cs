using System.Data.Common;

namespace SyncWorker.Store.Ledger;

/// <summary>
/// <see cref="IDeliveryLedger"/> in SQL that SQLite (3.35 and later) and PostgreSQL both run as written: the claim is
/// one <c>INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING</c>, atomic in both (PostgreSQL locks the row; SQLite has
/// one writer at a time), so of two forwarders racing for a row exactly one gets it.
/// </summary>
public sealed partial class SqlDeliveryLedger(StoreSettings settings, TimeProvider time) : IDeliveryLedger, IDisposable
{
    private const string Columns =
        "delivery_key, target, subject, action, action_instance, account, event_id, webhook_id, state, lease_owner, lease_until, " +
        "attempts, repeats_suppressed, last_status, last_error, created_at, updated_at, delivered_at, progress";

    // Final states as SQL text: delivered, skipped, discarded.
    private static readonly string FinalStates = string.Join(", ",
        Enum.GetValues<DeliveryState>().Where(s => s.IsFinal()).Select(s => $"'{s.Name()}'"));

    private static readonly string ClaimSql = $"""
        INSERT INTO deliveries (delivery_key, target, subject, action, action_instance, account, event_id, webhook_id, state,
            lease_owner, lease_until, attempts, repeats_suppressed, created_at, updated_at, progress)
        VALUES (@key, @target, @subject, @action, @instance, @account, @event, @webhook, '{DeliveryState.InFlight.Name()}',
            @owner, @until, 0, 0, @now, @now, @progress)
        ON CONFLICT (delivery_key) DO UPDATE SET state = '{DeliveryState.InFlight.Name()}', lease_owner = @owner,
            lease_until = @until, event_id = @event, updated_at = @now, progress = COALESCE(@progress, deliveries.progress)
        WHERE (@force = 1 OR deliveries.state NOT IN ({FinalStates}))
          AND (deliveries.state <> '{DeliveryState.InFlight.Name()}' OR deliveries.lease_until < @now OR deliveries.lease_owner = @owner)
        RETURNING {Columns}
        """;

    /// <inheritdoc />
    public Task<ClaimResult> ClaimAsync(DeliveryClaim claim, string owner, TimeSpan lease, bool force, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(claim);
        ArgumentException.ThrowIfNullOrWhiteSpace(owner);
        return RunAsync(connection => ClaimOnAsync(connection, null, claim, owner, lease, force, cancellationToken), cancellationToken);
    }

    /// <summary><see cref="ClaimAsync"/> on an open connection, in <paramref name="transaction"/> when given.</summary>
    internal async Task<ClaimResult> ClaimOnAsync(DbConnection connection, DbTransaction? transaction, DeliveryClaim claim, string owner, TimeSpan lease, bool force, CancellationToken cancellationToken)
    {
        // A row read as neither claimable nor final changed in between (its owner finished it): claim again.
        for (var round = 0; ; round++)
        {
            var now = time.GetUtcNow();
            await using (var command = Command(connection, ClaimSql,
                ("key", claim.Key.Value), ("target", claim.Key.Target), ("subject", claim.Key.Subject), ("action", claim.Key.Action),
                ("instance", claim.Key.ActionInstance), ("account", claim.Account), ("event", claim.EventId), ("webhook", claim.WebhookId),
                ("owner", owner), ("until", Millis(now + lease)), ("now", Millis(now)), ("force", force ? 1 : 0), ("progress", claim.Progress)))
            {
                command.Transaction = transaction;
                await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    return new ClaimResult(ClaimOutcome.Claimed, Read(reader));
                }
            }

            await using (var repeat = Command(connection,
                $"UPDATE deliveries SET repeats_suppressed = repeats_suppressed + 1 WHERE delivery_key = @key AND state IN ({FinalStates}) RETURNING {Columns}",
                ("key", claim.Key.Value)))
            {
                repeat.Transaction = transaction;
                await using var reader = await repeat.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    return new ClaimResult(ClaimOutcome.AlreadyDone, Read(reader));
                }
            }

            var current = await GetAsync(connection, transaction, claim.Key.Value, cancellationToken).ConfigureAwait(false);
            if (current is { State: DeliveryState.InFlight } && current.LeaseOwner != owner && current.LeaseUntil >= now)
            {
                return new ClaimResult(ClaimOutcome.HeldByAnother, current);
            }

            if (round >= 5)
            {
                throw new InvalidOperationException($"The ledger row {claim.Key.Value} could not be claimed or read consistently after {round + 1} rounds.");
            }
        }
    }

    /// <summary>True when writes may run on several connections at once (PostgreSQL; SQLite has one writer).</summary>
    internal bool WritesInParallel => settings.Provider == StoreProvider.Postgres;

    /// <summary>
    /// Runs <paramref name="steps"/> one after another in one transaction on one connection (taking its turn on SQLite
    /// like any operation here), and commits: <see cref="BatchingDeliveryLedger"/>'s unit of work. Any step's exception
    /// rolls every step back and is thrown; an unreachable store throws <see cref="StoreUnavailableException"/>.
    /// </summary>
    internal Task RunInOneTransactionAsync(IReadOnlyList<Func<DbConnection, DbTransaction, CancellationToken, Task>> steps, CancellationToken cancellationToken) =>
        RunAsync(async connection =>
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            foreach (var step in steps)
            {
                await step(connection, transaction, cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    /// <inheritdoc />
    public Task<bool> RenewAsync(string key, string owner, TimeSpan lease, CancellationToken cancellationToken) =>
        RunAsync(async connection =>
        {
            var now = time.GetUtcNow();
            await using var command = Command(connection,
                $"UPDATE deliveries SET lease_until = @until, updated_at = @now WHERE delivery_key = @key AND lease_owner = @owner AND state = '{DeliveryState.InFlight.Name()}'",
                ("key", key), ("owner", owner), ("until", Millis(now + lease)), ("now", Millis(now)));
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
        }, cancellationToken);

    /// <inheritdoc />
    public Task RecordAttemptAsync(string key, DeliveryAttemptRecord attempt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        return RunAsync(async connection =>
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await InsertAttemptAsync(connection, transaction, key, attempt, cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<bool> FinishAsync(string key, string owner, DeliveryState state, int? status, string? reason, IReadOnlyList<DeliveryAttemptRecord> attempts, CancellationToken cancellationToken)
    {
        CheckFinish(state, attempts);
        return RunAsync(async connection =>
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            var finished = await FinishOnAsync(connection, transaction, key, owner, state, status, reason, attempts, cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return finished;
        }, cancellationToken);
    }

    internal static void CheckFinish(DeliveryState state, IReadOnlyList<DeliveryAttemptRecord> attempts)
    {
        ArgumentNullException.ThrowIfNull(attempts);
        if (state == DeliveryState.InFlight)
        {
            throw new ArgumentException("A delivery is finished with a state other than in_flight.", nameof(state));
        }
    }

    /// <summary><see cref="FinishAsync"/> in <paramref name="transaction"/>, not committed.</summary>
    internal async Task<bool> FinishOnAsync(DbConnection connection, DbTransaction transaction, string key, string owner, DeliveryState state, int? status, string? reason, IReadOnlyList<DeliveryAttemptRecord> attempts, CancellationToken cancellationToken)
    {
        // The attempts' inserts and one update of the row that counts them along with the new state; when the state is not
        // recorded (the lease is another's), the attempts are still counted, by an update of their own.
        for (var i = 0; i < attempts.Count; i++)
        {
            await InsertAttemptRowAsync(connection, transaction, key, attempts[i], numbered: i + 1, cancellationToken).ConfigureAwait(false);
        }

        var (sql, parameters) = FinishUpdate(key, owner, state, status, reason, attempts.Count, Millis(time.GetUtcNow()));
        bool finished;
        await using (var command = Command(connection, sql, parameters))
        {
            command.Transaction = transaction;
            finished = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
        }

        if (!finished && attempts.Count > 0)
        {
            await CountAttemptsAsync(connection, transaction, key, attempts.Count, attempts[^1], cancellationToken).ConfigureAwait(false);
        }

        return finished;
    }

    /// <summary>
    /// The finish's update of the row: the new state, the lease ended, the attempts counted; <see cref="DeliveryState.Delivered"/>
    /// whoever holds the lease, any other state only by its owner.
    /// </summary>
    private static (string Sql, (string Name, object? Value)[] Parameters) FinishUpdate(string key, string owner, DeliveryState state, int? status, string? reason, int attempts, long now)
    {
        var delivered = state == DeliveryState.Delivered;
        var sql = "UPDATE deliveries SET state = @state, lease_owner = NULL, lease_until = NULL, last_status = @status, last_error = @error, updated_at = @now" +
            (attempts == 0 ? "" : ", attempts = attempts + @count") +
            (delivered ? ", delivered_at = @now WHERE delivery_key = @key" : " WHERE delivery_key = @key AND lease_owner = @owner");
        (string, object?)[] parameters = delivered
            ? [("key", key), ("state", state.Name()), ("status", status), ("error", Truncate(reason)), ("now", now)]
            : [("key", key), ("owner", owner), ("state", state.Name()), ("status", status), ("error", Truncate(reason)), ("now", now)];
        return (sql, attempts == 0 ? parameters : [.. parameters, ("count", attempts)]);
    }

    /// <summary>Inserts the attempt and counts it on the row (last status and error included).</summary>
    private async Task InsertAttemptAsync(DbConnection connection, DbTransaction transaction, string key, DeliveryAttemptRecord attempt, CancellationToken cancellationToken)
    {
        await InsertAttemptRowAsync(connection, transaction, key, attempt, numbered: null, cancellationToken).ConfigureAwait(false);
        await CountAttemptsAsync(connection, transaction, key, 1, attempt, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Inserts one attempt row: numbered as given by the caller, or (<paramref name="numbered"/>) as the row's
    /// <paramref name="numbered"/>-th attempt after those already counted on it.
    /// </summary>
    private static async Task InsertAttemptRowAsync(DbConnection connection, DbTransaction transaction, string key, DeliveryAttemptRecord attempt, int? numbered, CancellationToken cancellationToken)
    {
        await using var insert = Command(connection, InsertAttemptSql(numbered is not null), AttemptParameters(key, attempt, numbered ?? attempt.Attempt));
        insert.Transaction = transaction;
        await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The attempt's insert; <paramref name="numbered"/>: @attempt counts after the row's earlier attempts.</summary>
    private static string InsertAttemptSql(bool numbered) =>
        "INSERT INTO delivery_attempts (delivery_key, attempt, owner, started_at, duration_ms, outcome, status, error) VALUES (@key, " +
        (numbered ? "COALESCE((SELECT attempts FROM deliveries WHERE delivery_key = @key), 0) + @attempt" : "@attempt") +
        ", @owner, @started, @duration, @outcome, @status, @error)";

    private static (string Name, object? Value)[] AttemptParameters(string key, DeliveryAttemptRecord attempt, int number) =>
    [
        ("key", key), ("attempt", number), ("owner", attempt.Owner), ("started", Millis(attempt.StartedAt)),
        ("duration", (long)attempt.Duration.TotalMilliseconds), ("outcome", attempt.Outcome), ("status", attempt.Status),
        ("error", Truncate(attempt.Error)),
    ];

    /// <summary>Counts attempts on the row (and their last status and error) whoever holds its lease.</summary>
    private const string CountAttemptsSql =
        "UPDATE deliveries SET attempts = attempts + @count, last_status = @status, last_error = @error, updated_at = @now WHERE delivery_key = @key";

    private async Task CountAttemptsAsync(DbConnection connection, DbTransaction? transaction, string key, int count, DeliveryAttemptRecord last, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, CountAttemptsSql,
            ("key", key), ("count", count), ("status", last.Status), ("error", Truncate(last.Error)), ("now", Millis(time.GetUtcNow())));
        command.Transaction = transaction;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<LedgerEntry?> GetAsync(string key, CancellationToken cancellationToken) =>
        RunAsync(connection => GetAsync(connection, key, cancellationToken), cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<LedgerEntry>> FindBySubjectAsync(string subject, CancellationToken cancellationToken) =>
        RunAsync<IReadOnlyList<LedgerEntry>>(async connection =>
        {
            await using var command = Command(connection,
                $"SELECT {Columns} FROM deliveries WHERE subject = @subject ORDER BY target, action, action_instance, created_at",
                ("subject", subject));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var entries = new List<LedgerEntry>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                entries.Add(Read(reader));
            }

            return entries;
        }, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<DeliveryAttemptRecord>> AttemptsAsync(string key, CancellationToken cancellationToken) =>
        RunAsync<IReadOnlyList<DeliveryAttemptRecord>>(async connection =>
        {
            await using var command = Command(connection,
                "SELECT attempt, owner, started_at, duration_ms, outcome, status, error FROM delivery_attempts WHERE delivery_key = @key ORDER BY id",
                ("key", key));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var attempts = new List<DeliveryAttemptRecord>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                attempts.Add(new DeliveryAttemptRecord(
                    reader.GetInt32(0),
                    reader.GetString(1),
                    FromMillis(reader.GetInt64(2)),
                    TimeSpan.FromMilliseconds(reader.GetInt64(3)),
                    reader.GetString(4),
                    reader.IsDBNull(5) ? null : reader.GetInt32(5),
                    reader.IsDBNull(6) ? null : reader.GetString(6)));
            }

            return attempts;
        }, cancellationToken);

    private static Task<LedgerEntry?> GetAsync(DbConnection connection, string key, CancellationToken cancellationToken) =>
        GetAsync(connection, null, key, cancellationToken);

    private static async Task<LedgerEntry?> GetAsync(DbConnection connection, DbTransaction? transaction, string key, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, $"SELECT {Columns} FROM deliveries WHERE delivery_key = @key", ("key", key));
        command.Transaction = transaction;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? Read(reader) : null;
    }

    internal async Task<T> RunAsync<T>(Func<DbConnection, Task<T>> work, CancellationToken cancellationToken)
    {
        if (settings.Provider != StoreProvider.Sqlite)
        {
            return await RunOnConnectionAsync(work, cancellationToken).ConfigureAwait(false);
        }

        // SQLite has one writer at a time, and Microsoft.Data.Sqlite answers a busy database by sleeping 150 ms before it
        // tries again: concurrent deliveries would mostly sleep. One instance owns the file, so its operations take turns
        // here instead, without ever meeting a busy database, on one connection kept open between turns.
        await _sqliteTurns.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await RunOnSqliteAsync(work, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _sqliteTurns.Release();
        }
    }

    private readonly SemaphoreSlim _sqliteTurns = new(1, 1);

    // Used only while holding _sqliteTurns.
    private DbConnection? _sqlite;

    /// <inheritdoc />
    public void Dispose()
    {
        _sqlite?.Dispose();
        _sqlite = null;
        _sqliteTurns.Dispose();
    }

    private async Task<T> RunOnSqliteAsync<T>(Func<DbConnection, Task<T>> work, CancellationToken cancellationToken)
    {
        try
        {
            if (_sqlite is null)
            {
                var connection = settings.CreateConnection();
                try
                {
                    await connection.OpenAsync(cancellationToken).ConfigureAwait(false);

                    // With the WAL journal (set at migration), NORMAL syncs at checkpoints instead of at every commit: a
                    // commit survives the process crashing, and the last ones may be lost only to an OS crash or power cut.
                    await using var pragma = connection.CreateCommand();
                    pragma.CommandText = "PRAGMA synchronous=NORMAL;";
                    await pragma.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    await connection.DisposeAsync().ConfigureAwait(false);
                    throw;
                }

                _sqlite = connection;
            }

            return await work(_sqlite).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            // A connection that failed is not trusted for the next turn: the next one opens a new connection.
            if (_sqlite is not null && (_sqlite.State != System.Data.ConnectionState.Open || StoreErrors.IsUnavailable(exception)))
            {
                await _sqlite.DisposeAsync().ConfigureAwait(false);
                _sqlite = null;
            }

            if (StoreErrors.IsUnavailable(exception) && exception is not StoreUnavailableException && !cancellationToken.IsCancellationRequested)
            {
                throw new StoreUnavailableException($"The store ({settings.Description}) is unavailable: {StoreErrors.Describe(exception)}", exception);
            }

            throw;
        }
    }

    private async Task<T> RunOnConnectionAsync<T>(Func<DbConnection, Task<T>> work, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = settings.CreateConnection();
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return await work(connection).ConfigureAwait(false);
        }
        catch (Exception exception) when (StoreErrors.IsUnavailable(exception) && exception is not StoreUnavailableException && !cancellationToken.IsCancellationRequested)
        {
            throw new StoreUnavailableException($"The store ({settings.Description}) is unavailable: {StoreErrors.Describe(exception)}", exception);
        }
    }

    internal static DbCommand Command(DbConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value ?? DBNull.Value;
            if (value is null)
            {
                parameter.DbType = NullType(name);
            }

            command.Parameters.Add(parameter);
        }

        return command;
    }

    /// <summary>PostgreSQL must know a null's type; text suits every nullable column written as null here but the numbers.</summary>
    private static System.Data.DbType NullType(string parameter) => parameter switch
    {
        "status" => System.Data.DbType.Int32,
        "progress" => System.Data.DbType.Int64,
        _ => System.Data.DbType.String,
    };

    private static LedgerEntry Read(DbDataReader reader)
    {
        string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
        long? Long(int i) => reader.IsDBNull(i) ? null : reader.GetInt64(i);
        var stateText = reader.GetString(8);
        if (!DeliveryStates.TryParse(stateText, out var state))
        {
            throw new InvalidOperationException($"The ledger row {reader.GetString(0)} has an unknown state '{stateText}' (written by a newer version?).");
        }

        return new LedgerEntry(
            reader.GetString(0),
            reader.GetString(1),
            reader.GetString(2),
            reader.GetString(3),
            Text(4),
            Text(5),
            reader.GetString(6),
            reader.GetString(7),
            state,
            Text(9),
            Long(10) is { } until ? FromMillis(until) : null,
            reader.GetInt32(11),
            reader.GetInt32(12),
            reader.IsDBNull(13) ? null : reader.GetInt32(13),
            Text(14),
            FromMillis(reader.GetInt64(15)),
            FromMillis(reader.GetInt64(16)),
            Long(17) is { } delivered ? FromMillis(delivered) : null,
            Long(18));
    }

    private static string? Truncate(string? text) => text is { Length: > 2000 } ? text[..2000] : text;

    private static long Millis(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    private static DateTimeOffset FromMillis(long millis) => DateTimeOffset.FromUnixTimeMilliseconds(millis);
}
