using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace SyncWorker.Contracts;

/// <summary>
/// SyncWorker's own meter and activity source, shared by the stages. Exported by the host (Prometheus at
/// <c>/metrics</c>, OTLP when configured) with MassTransit's and the runtime's. Prometheus names in brackets. Labels are
/// bounded: outcomes, target names, status classes; never event or account ids.
/// </summary>
public static class SyncWorkerTelemetry
{
    /// <summary>Name of the meter and the activity source.</summary>
    public const string Name = "SyncWorker";

    /// <summary>Spans of SyncWorker's own work (MassTransit, ASP.NET Core and HttpClient add theirs).</summary>
    public static readonly ActivitySource Activities = new(Name);

    /// <summary>The meter.</summary>
    public static readonly Meter Meter = new(Name);

    /// <summary>
    /// [syncworker_webhooks_received_total] Webhooks received, by <c>outcome</c>: <see cref="WebhookOutcomes"/>; those
    /// <see cref="WebhookOutcomes.Ignored"/> also by <c>reason</c> (the problem code the event type would have had).
    /// </summary>
    public static readonly Counter<long> WebhooksReceived = Meter.CreateCounter<long>(
        "syncworker.webhooks.received", "{webhook}", "Stripe webhooks received, by outcome.");

    /// <summary>[syncworker_webhooks_duration_seconds] Time to answer a webhook, by <c>outcome</c>.</summary>
    public static readonly Histogram<double> WebhookDuration = Meter.CreateHistogram(
        "syncworker.webhooks.duration", "s", "Time from request to answer, by outcome.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });

    /// <summary>
    /// [syncworker_deliveries_total] Deliveries by <c>target</c> and <c>outcome</c>: <c>delivered</c>,
    /// <c>retry_scheduled</c> (waiting in RabbitMQ), <c>dead_lettered</c>, <c>duplicate_suppressed</c> (the delivery ledger
    /// records it as delivered already: acknowledged without a request).
    /// </summary>
    public static readonly Counter<long> Deliveries = Meter.CreateCounter<long>(
        "syncworker.deliveries", "{delivery}", "Deliveries to fulfillment targets, by target and outcome.");

    /// <summary>
    /// [syncworker_delivery_attempts_total] HTTP attempts by <c>target</c> and <c>status_class</c>: <c>2xx</c>, <c>3xx</c>,
    /// <c>4xx</c>, <c>5xx</c>, <c>timeout</c>, <c>network</c>.
    /// </summary>
    public static readonly Counter<long> DeliveryAttempts = Meter.CreateCounter<long>(
        "syncworker.delivery.attempts", "{attempt}", "HTTP attempts to fulfillment targets, by target and status class.");

    /// <summary>[syncworker_delivery_receipt_to_delivery_seconds] From SyncWorker's 200 to Stripe to the target's 2xx, by <c>target</c>.</summary>
    public static readonly Histogram<double> ReceiptToDelivery = Meter.CreateHistogram(
        "syncworker.delivery.receipt_to_delivery", "s", "Time from receipt of the webhook to delivery, by target.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 43200, 259200] });

    /// <summary>[syncworker_delivery_created_to_delivery_seconds] From Stripe's <c>created</c> to the target's 2xx, by <c>target</c>.</summary>
    public static readonly Histogram<double> CreatedToDelivery = Meter.CreateHistogram(
        "syncworker.delivery.created_to_delivery", "s", "Time from the Stripe event's creation to delivery, by target.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 43200, 259200] });

    /// <summary>
    /// [syncworker_store_purged_total] Rows the store's retention deleted, by <c>table</c> (<c>delivery_attempts</c>,
    /// <c>orders.document</c> for stored documents cleared, <c>deliveries</c>, <c>orders</c>).
    /// </summary>
    public static readonly Counter<long> StorePurged = Meter.CreateCounter<long>(
        "syncworker.store.purged", "{row}", "Rows deleted by the store's retention, by table.");

    /// <summary>[syncworker_deliveries_in_flight] Deliveries being attempted by this instance now, by <c>target</c>.</summary>
    public static readonly UpDownCounter<long> InFlight = Meter.CreateUpDownCounter<long>(
        "syncworker.deliveries.in_flight", "{delivery}", "Deliveries in progress in this instance, by target.");
}

/// <summary>Values of the <c>outcome</c> label of <see cref="SyncWorkerTelemetry.WebhooksReceived"/>.</summary>
public static class WebhookOutcomes
{
    public const string Accepted = "accepted";
    public const string BadSignature = "bad_signature";
    /// <summary>Answered 200 but not queued: an event type SyncWorker never forwards (label <c>reason</c> says why).</summary>
    public const string Ignored = "ignored";
    public const string Malformed = "malformed";
    public const string TooLarge = "too_large";
    public const string BrokerUnavailable = "broker_unavailable";
    public const string ShuttingDown = "shutting_down";
    public const string ClientAborted = "client_aborted";
}
