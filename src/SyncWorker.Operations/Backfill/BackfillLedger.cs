using System.Text.Json;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using SyncWorker.Messaging.Broker;
using SyncWorker.Operations.Cli;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Operations.Backfill;

/// <summary>
/// What makes <c>backfill</c> idempotent: a lock in RabbitMQ, and a ledger of the event ids it fed, kept in the store
/// (<see cref="IBackfillLedger"/>); earlier versions kept the ledger in a RabbitMQ queue, which a run imports once.
/// </summary>
/// <remarks>
/// <para>
/// <b>Lock.</b> <see cref="AcquireLockAsync"/> declares the exclusive queue <see cref="LockQueue"/> on the verb's
/// connection. The broker lets one connection own it; another backfill's declare fails with <c>RESOURCE_LOCKED</c>
/// (reply code 405) and stops. The broker deletes the queue when the owning connection closes, also when the process
/// dies, so a crash never leaves a stale lock. It stays in RabbitMQ, where earlier versions take it too: during an
/// upgrade an old and a new backfill never run at once, and one never reads the old ledger queue while the other writes it.
/// </para>
/// <para>
/// <b>The old ledger queue.</b> Earlier versions kept one persistent message per fed event in the durable queue
/// <see cref="LegacyLedgerQueue"/>, its <c>message_id</c> the event id, its body the event's type, account and time fed.
/// <see cref="ImportLegacyAsync"/> reads every entry (taking each without acknowledging it), records them in the store,
/// and only then deletes the queue: a run stopped in between imports the same entries again, which adds nothing twice.
/// </para>
/// </remarks>
internal static class BackfillLedger
{
    /// <summary>The ledger queue of earlier versions: one message per fed event, <c>message_id</c> = event id.</summary>
    public const string LegacyLedgerQueue = "syncworker.backfill.ledger";

    /// <summary>The exclusive queue whose owner is the one running backfill.</summary>
    public const string LockQueue = "syncworker.backfill.lock";

    /// <summary>How long a ledger entry is kept: a day longer than Stripe lists events.</summary>
    public static TimeSpan Retention => BackfillLedgerRetention.Retention;

    private const ushort ResourceLocked = 405;

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

    /// <summary>
    /// The entries of the old ledger queue (none when it does not exist), read holding the lock. Every message is taken
    /// without acknowledgement and put back, in place, when the reading channel closes; entries older than
    /// <see cref="Retention"/> (by the time they were fed) are left out, as the queue's TTL would have dropped them. Returns
    /// once the queue holds every entry taken again (or after about 5 s).
    /// </summary>
    /// <remarks>
    /// It takes messages until the broker has none left to give and at least as many as the queue's message count said: a
    /// quorum queue takes back what the previous reader held a moment after that reader's channel closed, and its count can
    /// lag behind. Nothing else writes the queue while the lock is held, so the loop ends.
    /// </remarks>
    public static async Task<IReadOnlyList<BackfillEntry>> ReadLegacyAsync(
        IConnection connection, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var entries = new Dictionary<string, BackfillEntry>(StringComparer.Ordinal);
        if (await QueueProbe.ProbeAsync(connection, LegacyLedgerQueue, cancellationToken) is not { } state)
        {
            return [];
        }

        var taken = 0;
        var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                while (await channel.BasicGetAsync(LegacyLedgerQueue, autoAck: false, cancellationToken) is { } message)
                {
                    taken++;
                    if (Parse(message, now) is { } entry && now - entry.FedAt < Retention)
                    {
                        entries.TryAdd(entry.EventId, entry);
                    }
                }

                // Entries held back by the previous reader and not yet returned: the count says more than what was taken.
                if (taken >= state.Messages || attempt >= SettleAttempts)
                {
                    break;
                }

                await Task.Delay(SettleDelay, cancellationToken);
            }
        }
        finally
        {
            await Channels.CloseAndDisposeAsync(channel);
        }

        // Before the lock goes: every entry taken is ready again, so the next run (a dry run reads without importing),
        // even one started at once on another node, finds them all.
        for (var attempt = 0; attempt < SettleAttempts; attempt++)
        {
            if (await QueueProbe.ProbeAsync(connection, LegacyLedgerQueue, cancellationToken) is not { } after || after.Messages >= taken)
            {
                break;
            }

            await Task.Delay(SettleDelay, cancellationToken);
        }

        return [.. entries.Values];
    }

    /// <summary>
    /// Imports the old ledger queue into <paramref name="ledger"/>, then deletes the queue; returns how many entries it
    /// held (0 when there was no queue). Call it holding the lock.
    /// </summary>
    public static async Task<int> ImportLegacyAsync(
        IConnection connection, IBackfillLedger ledger, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ledger);
        if (await QueueProbe.ProbeAsync(connection, LegacyLedgerQueue, cancellationToken) is null)
        {
            return 0;
        }

        var entries = await ReadLegacyAsync(connection, now, cancellationToken);
        await ledger.RecordFedAsync(entries, cancellationToken);

        // Recorded (committed) first: only now may the queue go.
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await channel.QueueDeleteAsync(LegacyLedgerQueue, ifUnused: false, ifEmpty: false, cancellationToken: cancellationToken);
        return entries.Count;
    }

    /// <summary>How long to wait between looks at a queue whose held entries are still on their way back.</summary>
    private static readonly TimeSpan SettleDelay = TimeSpan.FromMilliseconds(100);

    /// <summary>How many looks (about 5 s in all).</summary>
    private const int SettleAttempts = 50;

    /// <summary>An entry of the old queue: the event id from <c>message_id</c>, the rest from its body where it can be read.</summary>
    private static BackfillEntry? Parse(BasicGetResult message, DateTimeOffset now)
    {
        if (message.BasicProperties.MessageId is not { Length: > 0 } id)
        {
            return null;
        }

        LegacyEntry? body = null;
        try
        {
            body = JsonSerializer.Deserialize<LegacyEntry>(message.Body.Span, LegacyEntry.Options);
        }
        catch (JsonException)
        {
            // Only message_id was ever read back; the body is for people, and a body that is not the expected JSON is no reason to feed the event again.
        }

        var fedAt = body?.FedAt
            ?? (message.BasicProperties.IsTimestampPresent() ? DateTimeOffset.FromUnixTimeSeconds(message.BasicProperties.Timestamp.UnixTime) : now);
        return new BackfillEntry(id, body?.Type is { Length: > 0 } type ? type : "unknown", body?.Account, fedAt);
    }

    /// <summary>The body of an old ledger entry (<c>{"eventId","type","account","fedAt"}</c>).</summary>
    private sealed record LegacyEntry(string? EventId, string? Type, string? Account, DateTimeOffset? FedAt)
    {
        public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);
    }
}
