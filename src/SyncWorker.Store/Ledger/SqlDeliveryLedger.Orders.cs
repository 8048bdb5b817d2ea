using System.Data.Common;
using System.Text;

namespace SyncWorker.Store.Ledger;

/// <summary>The <c>orders</c> table, in the same store and under the same turns as the ledger.</summary>
public sealed partial class SqlDeliveryLedger : IOrderRegistry
{
    private const string OrderColumns = "order_id, payment_intent, account, livemode, paid_event_id, document";

    /// <inheritdoc />
    public Task RecordAsync(OrderRecord order, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(order);
        ArgumentException.ThrowIfNullOrWhiteSpace(order.OrderId);
        return RunAsync(async connection =>
        {
            var now = Millis(time.GetUtcNow());
            await using var command = Command(connection, """
                INSERT INTO orders (order_id, payment_intent, account, livemode, paid_event_id, document, created_at, updated_at)
                VALUES (@order, @intent, @account, @livemode, @event, @document, @now, @now)
                ON CONFLICT (order_id) DO UPDATE SET
                    payment_intent = COALESCE(orders.payment_intent, @intent),
                    paid_event_id = COALESCE(orders.paid_event_id, @event),
                    document = COALESCE(orders.document, @document),
                    updated_at = @now
                """,
                ("order", order.OrderId), ("intent", order.PaymentIntent), ("account", order.Account), ("livemode", order.Livemode),
                ("event", order.PaidEventId), ("document", order.Document is null ? null : Encoding.UTF8.GetString(order.Document)), ("now", now));
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<OrderRecord?> GetOrderAsync(string orderId, CancellationToken cancellationToken) =>
        FindOrderAsync("order_id", orderId, cancellationToken);

    /// <inheritdoc />
    public Task<OrderRecord?> FindByPaymentIntentAsync(string paymentIntent, CancellationToken cancellationToken) =>
        FindOrderAsync("payment_intent", paymentIntent, cancellationToken);

    private Task<OrderRecord?> FindOrderAsync(string column, string value, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(value);
        return RunAsync(async connection =>
        {
            await using var command = Command(connection,
                $"SELECT {OrderColumns} FROM orders WHERE {column} = @value ORDER BY created_at LIMIT 1", ("value", value));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadOrder(reader) : null;
        }, cancellationToken);
    }

    private static OrderRecord ReadOrder(DbDataReader reader) =>
        new(
            reader.GetString(0),
            reader.IsDBNull(1) ? null : reader.GetString(1),
            reader.IsDBNull(2) ? null : reader.GetString(2),
            reader.GetBoolean(3),
            reader.IsDBNull(4) ? null : reader.GetString(4),
            reader.IsDBNull(5) ? null : Encoding.UTF8.GetBytes(reader.GetString(5)));
}
