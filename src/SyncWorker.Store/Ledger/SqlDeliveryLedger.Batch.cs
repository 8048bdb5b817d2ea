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
            var now = time.GetUtcNow();

            // The writes of rows written once in this batch (and claims that are not forced) go in three statements
            // whatever their number, each over arrays (unnest): the claims, the attempts, the finishes. A row written more
            // than once here, or a forced claim, keeps a statement of its own per write, in the order they came.
            var perKey = new Dictionary<string, int>(writes.Count, StringComparer.Ordinal);
            foreach (var write in writes)
            {
                perKey[write.Key] = perKey.GetValueOrDefault(write.Key) + 1;
            }

            var together = new bool[writes.Count];
            var claims = new List<ClaimWrite>();
            var finishes = new List<FinishWrite>();
            for (var i = 0; i < writes.Count; i++)
            {
                together[i] = perKey[writes[i].Key] == 1 && writes[i] is not ClaimWrite { Force: true };
                if (!together[i])
                {
                    continue;
                }

                if (writes[i] is ClaimWrite claim)
                {
                    claims.Add(claim);
                }
                else
                {
                    finishes.Add((FinishWrite)writes[i]);
                }
            }

            if (claims.Count > 0)
            {
                batch.BatchCommands.Add(ClaimsTogether(claims, now));
            }

            if (finishes.Any(f => f.Attempts.Count > 0))
            {
                batch.BatchCommands.Add(AttemptsTogether(finishes));
            }

            if (finishes.Count > 0)
            {
                batch.BatchCommands.Add(FinishesTogether(finishes, Millis(now)));
            }

            for (var i = 0; i < writes.Count; i++)
            {
                if (together[i])
                {
                    continue;
                }

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

                        var (sql, parameters) = FinishUpdate(f.Key, f.Owner, f.State, f.Status, f.Reason, f.Attempts.Count, Millis(now));
                        var update = BatchCommand(sql, parameters);
                        batch.BatchCommands.Add(update);
                        updates[i] = (i, update);
                        break;
                }
            }

            // Claims return their row when they took it; each claim has an owner of its own, so (key, owner) says whose.
            // The finishes written together return the keys of the rows they ended (one column).
            var claimed = new Dictionary<(string Key, string? Owner), LedgerEntry>();
            var ended = new HashSet<string>(StringComparer.Ordinal);
            await using (var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                do
                {
                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        if (reader.FieldCount == 1)
                        {
                            ended.Add(reader.GetString(0));
                            continue;
                        }

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
                            var finished = together[i] ? ended.Contains(f.Key) : updates[i].Command.RecordsAffected == 1;
                            if (!finished && f.Attempts.Count > 0)
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

    private static readonly string ClaimsTogetherSql = $"""
        INSERT INTO deliveries (delivery_key, target, subject, action, action_instance, account, event_id, webhook_id, state,
            lease_owner, lease_until, attempts, repeats_suppressed, created_at, updated_at, progress)
        SELECT c.key, c.target, c.subject, c.action, c.instance, c.account, c.event, c.webhook, '{DeliveryState.InFlight.Name()}',
            c.owner, c.until, 0, 0, @now, @now, c.progress
        FROM unnest(@keys::text[], @targets::text[], @subjects::text[], @actions::text[], @instances::text[], @accounts::text[],
            @events::text[], @webhooks::text[], @owners::text[], @untils::bigint[], @progresses::bigint[])
            AS c(key, target, subject, action, instance, account, event, webhook, owner, until, progress)
        ON CONFLICT (delivery_key) DO UPDATE SET state = '{DeliveryState.InFlight.Name()}', lease_owner = excluded.lease_owner,
            lease_until = excluded.lease_until, event_id = excluded.event_id, updated_at = excluded.updated_at,
            progress = COALESCE(excluded.progress, deliveries.progress)
        WHERE deliveries.state NOT IN ({FinalStates})
          AND (deliveries.state <> '{DeliveryState.InFlight.Name()}' OR deliveries.lease_until < @now OR deliveries.lease_owner = excluded.lease_owner)
        RETURNING {Columns}
        """;

    /// <summary>
    /// The claims of rows claimed once in the batch, none forced, as one upsert over arrays: what <see cref="ClaimSql"/>
    /// does for one. Returns the rows it took (their <c>lease_owner</c> says whose); the others are looked at afterwards.
    /// </summary>
    private static NpgsqlBatchCommand ClaimsTogether(List<ClaimWrite> claims, DateTimeOffset now)
    {
        var command = new NpgsqlBatchCommand(ClaimsTogetherSql);
        command.Parameters.Add(new NpgsqlParameter("keys", claims.Select(c => c.Claim.Key.Value).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("targets", claims.Select(c => c.Claim.Key.Target).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("subjects", claims.Select(c => c.Claim.Key.Subject).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("actions", claims.Select(c => c.Claim.Key.Action).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("instances", claims.Select(c => c.Claim.Key.ActionInstance).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("accounts", claims.Select(c => c.Claim.Account).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("events", claims.Select(c => c.Claim.EventId).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("webhooks", claims.Select(c => c.Claim.WebhookId).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("owners", claims.Select(c => c.Owner).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("untils", claims.Select(c => Millis(now + c.Lease)).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("progresses", claims.Select(c => c.Claim.Progress).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("now", Millis(now)));
        return command;
    }

    /// <summary>
    /// The attempts of the finishes written together, as one insert over arrays, each numbered after its row's earlier
    /// attempts (as <see cref="InsertAttemptSql"/> does), in the order given.
    /// </summary>
    private static NpgsqlBatchCommand AttemptsTogether(List<FinishWrite> finishes)
    {
        var rows = finishes.SelectMany(f => f.Attempts.Select((attempt, n) => (f.Key, Number: n + 1, Attempt: attempt))).ToList();
        var command = new NpgsqlBatchCommand("""
            INSERT INTO delivery_attempts (delivery_key, attempt, owner, started_at, duration_ms, outcome, status, error)
            SELECT a.key, COALESCE(d.attempts, 0) + a.n, a.owner, a.started, a.duration, a.outcome, a.status, a.error
            FROM unnest(@keys::text[], @numbers::integer[], @owners::text[], @starteds::bigint[], @durations::bigint[], @outcomes::text[],
                @statuses::integer[], @errors::text[]) WITH ORDINALITY AS a(key, n, owner, started, duration, outcome, status, error, position)
            LEFT JOIN deliveries d ON d.delivery_key = a.key
            ORDER BY a.position
            """);
        command.Parameters.Add(new NpgsqlParameter("keys", rows.Select(r => r.Key).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("numbers", rows.Select(r => r.Number).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("owners", rows.Select(r => r.Attempt.Owner).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("starteds", rows.Select(r => Millis(r.Attempt.StartedAt)).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("durations", rows.Select(r => (long)r.Attempt.Duration.TotalMilliseconds).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("outcomes", rows.Select(r => r.Attempt.Outcome).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("statuses", rows.Select(r => r.Attempt.Status).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("errors", rows.Select(r => Truncate(r.Attempt.Error)).ToArray()));
        return command;
    }

    private static readonly string FinishesTogetherSql = $"""
        UPDATE deliveries d SET state = f.state, lease_owner = NULL, lease_until = NULL, last_status = f.status, last_error = f.error,
            updated_at = @now, attempts = d.attempts + f.count,
            delivered_at = CASE WHEN f.state = '{DeliveryState.Delivered.Name()}' THEN @now ELSE d.delivered_at END
        FROM unnest(@keys::text[], @owners::text[], @states::text[], @statuses::integer[], @errors::text[], @counts::integer[])
            AS f(key, owner, state, status, error, count)
        WHERE d.delivery_key = f.key AND (f.state = '{DeliveryState.Delivered.Name()}' OR d.lease_owner = f.owner)
        RETURNING d.delivery_key
        """;

    /// <summary>
    /// The finishes of rows finished once in the batch, as one update over arrays: what <see cref="FinishUpdate"/> does for
    /// one (delivered whoever holds the lease, any other state only by its owner). Returns the keys of the rows it ended.
    /// </summary>
    private static NpgsqlBatchCommand FinishesTogether(List<FinishWrite> finishes, long now)
    {
        var command = new NpgsqlBatchCommand(FinishesTogetherSql);
        command.Parameters.Add(new NpgsqlParameter("keys", finishes.Select(f => f.Key).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("owners", finishes.Select(f => f.Owner).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("states", finishes.Select(f => f.State.Name()).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("statuses", finishes.Select(f => f.Status).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("errors", finishes.Select(f => Truncate(f.Reason)).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("counts", finishes.Select(f => f.Attempts.Count).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("now", now));
        return command;
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
