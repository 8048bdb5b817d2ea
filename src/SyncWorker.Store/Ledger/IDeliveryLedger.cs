namespace SyncWorker.Store.Ledger;

/// <summary>
/// The delivery ledger: one row per delivery (<see cref="DeliveryKey"/>), claimed with a lease before a forwarder sends,
/// so that what was delivered is never sent again and two forwarders never send the same row at once. Throws
/// <see cref="StoreUnavailableException"/> when the store cannot be reached.
/// </summary>
public interface IDeliveryLedger
{
    /// <summary>
    /// Claims the row for <paramref name="owner"/> for <paramref name="lease"/>, creating it when new. Claimed: no other
    /// owner holds an unexpired lease and the row is not final (a dead-lettered or retrying row is claimed again, and so
    /// is one whose owner's lease ran out, or that this owner already holds). With <paramref name="force"/> a final row
    /// is claimed too (<c>replay --force</c>).
    /// </summary>
    Task<ClaimResult> ClaimAsync(DeliveryClaim claim, string owner, TimeSpan lease, bool force, CancellationToken cancellationToken);

    /// <summary>Extends the lease <paramref name="owner"/> holds; false when it no longer holds it.</summary>
    Task<bool> RenewAsync(string key, string owner, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>Records one attempt (and counts it on the row).</summary>
    Task RecordAttemptAsync(string key, DeliveryAttemptRecord attempt, CancellationToken cancellationToken);

    /// <summary>
    /// Ends the owner's lease with the row's new state, and records <paramref name="attempts"/> (each HTTP request of the
    /// round, oldest first; empty when nothing was attempted) in the same transaction, counted on the row. The store
    /// numbers them after the row's earlier attempts (<see cref="DeliveryAttemptRecord.Attempt"/> given here is not used).
    /// <see cref="DeliveryState.Delivered"/> is recorded whoever holds the lease (the target did answer 2xx); any other
    /// state only by the lease's owner (the attempts are recorded either way). False when the state was not recorded.
    /// </summary>
    Task<bool> FinishAsync(string key, string owner, DeliveryState state, int? status, string? reason, IReadOnlyList<DeliveryAttemptRecord> attempts, CancellationToken cancellationToken);

    /// <summary>The row, or null.</summary>
    Task<LedgerEntry?> GetAsync(string key, CancellationToken cancellationToken);

    /// <summary>Every row about an order (<c>cs_…</c>) or an event (<c>evt_…</c>), by target and action.</summary>
    Task<IReadOnlyList<LedgerEntry>> FindBySubjectAsync(string subject, CancellationToken cancellationToken);

    /// <summary>A row's attempts, oldest first.</summary>
    Task<IReadOnlyList<DeliveryAttemptRecord>> AttemptsAsync(string key, CancellationToken cancellationToken);

    /// <summary>
    /// One page of rows, newest change first (<c>updated_at</c> descending, then the key), filtered as
    /// <paramref name="query"/> says; the page's <see cref="DeliveryPage.Next"/> continues it.
    /// </summary>
    Task<DeliveryPage> ListAsync(DeliveryQuery query, CancellationToken cancellationToken);
}
