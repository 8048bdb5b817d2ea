using System.Data.Common;
using System.Threading.Channels;
using Npgsql;

namespace SyncWorker.Store.Ledger;

/// <summary>
/// <see cref="IDeliveryLedger"/> that writes the claims and finishes of concurrent deliveries together: while one
/// transaction is being written, the claims and finishes that arrive meanwhile queue up, and the next transaction takes
/// them all (at most <see cref="MaxBatch"/>), so a busy forwarder commits once for many deliveries instead of once or
/// twice for each. Nothing waits for a batch to fill: a lone claim or finish is written at once, on its own, as without
/// batching. SQLite writes one transaction at a time (it has one writer); PostgreSQL <see cref="PostgresWriters"/> side by
/// side, each batch's statements in one round trip (<see cref="NpgsqlBatch"/>, an implicit transaction). Each caller gets its own row's
/// result, and only once the transaction holding it is committed (a message is never acknowledged before its row's
/// outcome is stored). The steps of a transaction run one after another in the order they arrived for one row, so of
/// two claims of one row exactly one is <see cref="ClaimOutcome.Claimed"/>, as without batching; rows are written in key
/// order, so two instances' transactions never wait for each other in a cycle. When the store is unreachable every
/// caller of the batch gets the <see cref="StoreUnavailableException"/>; any other failure is retried one delivery at a
/// time, so one bad row fails only its own caller. Everything else goes straight to <see cref="SqlDeliveryLedger"/>.
/// </summary>
public sealed class BatchingDeliveryLedger : IDeliveryLedger, IAsyncDisposable, IDisposable
{
    /// <summary>The most claims and finishes written in one transaction.</summary>
    public const int MaxBatch = 64;

    /// <summary>
    /// Transactions written at once on PostgreSQL, which commits concurrent transactions together and where each statement
    /// is a round trip: one writer alone would make every delivery wait for the others' round trips. SQLite: one.
    /// </summary>
    public const int PostgresWriters = 8;

    private readonly SqlDeliveryLedger _inner;
    private readonly Channel<Write> _queue = Channel.CreateUnbounded<Write>(new UnboundedChannelOptions { SingleReader = false });
    private readonly Task _writer;

    /// <summary>Starts the writer over <paramref name="inner"/>.</summary>
    public BatchingDeliveryLedger(SqlDeliveryLedger inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        _writer = Task.WhenAll(Enumerable.Range(0, inner.WritesInParallel ? PostgresWriters : 1).Select(_ => Task.Run(WriteBatchesAsync)));
    }

    /// <inheritdoc />
    public Task<ClaimResult> ClaimAsync(DeliveryClaim claim, string owner, TimeSpan lease, bool force, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(claim);
        ArgumentException.ThrowIfNullOrWhiteSpace(owner);
        var write = new Write<ClaimResult>(new ClaimWrite(claim, owner, lease, force),
            (connection, transaction, ct) => _inner.ClaimOnAsync(connection, transaction, claim, owner, lease, force, ct),
            ct => _inner.ClaimAsync(claim, owner, lease, force, ct), cancellationToken);
        return Enqueue(write) ? write.Result : _inner.ClaimAsync(claim, owner, lease, force, cancellationToken);
    }

    /// <inheritdoc />
    public Task<bool> FinishAsync(string key, string owner, DeliveryState state, int? status, string? reason, IReadOnlyList<DeliveryAttemptRecord> attempts, CancellationToken cancellationToken)
    {
        SqlDeliveryLedger.CheckFinish(state, attempts);
        var write = new Write<bool>(new FinishWrite(key, owner, state, status, reason, attempts),
            (connection, transaction, ct) => _inner.FinishOnAsync(connection, transaction, key, owner, state, status, reason, attempts, ct),
            ct => _inner.FinishAsync(key, owner, state, status, reason, attempts, ct), cancellationToken);
        return Enqueue(write) ? write.Result : _inner.FinishAsync(key, owner, state, status, reason, attempts, cancellationToken);
    }

    /// <inheritdoc />
    public Task<bool> RenewAsync(string key, string owner, TimeSpan lease, CancellationToken cancellationToken) =>
        _inner.RenewAsync(key, owner, lease, cancellationToken);

    /// <inheritdoc />
    public Task RecordAttemptAsync(string key, DeliveryAttemptRecord attempt, CancellationToken cancellationToken) =>
        _inner.RecordAttemptAsync(key, attempt, cancellationToken);

    /// <inheritdoc />
    public Task<LedgerEntry?> GetAsync(string key, CancellationToken cancellationToken) => _inner.GetAsync(key, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<LedgerEntry>> FindBySubjectAsync(string subject, CancellationToken cancellationToken) =>
        _inner.FindBySubjectAsync(subject, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<DeliveryAttemptRecord>> AttemptsAsync(string key, CancellationToken cancellationToken) =>
        _inner.AttemptsAsync(key, cancellationToken);

    /// <inheritdoc />
    public Task<DeliveryPage> ListAsync(DeliveryQuery query, CancellationToken cancellationToken) => _inner.ListAsync(query, cancellationToken);

    /// <summary>Writes what is queued, then stops the writer; later calls are written one by one.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
    }

    /// <inheritdoc cref="DisposeAsync" />
    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _writer.GetAwaiter().GetResult();
    }

