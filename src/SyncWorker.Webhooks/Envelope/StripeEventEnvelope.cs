namespace SyncWorker.Webhooks.Envelope;

/// <summary>
/// The routing fields of a Stripe snapshot event, read from the raw body by
/// <see cref="StripeEventEnvelopeReader"/>. The rest of the event (the object's data, which can hold
/// customers' names and addresses) stays in the raw body and is not parsed here.
/// </summary>
/// <param name="Id">The event id, <c>evt_…</c>.</param>
/// <param name="Type">The event type, e.g. <c>checkout.session.completed</c>.</param>
/// <param name="Account">
/// The connected account the event originates from (<c>acct_…</c>): for a Stripe App, the installing
/// account. <see langword="null"/> for events on the platform's own account.
/// </param>
/// <param name="Livemode"><see langword="true"/> for live-mode events.</param>
/// <param name="ApiVersion">
/// The API version the event was rendered with (the endpoint's version). Stripe always sends it;
/// <see langword="null"/> only for old fixtures.
/// </param>
/// <param name="Created">When the event was created, in Unix seconds (1-second resolution: not an ordering key).</param>
/// <param name="ObjectType">The <c>data.object.object</c> type, e.g. <c>checkout.session</c>.</param>
/// <param name="ObjectId"><c>data.object.id</c>, or <see langword="null"/> for objects without an id.</param>
public sealed record StripeEventEnvelope(
    string Id,
    string Type,
    string? Account,
    bool Livemode,
    string? ApiVersion,
    long Created,
    string ObjectType,
    string? ObjectId);
