namespace SyncWorker.Store.Ledger;

public sealed partial class SqlDeliveryLedger
{
    /// <summary>
    /// The states of a delivery that waits for a redelivery in a delay queue: <see cref="DeliveryState.Retrying"/> (it
    /// failed and waits for its next attempt) and <see cref="DeliveryState.Waiting"/> (held back for its order's payment).
    /// </summary>
    public static readonly IReadOnlyList<DeliveryState> RedeliveryStates = [DeliveryState.Retrying, DeliveryState.Waiting];

    /// <summary>
    /// Rows per target whose state is one of <paramref name="states"/>; targets with none are left out. One
    /// <c>GROUP BY</c> over the <c>deliveries</c> table (which has no index on the state: every delivery changes its state
    /// twice, and such an index would be written each time), so call it seldom.
    /// </summary>
    public Task<IReadOnlyDictionary<string, long>> CountByTargetAsync(IReadOnlyCollection<DeliveryState> states, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(states);
        return RunAsync<IReadOnlyDictionary<string, long>>(async connection =>
        {
            var counts = new Dictionary<string, long>(StringComparer.Ordinal);
            if (states.Count == 0)
            {
                return counts;
            }

            var names = states.Distinct().Select((state, i) => ($"s{i}", (object?)state.Name())).ToArray();
            await using var command = Command(connection,
                $"SELECT target, COUNT(*) FROM deliveries WHERE state IN ({string.Join(", ", names.Select(n => "@" + n.Item1))}) GROUP BY target",
                names);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                counts[reader.GetString(0)] = Convert.ToInt64(reader.GetValue(1), System.Globalization.CultureInfo.InvariantCulture);
            }

            return counts;
        }, cancellationToken);
    }
}