    /// <summary>Claims and finishes written so far, and the transactions they took (fewer when batches formed).</summary>
    public (long Writes, long Transactions) Written => (Interlocked.Read(ref _writes), Interlocked.Read(ref _transactions));

    private long _writes;
    private long _transactions;

    private bool Enqueue(Write write) => _queue.Writer.TryWrite(write);

    private async Task WriteBatchesAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<Write>(MaxBatch);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < MaxBatch && reader.TryRead(out var write))
            {
                // A caller that gave up before its turn is not written (a claim nobody would finish would hold the row).
                if (!write.TryCancel())
                {
                    batch.Add(write);
                }
            }

            if (batch.Count == 0)
            {
                continue;
            }

            // Stable (OrderBy, unlike List.Sort): one row's steps keep their order of arrival.
            await WriteAsync(batch.OrderBy(w => w.Key, StringComparer.Ordinal).ToList()).ConfigureAwait(false);
        }
    }

    private async Task WriteAsync(List<Write> batch)
    {
        Interlocked.Add(ref _writes, batch.Count);
        Interlocked.Increment(ref _transactions);
        if (batch.Count == 1)
        {
            // Alone: written as without batching.
            await batch[0].RunAloneAsync().ConfigureAwait(false);
            return;
        }

        try
        {
            if (_inner.WritesInParallel)
            {
                // PostgreSQL: every statement of the batch in one round trip.
                var results = await _inner.WriteTogetherAsync(batch.Select(w => w.Data).ToList(), CancellationToken.None).ConfigureAwait(false);
                for (var i = 0; i < batch.Count; i++)
                {
                    if (results[i] is Exception failure)
                    {
                        batch[i].Fail(failure);
                    }
                    else
                    {
                        batch[i].Complete(results[i]);
                    }
                }

                return;
            }

            await _inner.RunInOneTransactionAsync(batch.Select(w => (Func<DbConnection, DbTransaction, CancellationToken, Task>)w.RunAsync).ToList(), CancellationToken.None)
                .ConfigureAwait(false);
            batch.ForEach(w => w.Complete());
            return;
        }
        catch (StoreUnavailableException exception)
        {
            batch.ForEach(w => w.Fail(exception));
            return;
        }
        catch (Exception)
        {
            // One row's problem (or a deadlock with another instance): each on its own below.
        }

        foreach (var write in batch)
        {
            await write.RunAloneAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A claim or finish waiting for its transaction.</summary>
    private abstract class Write(LedgerWrite data, CancellationToken cancellationToken)
    {
        public string Key => Data.Key;

        /// <summary>The claim or finish, as data (written together with others on PostgreSQL).</summary>
        public LedgerWrite Data { get; } = data;

        protected CancellationToken CancellationToken { get; } = cancellationToken;

        /// <summary>Runs the step in the batch's transaction, keeping its result until the commit.</summary>
        public abstract Task RunAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken);

        /// <summary>Writes the step on its own, as <see cref="SqlDeliveryLedger"/> does without batching, and completes the caller.</summary>
        public abstract Task RunAloneAsync();

        /// <summary>Hands the kept result to the caller (after the commit).</summary>
        public abstract void Complete();

        /// <summary>Hands <paramref name="result"/> to the caller (after the commit).</summary>
        public abstract void Complete(object result);

        public abstract void Fail(Exception exception);

        /// <summary>True (and the caller's task cancelled) when the caller gave up before the step ran.</summary>
        public abstract bool TryCancel();
    }

    private sealed class Write<T>(
        LedgerWrite data, Func<DbConnection, DbTransaction, CancellationToken, Task<T>> step, Func<CancellationToken, Task<T>> alone, CancellationToken cancellationToken)
        : Write(data, cancellationToken)
    {
        private readonly TaskCompletionSource<T> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T? _value;

        public Task<T> Result => _result.Task;

        public override async Task RunAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken) =>
            _value = await step(connection, transaction, cancellationToken).ConfigureAwait(false);

        public override async Task RunAloneAsync()
        {
            try
            {
                _result.TrySetResult(await alone(CancellationToken.None).ConfigureAwait(false));
            }
            catch (Exception exception)
            {
                _result.TrySetException(exception);
            }
        }

        public override void Complete() => _result.TrySetResult(_value!);

        public override void Complete(object result) => _result.TrySetResult((T)result);

        public override void Fail(Exception exception) => _result.TrySetException(exception);

        public override bool TryCancel() => CancellationToken.IsCancellationRequested && _result.TrySetCanceled(CancellationToken);
    }
}
