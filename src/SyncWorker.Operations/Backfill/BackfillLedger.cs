using System.Text.Json;
using RabbitMQ.Client;
using SyncWorker.Messaging;
using RabbitMQ.Client.Exceptions;
using SyncWorker.Operations.Broker;
using SyncWorker.Operations.Cli;

namespace SyncWorker.Operations.Backfill;

/// <summary>
/// What makes <c>backfill</c> idempotent, kept in RabbitMQ itself: a lock, and a ledger of the event ids it fed.
/// </summary>
/// <remarks>
/// <para>
/// <b>Lock.</b> <see cref="AcquireLockAsync"/> declares the exclusive queue <see cref="LockQueue"/> on the verb's
/// connection. The broker lets one connection own it; another backfill's declare fails with <c>RESOURCE_LOCKED</c>
/// (reply code 405) and stops. The broker deletes the queue when the owning connection closes, also when the process
/// dies, so a crash never leaves a stale lock. Dry runs take the lock too: reading the ledger holds its messages, and a
/// concurrent reader would see them missing.
/// </para>
/// <para>
/// <b>Ledger.</b> The durable queue <see cref="LedgerQueue"/> holds one tiny persistent message per fed event, its
/// <c>message_id</c> the Stripe event id, expiring after <see cref="Retention"/> (<c>x-message-ttl</c>; Stripe lists
/// events of the last 30 days only, so older entries can no longer matter). <see cref="ReadAsync"/> takes every message
/// with <c>basic.get</c> without acknowledging it, then closes its channel, which makes the broker put every one back
/// in place. <see cref="Writer.RecordAsync"/> publishes an entry (default exchange, mandatory, confirmed) after the
/// event's own publish was confirmed.
/// </para>
/// </remarks>
internal static class BackfillLedger
{
    /// <summary>The ledger queue: one message per fed event, <c>message_id</c> = event id.</summary>
    public const string LedgerQueue = "syncworker.backfill.ledger";

    /// <summary>The exclusive queue whose owner is the one running backfill.</summary>
    public const string LockQueue = "syncworker.backfill.lock";

    /// <summary>How long a ledger entry is kept: a day longer than Stripe lists events.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromDays(31);

    private const ushort ResourceLocked = 405;

    /// <summary>The ledger queue's arguments (<c>x-message-ttl</c> in milliseconds, a long: 31 days exceed an int).</summary>
    public static Dictionary<string, object?> LedgerArguments(QueueType queueType = QueueType.Classic) =>
        QueueArguments.For(queueType, [KeyValuePair.Create<string, object?>("x-message-ttl", (long)Retention.TotalMilliseconds)]);

