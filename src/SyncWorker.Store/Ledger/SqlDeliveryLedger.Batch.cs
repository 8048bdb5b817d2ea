using System.Data.Common;
using Npgsql;

namespace SyncWorker.Store.Ledger;

/// <summary>A claim or finish of <see cref="BatchingDeliveryLedger"/>, as data (written together on PostgreSQL).</summary>
internal abstract record LedgerWrite(string Key);

/// <summary>A claim: <see cref="IDeliveryLedger.ClaimAsync"/>'s arguments.</summary>
internal sealed record ClaimWrite(DeliveryClaim Claim, string Owner, TimeSpan Lease, bool Force) : LedgerWrite(Claim.Key.Value);

/// <summary>A finish: <see cref="IDeliveryLedger.FinishAsync"/>'s arguments.</summary>
internal sealed record FinishWrite(string Key, string Owner, DeliveryState State, int? Status, string? Reason, IReadOnlyList<DeliveryAttemptRecord> Attempts)
    : LedgerWrite(Key);

public sealed partial class SqlDeliveryLedger
{
    /// <summary>
    /// Writes <paramref name="writes"/> (in key order) on PostgreSQL as one <see cref="NpgsqlBatch"/>: every statement in
    /// one round trip, one implicit transaction, committed before this returns. Each write's result comes back in its
    /// place: a <see cref="ClaimResult"/> or a <see cref="bool"/> (finished), or the <see cref="Exception"/> of that write
    /// alone when its look after the commit failed. A claim that the batch's upsert did not
    /// take (the row is final, or another owner holds it) is looked at again afterwards, as <see cref="ClaimAsync"/> does,
    /// and so is the attempt count of a finish whose lease was another's. A failure of the batch itself rolls all of it
    /// back and is thrown (an unreachable store as <see cref="StoreUnavailableException"/>).
    /// </summary>
    internal Task<object[]> WriteTogetherAsync(IReadOnlyList<LedgerWrite> writes, CancellationToken cancellationToken)
    {
        if (settings.Provider != StoreProvider.Postgres)
        {
            throw new InvalidOperationException("Writes are sent as one batch on PostgreSQL only.");
        }

        return RunAsync(async connection =>
        {
            var results = new object[writes.Count];
            await using var batch = new NpgsqlBatch((NpgsqlConnection)connection);
            var updates = new (int Write, NpgsqlBatchCommand Command)[writes.Count];
            var counted = new bool[writes.Count];
            var now = time.GetUtcNow();

            // A row finished more than once in this batch (a finish by an owner that lost the lease beside its new owner's)
            // has its attempts counted in the batch, before the next finish numbers its own after them; elsewhere a finish
            // that did not end its row counts them after the commit.
            var finishesOf = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var write in writes)
            {
                if (write is FinishWrite)
                {
                    finishesOf[write.Key] = finishesOf.GetValueOrDefault(write.Key) + 1;
                }
            }
            for (var i = 0; i < writes.Count; i++)
            {
                switch (writes[i])
                {
                    case ClaimWrite c:
                        batch.BatchCommands.Add(BatchCommand(ClaimSql,
                            ("key", c.Claim.Key.Value), ("target", c.Claim.Key.Target), ("subject", c.Claim.Key.Subject), ("action", c.Claim.Key.Action),
                            ("instance", c.Claim.Key.ActionInstance), ("account", c.Claim.Account), ("event", c.Claim.EventId), ("webhook", c.Claim.WebhookId),
                            ("owner", c.Owner), ("until", Millis(now + c.Lease)), ("now", Millis(now)), ("force", c.Force ? 1 : 0), ("progress", c.Claim.Progress)));
                        break;
                    case FinishWrite f:
                        for (var n = 0; n < f.Attempts.Count; n++)
                        {
                            batch.BatchCommands.Add(BatchCommand(InsertAttemptSql(numbered: true), AttemptParameters(f.Key, f.Attempts[n], n + 1)));
                        }

                        var countFirst = f.Attempts.Count > 0 && finishesOf[f.Key] > 1;
                        if (countFirst)
                        {
                            batch.BatchCommands.Add(BatchCommand(CountAttemptsSql,
                                ("key", f.Key), ("count", f.Attempts.Count), ("status", f.Attempts[^1].Status), ("error", Truncate(f.Attempts[^1].Error)), ("now", Millis(now))));
                            counted[i] = true;
                        }

                        var (sql, parameters) = FinishUpdate(f.Key, f.Owner, f.State, f.Status, f.Reason, countFirst ? 0 : f.Attempts.Count, Millis(now));
                        var update = BatchCommand(sql, parameters);
                        batch.BatchCommands.Add(update);
                        updates[i] = (i, update);
                        break;
                }
            }

            // Claims return their row when they took it; each claim has an owner of its own, so (key, owner) says whose.
            var claimed = new Dictionary<(string Key, string? Owner), LedgerEntry>();
            await using (var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                do
                {
                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        var entry = Read(reader);
                        claimed[(entry.Key, entry.LeaseOwner)] = entry;
                    }
                }
                while (await reader.NextResultAsync(cancellationToken).ConfigureAwait(false));
            }

            // Committed. What follows is per write: a failure here is that write's alone (the batch is not written again).
            for (var i = 0; i < writes.Count; i++)
            {
                try
                {
                    switch (writes[i])
                    {
                        case ClaimWrite c:
                            results[i] = claimed.TryGetValue((c.Claim.Key.Value, c.Owner), out var entry)
                                ? new ClaimResult(ClaimOutcome.Claimed, entry)
                                : await ClaimOnAsync(connection, null, c.Claim, c.Owner, c.Lease, c.Force, cancellationToken).ConfigureAwait(false);
                            break;
                        case FinishWrite f:
                            var finished = updates[i].Command.RecordsAffected == 1;
                            if (!finished && f.Attempts.Count > 0 && !counted[i])
                            {
                                await CountAttemptsAsync(connection, null, f.Key, f.Attempts.Count, f.Attempts[^1], cancellationToken).ConfigureAwait(false);
                            }

                            results[i] = finished;
                            break;
                    }
                }
                catch (Exception exception)
                {
                    results[i] = StoreErrors.IsUnavailable(exception) && exception is not StoreUnavailableException
                        ? new StoreUnavailableException($"The store ({settings.Description}) is unavailable: {StoreErrors.Describe(exception)}", exception)
                        : exception;
                }
            }

            return results;
        }, cancellationToken);
    }

    private static NpgsqlBatchCommand BatchCommand(string sql, params (string Name, object? Value)[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var (name, value) in parameters)
        {
            var parameter = new NpgsqlParameter { ParameterName = name, Value = value ?? DBNull.Value };
            if (value is null)
            {
                parameter.DbType = NullType(name);
            }

            command.Parameters.Add(parameter);
        }

        return command;
    }
}
