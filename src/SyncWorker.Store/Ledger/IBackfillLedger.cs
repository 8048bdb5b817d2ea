namespace SyncWorker.Store.Ledger;

/// <summary>
/// The Stripe events <c>backfill</c> fed (the <c>backfill_events</c> table), which a later backfill does not feed again.
/// An entry is kept for <see cref="BackfillLedgerRetention.Retention"/>: Stripe lists events of the last 30 days only, so
/// older entries can no longer matter. Throws <see cref="StoreUnavailableException"/> when the store cannot be reached.
/// </summary>
public interface IBackfillLedger
{
    /// <summary>The ids of the events fed at or after <paramref name="since"/>.</summary>
    Task<IReadOnlySet<string>> FedSinceAsync(DateTimeOffset since, CancellationToken cancellationToken);

    /// <summary>
    /// Records that <paramref name="entries"/> were fed, all or none (one transaction); an event recorded already keeps its
    /// first entry. Returns how many were new.
    /// </summary>
    Task<int> RecordFedAsync(IReadOnlyCollection<BackfillEntry> entries, CancellationToken cancellationToken);

    /// <summary>Deletes the entries fed before <paramref name="before"/>, in bounded batches; returns how many.</summary>
    Task<int> PurgeFedBeforeAsync(DateTimeOffset before, CancellationToken cancellationToken);
}

/// <summary>How long the backfill ledger keeps an entry.</summary>
public static class BackfillLedgerRetention
{
    /// <summary>31 days: a day longer than Stripe lists events.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromDays(31);
}

/// <summary>A row of <c>backfill_events</c>: an event <c>backfill</c> fed into the intake queue.</summary>
/// <param name="EventId">The Stripe event (<c>evt_…</c>).</param>
/// <param name="EventType">Its type, for people reading the table.</param>
/// <param name="Account">The connected account (<c>acct_…</c>); null for the app's own.</param>
/// <param name="FedAt">When its publish was confirmed.</param>
public sealed record BackfillEntry(string EventId, string EventType, string? Account, DateTimeOffset FedAt);
