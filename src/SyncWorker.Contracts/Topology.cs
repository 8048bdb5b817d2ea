namespace SyncWorker.Contracts;

/// <summary>
/// Names of what SyncWorker declares in RabbitMQ. The receiver publishes <c>StripeEventReceived</c> to the
/// <see cref="EventsExchange"/> fanout exchange; the durable <see cref="IntakeQueue"/> is bound to it before the
/// first publish, and every publish is mandatory and confirmed, so an event acknowledged to Stripe is in that queue.
/// The forward stage consumes the intake queue and fans each event out to per-target queues.
/// </summary>
public static class Topology
{
    /// <summary>Fanout exchange that <c>StripeEventReceived</c> is published to.</summary>
    public const string EventsExchange = "syncworker.events";

    /// <summary>Durable queue, bound directly to <see cref="EventsExchange"/>, holding every accepted event until it is forwarded.</summary>
    public const string IntakeQueue = "syncworker.intake";
}
