namespace SyncWorker.Store.Ledger;

/// <summary>The <c>backfill_events</c> table, in the same store and under the same turns as the ledger.</summary>
public sealed partial class SqlDeliveryLedger : IBackfillLedger
{
    /// <summary>How many rows one purge statement deletes at the most.</summary>
    private const int BackfillPurgeBatch = 1000;

    /// <inheritdoc />
    public Task<IReadOnlySet<string>> FedSinceAsync(DateTimeOffset since, CancellationToken cancellationToken) =>
        RunAsync<IReadOnlySet<string>>(async connection =>
        {
            await using var command = Command(connection, "SELECT event_id FROM backfill_events WHERE fed_at >= @since", ("since", Millis(since)));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var ids = new HashSet<string>(StringComparer.Ordinal);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                ids.Add(reader.GetString(0));
            }

            return ids;
        }, cancellationToken);

    /// <inheritdoc />
    public Task<int> RecordFedAsync(IReadOnlyCollection<BackfillEntry> entries, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entries);
        foreach (var entry in entries)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(entry.EventId);
            ArgumentException.ThrowIfNullOrWhiteSpace(entry.EventType);
        }

        if (entries.Count == 0)
        {
            return Task.FromResult(0);
        }

        return RunAsync(async connection =>
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            var added = 0;
            foreach (var entry in entries)
            {
                await using var command = Command(connection,
                    "INSERT INTO backfill_events (event_id, event_type, account, fed_at) VALUES (@event, @type, @account, @fed) " +
                    "ON CONFLICT (event_id) DO NOTHING",
                    ("event", entry.EventId), ("type", entry.EventType), ("account", entry.Account), ("fed", Millis(entry.FedAt)));
                command.Transaction = transaction;
                added += await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return added;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<int> PurgeFedBeforeAsync(DateTimeOffset before, CancellationToken cancellationToken)
    {
        var purged = 0;
        while (true)
        {
            // One turn per batch, so that a long purge never holds SQLite's writer (or the turns) for long.
            var deleted = await RunAsync(async connection =>
            {
                await using var command = Command(connection,
                    "DELETE FROM backfill_events WHERE event_id IN " +
                    "(SELECT event_id FROM backfill_events WHERE fed_at < @before ORDER BY fed_at LIMIT @batch)",
                    ("before", Millis(before)), ("batch", BackfillPurgeBatch));
                return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
            purged += deleted;
            if (deleted < BackfillPurgeBatch)
            {
                return purged;
            }
        }
    }
}