    /// <summary>Takes the lock for the life of <paramref name="connection"/>; exit 1 when another backfill holds it.</summary>
    public static async Task AcquireLockAsync(IConnection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            await channel.QueueDeclareAsync(
                LockQueue, durable: false, exclusive: true, autoDelete: true, arguments: null, cancellationToken: cancellationToken);
        }
        catch (OperationInterruptedException exception) when (exception.ShutdownReason?.ReplyCode == ResourceLocked)
        {
            throw CliException.Failed(
                $"Another backfill is running: it holds the lock queue {LockQueue} on its connection. Wait for it to finish " +
                "(the broker releases the lock when that process ends), then run backfill again; nothing was listed or fed.");
        }
        finally
        {
            // The exclusive queue belongs to the connection, not to this channel.
            await Channels.CloseAndDisposeAsync(channel);
        }
    }

    /// <summary>Declares the ledger queue (idempotently; the same arguments every time).</summary>
    public static async Task DeclareAsync(IConnection connection, CancellationToken cancellationToken, QueueType queueType = QueueType.Classic)
    {
        ArgumentNullException.ThrowIfNull(connection);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await channel.QueueDeclareAsync(
            LedgerQueue, durable: true, exclusive: false, autoDelete: false, LedgerArguments(queueType), cancellationToken: cancellationToken);
    }

    /// <summary>
    /// The event ids in the ledger (empty when the queue does not exist). Every message is taken without acknowledgement
    /// and put back, in place, when the channel closes; call it holding the lock, and call
    /// <see cref="WaitUntilWholeAsync"/> before letting the lock go.
    /// </summary>
    /// <remarks>
    /// It takes messages until the broker has none left to give, not as many as the queue's message count: a quorum queue
    /// takes back what the previous reader held a moment after that reader's channel closed, and its count can lag
    /// behind (0 for a moment, seen on a two-node cluster right after a run connected to the other node). Nothing else
    /// writes the ledger while the lock is held, so the loop ends.
    /// </remarks>
    public static async Task<LedgerRead> ReadAsync(IConnection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var ids = new HashSet<string>(StringComparer.Ordinal);
        if (await QueueProbe.ProbeAsync(connection, LedgerQueue, cancellationToken) is not { } state)
        {
            return new LedgerRead(ids, 0);
        }

        var taken = 0;
        var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            while (await channel.BasicGetAsync(LedgerQueue, autoAck: false, cancellationToken) is { } message)
            {
                taken++;
                if (message.BasicProperties.MessageId is { Length: > 0 } id)
                {
                    ids.Add(id);
                }
            }

            // Entries held back by the previous reader and not yet returned: the count says more than what was taken.
            for (var attempt = 0; attempt < SettleAttempts && taken < state.Messages; attempt++)
            {
                await Task.Delay(SettleDelay, cancellationToken);
                while (await channel.BasicGetAsync(LedgerQueue, autoAck: false, cancellationToken) is { } message)
                {
                    taken++;
                    if (message.BasicProperties.MessageId is { Length: > 0 } id)
                    {
                        ids.Add(id);
                    }
                }
            }
        }
        finally
        {
            await Channels.CloseAndDisposeAsync(channel);
        }

        return new LedgerRead(ids, taken);
    }

    /// <summary>
    /// Waits (up to about <see cref="SettleAttempts"/> × <see cref="SettleDelay"/>) until the ledger's ready count is back to
    /// at least <paramref name="expected"/>: what this run read (and so held) plus what it wrote. Called before the lock is
    /// released, so the next run, even one started at once on another node, finds every entry ready. Returns false when
    /// the count did not come back in time (entries expired meanwhile, or someone purged the queue).
    /// </summary>
    public static async Task<bool> WaitUntilWholeAsync(IConnection connection, int expected, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        for (var attempt = 0; ; attempt++)
        {
            var state = await QueueProbe.ProbeAsync(connection, LedgerQueue, cancellationToken);
            if (state is null || state.Messages >= expected)
            {
                return true;
            }

            if (attempt >= SettleAttempts)
            {
                return false;
            }

            await Task.Delay(SettleDelay, cancellationToken);
        }
    }

    /// <summary>How long to wait between looks at a ledger whose held entries are still on their way back.</summary>
    private static readonly TimeSpan SettleDelay = TimeSpan.FromMilliseconds(100);

    /// <summary>How many looks (about 5 s in all).</summary>
    private const int SettleAttempts = 50;

    /// <summary>Opens a confirmed channel for ledger entries.</summary>
    public static async Task<Writer> OpenWriterAsync(IConnection connection, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true),
            cancellationToken);
        return new Writer(channel, timeProvider);
    }

    /// <summary>Writes ledger entries on one confirmed channel.</summary>
    internal sealed class Writer(IChannel channel, TimeProvider timeProvider) : IAsyncDisposable
    {
        /// <summary>
        /// Records that <paramref name="evt"/> was fed; returns once the broker confirmed the entry into the ledger queue
        /// and throws <see cref="PublishException"/> when it was returned (no ledger queue) or not confirmed.
        /// </summary>
        public async Task RecordAsync(BackfillEvent evt, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(evt);
            var fedAt = timeProvider.GetUtcNow();
            var properties = new BasicProperties
            {
                MessageId = evt.Id,
                Persistent = true,
                ContentType = "application/json",
                Type = "syncworker.backfill.fed",
                Timestamp = new AmqpTimestamp(fedAt.ToUnixTimeSeconds()),
            };
            var body = JsonSerializer.SerializeToUtf8Bytes(new LedgerEntry(evt.Id, evt.Type, evt.Account, fedAt), LedgerEntry.Options);
            await channel.BasicPublishAsync(string.Empty, LedgerQueue, mandatory: true, properties, body, cancellationToken);
        }

        public async ValueTask DisposeAsync() => await Channels.CloseAndDisposeAsync(channel);
    }

    /// <summary>What <see cref="ReadAsync"/> found: the event ids, and how many entries it took (and held).</summary>
    internal sealed record LedgerRead(HashSet<string> Ids, int Taken);

    /// <summary>The body of a ledger entry, for people inspecting the queue; only <c>message_id</c> is read back.</summary>
    private sealed record LedgerEntry(string EventId, string Type, string? Account, DateTimeOffset FedAt)
    {
        public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);
    }
}
