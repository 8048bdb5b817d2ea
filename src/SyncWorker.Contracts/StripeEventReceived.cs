using System.Text.Json.Serialization;

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
/// <param name="Sandbox">
/// True when a webhook secret tagged <c>Mode: sandbox</c> verified the event (a sandbox install's event, from the managed
/// sandbox's endpoint): its Stripe calls use <c>Stripe:ApiKeys:Sandbox</c>. Written only when true; a message without it
/// (every message of earlier versions) is read as false.
/// </param>
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
    JsonBytes Payload,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] bool Sandbox = false)
{
    /// <summary>Live, test or sandbox: which key the event's Stripe calls use. Not serialized (it follows from the fields).</summary>
    [JsonIgnore]
    public StripeEnvironment Environment => StripeEnvironments.Of(Livemode, Sandbox);
}
