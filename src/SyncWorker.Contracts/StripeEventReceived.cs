namespace SyncWorker.Contracts;

/// <summary>
/// A Stripe event that passed signature and manifest checks and was accepted from Stripe.
/// Published once per delivery attempt that SyncWorker acknowledged; Stripe retries the same event id,
/// so consumers drop repeats by <see cref="EventId"/> (also carried as the transport message id).
/// </summary>
/// <param name="EventId">Stripe event id (<c>evt_…</c>).</param>
/// <param name="Type">Event type, such as <c>checkout.session.completed</c>.</param>
/// <param name="Account">Installing merchant's account (<c>acct_…</c>); null for events of the app's own account.</param>
/// <param name="Livemode">True for live-mode events; test-mode events never reach live targets.</param>
/// <param name="ApiVersion">API version the event was rendered with (the endpoint's, not the SDK's).</param>
/// <param name="Created">When Stripe created the event.</param>
/// <param name="ObjectType">Type of <c>data.object</c>, such as <c>checkout.session</c>.</param>
/// <param name="ObjectId">Id of <c>data.object</c>, when it has one.</param>
/// <param name="ReceivedAt">When SyncWorker accepted the delivery.</param>
/// <param name="Payload">The raw event JSON exactly as Stripe signed it, as UTF-8 bytes (a JSON string in messages).</param>
public sealed record StripeEventReceived(
    string EventId,
    string Type,
    string? Account,
    bool Livemode,
    string? ApiVersion,
    DateTimeOffset Created,
    string ObjectType,
    string? ObjectId,
    DateTimeOffset ReceivedAt,
    JsonBytes Payload);
