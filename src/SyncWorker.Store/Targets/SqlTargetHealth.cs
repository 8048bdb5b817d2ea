using System.Data.Common;
using System.Globalization;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Store.Targets;

/// <summary>A target's row in <c>target_health</c> (schema version 6).</summary>
/// <param name="Target">The target's name.</param>
/// <param name="DisabledAt">When it was disabled for failing; null while it is not.</param>
/// <param name="FailingSince">Its first failed attempt after its last success, as seen when it was disabled.</param>
/// <param name="LastError">Its last failed attempt's status and error, as seen when it was disabled (no secrets, no payload).</param>
/// <param name="EnabledAt">When it was last enabled (<c>targets enable</c>); the failing window starts there.</param>
/// <param name="EnabledBy">Who enabled it (<c>user@host</c>, <c>token:name</c>).</param>
public sealed record TargetHealth(
    string Target,
    DateTimeOffset? DisabledAt,
    DateTimeOffset? FailingSince,
    string? LastError,
    DateTimeOffset? EnabledAt,
    string? EnabledBy);

/// <summary>How a target's attempts went in the window read by <see cref="SqlTargetHealth.FailingAsync"/>.</summary>
/// <param name="Target">The target's name.</param>
/// <param name="LastSuccess">Its last successful attempt in the window; null when none.</param>
/// <param name="FirstFailure">Its first failed attempt after <paramref name="LastSuccess"/> (or the window's start).</param>
/// <param name="LastFailure">Its last failed attempt.</param>
public sealed record TargetFailing(string Target, DateTimeOffset? LastSuccess, DateTimeOffset FirstFailure, DateTimeOffset LastFailure)
{
    /// <summary>How long it has failed without a single success, by its attempts: last failure minus first.</summary>
    public TimeSpan Span => LastFailure - FirstFailure;
}

/// <summary>
/// The <c>target_health</c> table (schema version 6) and the read of <c>delivery_attempts</c> that says which targets fail,
/// in the same store and under the same turns as the delivery ledger. A target fails without a single success while its
/// attempts after its last success all failed; how long is read from the attempts' start times, so every forwarder (and a
/// restarted one) reaches the same answer.
/// </summary>
public sealed class SqlTargetHealth(SqlDeliveryLedger store, TimeProvider time)
{
    private const string Columns = "target, disabled_at, failing_since, last_error, enabled_at, enabled_by";

    // An attempt's outcome as the forwarders record it: "delivered" for a 2xx, "failed" for anything else.
    private const string Delivered = "delivered";

    // Per target, its attempts in the window after its last enable: the last success, and the failed attempts after it.
    private static readonly string FailingSql = $"""
        SELECT d.target, MAX(ok.last_success), MIN(a.started_at), MAX(a.started_at)
        FROM delivery_attempts a
        JOIN deliveries d ON d.delivery_key = a.delivery_key
        LEFT JOIN target_health h ON h.target = d.target
        LEFT JOIN (
            SELECT d2.target AS target, MAX(a2.started_at) AS last_success
            FROM delivery_attempts a2
            JOIN deliveries d2 ON d2.delivery_key = a2.delivery_key
            WHERE a2.started_at >= @from AND a2.outcome = '{Delivered}'
            GROUP BY d2.target) ok ON ok.target = d.target
        WHERE a.started_at >= @from AND a.outcome <> '{Delivered}'
          AND (h.enabled_at IS NULL OR a.started_at >= h.enabled_at)
          AND (ok.last_success IS NULL OR a.started_at > ok.last_success)
        GROUP BY d.target
        """;

