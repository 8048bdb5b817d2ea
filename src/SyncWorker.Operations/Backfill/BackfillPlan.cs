using System.Text;
using SyncWorker.Contracts;
using SyncWorker.Manifest;
using SyncWorker.Webhooks.Envelope;

namespace SyncWorker.Operations.Backfill;

/// <summary>
/// A listed event that passed every check and is (to be) fed, with its raw JSON exactly as Stripe listed it, and the
/// account it was listed for (<c>Stripe-Account</c>; null for the app's own account).
/// </summary>
/// <remarks>
/// Stripe documents the event's <c>account</c> as the connected account that originates it, present on the events a
/// platform receives for its connected accounts; it does not say that events listed with <c>Stripe-Account</c> carry it.
/// So an event listed for an account without <c>account</c> of its own gets the account it was listed for: the forward
/// stage routes, skips uninstalled accounts and reads Stripe by the message's account. The payload stays as Stripe listed it.
/// </remarks>
internal sealed class BackfillEvent(StripeEventEnvelope envelope, string payload, string? listedFor = null)
{
    public string Id => envelope.Id;

    public string Type => envelope.Type;

    /// <summary>The event's own <c>account</c>, else the account it was listed for.</summary>
    public string? Account => envelope.Account is { Length: > 0 } own ? own : listedFor;

    /// <summary>True when the event had no <c>account</c> and <see cref="Account"/> is the account it was listed for.</summary>
    public bool AccountFromListing => envelope.Account is not { Length: > 0 } && listedFor is not null;

    public bool Livemode => envelope.Livemode;

    public DateTimeOffset Created { get; } = DateTimeOffset.FromUnixTimeSeconds(envelope.Created);

    /// <summary>True once the broker confirmed its publish (and then its ledger entry).</summary>
    public bool Fed { get; set; }

    /// <summary>The message the receiver would have queued, had Stripe's delivery reached it at <paramref name="receivedAt"/>.</summary>
    public StripeEventReceived ToMessage(DateTimeOffset receivedAt) =>
        new(
            envelope.Id,
            envelope.Type,
            Account,
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
/// The rest is fed, oldest first, as Stripe would have delivered it (roughly: Stripe does not promise an order). One plan
/// per account listed (<paramref name="listedFor"/>, null for the app's own account); plans of one run share
/// <paramref name="planned"/>, so an event listed for two of them is fed once.
/// </summary>
internal sealed class BackfillPlan(PermissionPolicy policy, IReadOnlySet<string> ledger, string? listedFor = null, ISet<string>? planned = null)
{
    private readonly List<BackfillEvent> _newestFirst = [];
    private readonly ISet<string> _planned = planned ?? new HashSet<string>(StringComparer.Ordinal);

    /// <summary>The account listed (<c>Stripe-Account</c>), or null for the app's own account.</summary>
    public string? ListedFor => listedFor;

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

        _newestFirst.Add(new BackfillEvent(envelope, rawJson, listedFor));
    }
}
