using System.Text;
using SyncWorker.Contracts;
using SyncWorker.Manifest;
using SyncWorker.Webhooks.Envelope;

namespace SyncWorker.Operations.Backfill;

/// <summary>A listed event that passed every check and is (to be) fed, with its raw JSON exactly as Stripe listed it.</summary>
internal sealed class BackfillEvent(StripeEventEnvelope envelope, string payload)
{
    public string Id => envelope.Id;

    public string Type => envelope.Type;

    public string? Account => envelope.Account;

    public bool Livemode => envelope.Livemode;

    public DateTimeOffset Created { get; } = DateTimeOffset.FromUnixTimeSeconds(envelope.Created);

    /// <summary>True once the broker confirmed its publish (and then its ledger entry).</summary>
    public bool Fed { get; set; }

    /// <summary>The message the receiver would have queued, had Stripe's delivery reached it at <paramref name="receivedAt"/>.</summary>
    public StripeEventReceived ToMessage(DateTimeOffset receivedAt) =>
        new(
            envelope.Id,
            envelope.Type,
            envelope.Account,
            envelope.Livemode,
            envelope.ApiVersion,
            Created,
            envelope.ObjectType,
            envelope.ObjectId,
            receivedAt,
            payload);
}

/// <summary>
/// Sorts listed events as the receiver would have: what is not a snapshot event and what the manifest does not permit
/// (Stripe would not have sent it to the app either) is counted and skipped; so is what the ledger says was fed already.
/// The rest is fed, oldest first, as Stripe would have delivered it (roughly: Stripe does not promise an order).
/// </summary>
internal sealed class BackfillPlan(PermissionPolicy policy, IReadOnlySet<string> ledger)
{
    private readonly List<BackfillEvent> _newestFirst = [];
    private readonly HashSet<string> _planned = new(StringComparer.Ordinal);

    public int Listed { get; private set; }

    /// <summary>In the ledger (fed by an earlier run), or listed twice.</summary>
    public int AlreadyFed { get; private set; }

    public int NotPermitted { get; private set; }

    public int NotSnapshotEvents { get; private set; }

    /// <summary>Not-permitted event types and how many of each.</summary>
    public SortedDictionary<string, int> NotPermittedTypes { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The events to feed, oldest first: Stripe lists newest first, so the listing reversed, then ordered (stably) by
    /// <c>created</c>, which has one-second resolution.
    /// </summary>
    public IReadOnlyList<BackfillEvent> ToFeed => Enumerable.Reverse(_newestFirst).OrderBy(e => e.Created).ToList();

    public int ToFeedCount => _newestFirst.Count;

    /// <summary>Sorts one listed element (its raw JSON).</summary>
    public void Add(string rawJson)
    {
        ArgumentNullException.ThrowIfNull(rawJson);
        Listed++;
        if (!StripeEventEnvelopeReader.TryRead(Encoding.UTF8.GetBytes(rawJson), out var envelope, out _))
        {
            NotSnapshotEvents++;
            return;
        }

        if (!policy.Evaluate(envelope.Type).IsAllowed)
        {
            NotPermitted++;
            NotPermittedTypes[envelope.Type] = NotPermittedTypes.GetValueOrDefault(envelope.Type) + 1;
            return;
        }

        if (ledger.Contains(envelope.Id) || !_planned.Add(envelope.Id))
        {
            AlreadyFed++;
            return;
        }

        _newestFirst.Add(new BackfillEvent(envelope, rawJson));
    }
}
