using System.Data.Common;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Store.Installs;

/// <summary>The <c>installs</c> table, in the same store and under the same turns as the delivery ledger.</summary>
public sealed class SqlInstallRegistry(SqlDeliveryLedger store, TimeProvider time) : IInstallRegistry
{
    private const string Columns = "account, livemode, status, permissions_granted, permissions_pending, last_event_id, last_event_created, first_seen, last_seen, sandbox";

    /// <inheritdoc />
    public Task<bool> ApplyAsync(InstallChange change, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(change);
        ArgumentException.ThrowIfNullOrWhiteSpace(change.Account);
        if (change.Status is not (InstallStatus.Installed or InstallStatus.Uninstalled))
        {
            throw new ArgumentException($"'{change.Status}' is not an install status.", nameof(change));
        }

        return store.RunAsync(async connection =>
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            var created = change.EventCreated.ToUnixTimeMilliseconds();
            await using var upsert = SqlDeliveryLedger.Command(connection, """
                INSERT INTO installs (account, livemode, status, permissions_granted, permissions_pending, last_event_id, last_event_created, first_seen, last_seen, sandbox)
                VALUES (@account, @livemode, @status, @granted, @pending, @event, @created, @now, @now, @sandbox)
                ON CONFLICT (account, livemode) DO UPDATE SET
                    status = excluded.status,
                    sandbox = CASE WHEN excluded.sandbox THEN excluded.sandbox ELSE installs.sandbox END,
                    permissions_granted = COALESCE(excluded.permissions_granted, installs.permissions_granted),
                    permissions_pending = COALESCE(excluded.permissions_pending, installs.permissions_pending),
                    last_event_id = excluded.last_event_id,
                    last_event_created = excluded.last_event_created,
                    last_seen = excluded.last_seen
                WHERE excluded.last_event_created >= installs.last_event_created
                """,
                ("account", change.Account), ("livemode", change.Livemode), ("status", change.Status),
                ("granted", Join(change.PermissionsGranted)), ("pending", Join(change.PermissionsPending)),
                ("event", change.EventId), ("created", created), ("now", now), ("sandbox", change.Sandbox));
            if (await upsert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) > 0)
            {
                return true;
            }

            // Older than what the row has: heard of, not applied.
            await using var seen = SqlDeliveryLedger.Command(connection,
                "UPDATE installs SET last_seen = @now, sandbox = CASE WHEN @sandbox THEN @sandbox ELSE sandbox END WHERE account = @account AND livemode = @livemode",
                ("account", change.Account), ("livemode", change.Livemode), ("now", now), ("sandbox", change.Sandbox));
            await seen.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return false;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<InstallRecord?> GetAsync(string account, bool livemode, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(account);
        return store.RunAsync(async connection =>
        {
            await using var command = SqlDeliveryLedger.Command(connection,
                $"SELECT {Columns} FROM installs WHERE account = @account AND livemode = @livemode", ("account", account), ("livemode", livemode));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? Read(reader) : null;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<InstallRecord>> ListAsync(CancellationToken cancellationToken) =>
        store.RunAsync<IReadOnlyList<InstallRecord>>(async connection =>
        {
            await using var command = SqlDeliveryLedger.Command(connection, $"SELECT {Columns} FROM installs ORDER BY account, livemode DESC");
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var rows = new List<InstallRecord>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                rows.Add(Read(reader));
            }

            return rows;
        }, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<(string Account, bool Livemode)>> UninstalledAsync(CancellationToken cancellationToken) =>
        store.RunAsync<IReadOnlyList<(string, bool)>>(async connection =>
        {
            await using var command = SqlDeliveryLedger.Command(connection,
                "SELECT account, livemode FROM installs WHERE status = @status", ("status", InstallStatus.Uninstalled));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var rows = new List<(string, bool)>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                rows.Add((reader.GetString(0), reader.GetBoolean(1)));
            }

            return rows;
        }, cancellationToken);

    private static string? Join(IReadOnlyList<string>? permissions) => permissions is null ? null : string.Join(',', permissions);

    private static string[]? Split(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal).Split(',', StringSplitOptions.RemoveEmptyEntries);

    private static InstallRecord Read(DbDataReader reader) =>
        new(
            reader.GetString(0),
            reader.GetBoolean(1),
            reader.GetString(2),
            Split(reader, 3),
            Split(reader, 4),
            reader.IsDBNull(5) ? null : reader.GetString(5),
            DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6)),
            DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(7)),
            DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(8)),
            reader.GetBoolean(9));
}
