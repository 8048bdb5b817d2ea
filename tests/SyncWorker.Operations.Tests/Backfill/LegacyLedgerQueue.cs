using System.Text.Json;
using Microsoft.Extensions.Configuration;
using RabbitMQ.Client;
using SyncWorker.Messaging;
using SyncWorker.Operations.Backfill;
using SyncWorker.Store;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Operations.Tests.Backfill;

/// <summary>
/// The backfill ledger as earlier versions kept it, for upgrade tests: the durable queue <c>syncworker.backfill.ledger</c>
/// (31-day <c>x-message-ttl</c>), one persistent message per fed event, <c>message_id</c> the event id, written here exactly
/// as those versions wrote it. And the store's ledger, read back.
/// </summary>
internal static class LegacyLedgerQueue
{
    /// <summary>Declares the old queue as earlier versions did and writes an entry per event, confirmed.</summary>
    public static async Task SeedAsync(IConnection connection, IEnumerable<(string Id, string Type, string? Account, DateTimeOffset FedAt)> entries, QueueType queueType = QueueType.Classic)
    {
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await channel.QueueDeclareAsync(
            BackfillLedger.LegacyLedgerQueue,
            durable: true,
            exclusive: false,
            autoDelete: false,
            QueueArguments.For(queueType, [KeyValuePair.Create<string, object?>("x-message-ttl", (long)TimeSpan.FromDays(31).TotalMilliseconds)]));
        foreach (var (id, type, account, fedAt) in entries)
        {
            var properties = new BasicProperties
            {
                MessageId = id,
                Persistent = true,
                ContentType = "application/json",
                Type = "syncworker.backfill.fed",
                Timestamp = new AmqpTimestamp(fedAt.ToUnixTimeSeconds()),
            };
            var body = JsonSerializer.SerializeToUtf8Bytes(new { eventId = id, type, account, fedAt });
            await channel.BasicPublishAsync(string.Empty, BackfillLedger.LegacyLedgerQueue, mandatory: true, properties, body);
        }
    }

    /// <summary>Every entry of the store's backfill ledger that <paramref name="configuration"/> names.</summary>
    public static async Task<IReadOnlySet<string>> StoreEntriesAsync(IConfiguration configuration)
    {
        using var store = new SqlDeliveryLedger(StoreSettings.Resolve(configuration, AppContext.BaseDirectory), TimeProvider.System);
        return await store.FedSinceAsync(DateTimeOffset.UnixEpoch, CancellationToken.None);
    }
}