    /// <summary>
    /// Targets with failed attempts since <paramref name="from"/> (and since their last enable) after their last success in
    /// that window: one query over the attempts started since then (indexed by start), so keep the window short.
    /// </summary>
    public Task<IReadOnlyList<TargetFailing>> FailingAsync(DateTimeOffset from, CancellationToken cancellationToken) =>
        store.RunAsync<IReadOnlyList<TargetFailing>>(async connection =>
        {
            await using var command = SqlDeliveryLedger.Command(connection, FailingSql, ("from", from.ToUnixTimeMilliseconds()));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var rows = new List<TargetFailing>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                rows.Add(new TargetFailing(
                    reader.GetString(0),
                    reader.IsDBNull(1) ? null : FromMillis(Long(reader.GetValue(1))),
                    FromMillis(Long(reader.GetValue(2))),
                    FromMillis(Long(reader.GetValue(3)))));
            }

            return rows;
        }, cancellationToken);

    /// <summary>The target's last failed attempt since <paramref name="from"/>: "HTTP 503: …" or its error; null when none.</summary>
    public Task<string?> LastErrorAsync(string target, DateTimeOffset from, CancellationToken cancellationToken) =>
        store.RunAsync(async connection =>
        {
            await using var command = SqlDeliveryLedger.Command(connection,
                $"SELECT a.status, a.error FROM delivery_attempts a JOIN deliveries d ON d.delivery_key = a.delivery_key " +
                $"WHERE d.target = @target AND a.started_at >= @from AND a.outcome <> '{Delivered}' ORDER BY a.started_at DESC, a.id DESC LIMIT 1",
                ("target", target), ("from", from.ToUnixTimeMilliseconds()));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return (string?)null;
            }

            var status = reader.IsDBNull(0) ? (int?)null : reader.GetInt32(0);
            var error = reader.IsDBNull(1) ? null : reader.GetString(1);
            return status is { } code ? (error is null ? $"HTTP {code}" : $"HTTP {code}: {error}") : error ?? "failed";
        }, cancellationToken);

    /// <summary>Every target's row.</summary>
    public Task<IReadOnlyDictionary<string, TargetHealth>> ListAsync(CancellationToken cancellationToken) =>
        store.RunAsync<IReadOnlyDictionary<string, TargetHealth>>(async connection =>
        {
            await using var command = SqlDeliveryLedger.Command(connection, $"SELECT {Columns} FROM target_health");
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var rows = new Dictionary<string, TargetHealth>(StringComparer.Ordinal);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var row = Read(reader);
                rows[row.Target] = row;
            }

            return rows;
        }, cancellationToken);

    /// <summary>The target's row, or null.</summary>
    public Task<TargetHealth?> GetAsync(string target, CancellationToken cancellationToken) =>
        store.RunAsync(async connection => await GetOnAsync(connection, target, cancellationToken).ConfigureAwait(false), cancellationToken);

    /// <summary>
    /// Marks the target disabled, unless it already is or was enabled after <paramref name="failingSince"/> (an enable
    /// that this evaluation did not see): one statement, so of several forwarders deciding at once exactly one gets true,
    /// and only that one announces it.
    /// </summary>
    public Task<bool> TryDisableAsync(string target, DateTimeOffset failingSince, string? lastError, CancellationToken cancellationToken) =>
        store.RunAsync(async connection =>
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            await using var command = SqlDeliveryLedger.Command(connection, """
                INSERT INTO target_health (target, disabled_at, failing_since, last_error, updated_at)
                VALUES (@target, @now, @since, @error, @now)
                ON CONFLICT (target) DO UPDATE SET disabled_at = @now, failing_since = @since, last_error = @error, updated_at = @now
                WHERE target_health.disabled_at IS NULL AND (target_health.enabled_at IS NULL OR target_health.enabled_at <= @since)
                RETURNING target
                """,
                ("target", target), ("now", now), ("since", failingSince.ToUnixTimeMilliseconds()), ("error", Cut(lastError, 2000)));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            return await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }, cancellationToken);

    /// <summary>
    /// Marks the target enabled by <paramref name="actor"/> now: not disabled, and its failing window starts again now.
    /// Returns the row as it was before (null when there was none).
    /// </summary>
    public Task<TargetHealth?> EnableAsync(string target, string actor, CancellationToken cancellationToken) =>
        store.RunAsync(async connection =>
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            var before = await GetOnAsync(connection, target, cancellationToken, transaction).ConfigureAwait(false);
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            await using (var command = SqlDeliveryLedger.Command(connection, """
                INSERT INTO target_health (target, enabled_at, enabled_by, updated_at) VALUES (@target, @now, @by, @now)
                ON CONFLICT (target) DO UPDATE SET disabled_at = NULL, enabled_at = @now, enabled_by = @by, updated_at = @now
                """,
                ("target", target), ("now", now), ("by", Cut(actor, 255))))
            {
                command.Transaction = transaction;
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return before;
        }, cancellationToken);

    private static async Task<TargetHealth?> GetOnAsync(DbConnection connection, string target, CancellationToken cancellationToken, DbTransaction? transaction = null)
    {
        await using var command = SqlDeliveryLedger.Command(connection, $"SELECT {Columns} FROM target_health WHERE target = @target", ("target", target));
        command.Transaction = transaction;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? Read(reader) : null;
    }

    private static TargetHealth Read(DbDataReader reader)
    {
        DateTimeOffset? At(int i) => reader.IsDBNull(i) ? null : FromMillis(Long(reader.GetValue(i)));
        return new TargetHealth(
            reader.GetString(0),
            At(1),
            At(2),
            reader.IsDBNull(3) ? null : reader.GetString(3),
            At(4),
            reader.IsDBNull(5) ? null : reader.GetString(5));
    }

    private static long Long(object value) => Convert.ToInt64(value, CultureInfo.InvariantCulture);

    private static DateTimeOffset FromMillis(long millis) => DateTimeOffset.FromUnixTimeMilliseconds(millis);

    private static string? Cut(string? text, int length) => text is { Length: > 0 } && text.Length > length ? text[..length] : text;
}
