namespace SyncWorker.Contracts;

/// <summary>
/// Names of what SyncWorker declares in RabbitMQ. The receiver publishes <c>StripeEventReceived</c> to the
/// <see cref="EventsExchange"/> fanout exchange; the durable <see cref="IntakeQueue"/> is bound to it before the
/// first publish, and every publish is mandatory and confirmed, so an event acknowledged to Stripe is in that queue.
/// The forward stage consumes the intake queue and sends each event to the queue of every target that wants it
/// (<see cref="TargetQueue"/>), so a slow or dead target never delays the others; a delivery that fails for good moves
/// to that target's <see cref="TargetErrorQueue"/>. A delivery waiting for a durable redelivery waits in a
/// <see cref="DelayQueue"/> shared by every target, one per wait.
/// </summary>
public static class Topology
{
    /// <summary>Fanout exchange that <c>StripeEventReceived</c> is published to.</summary>
    public const string EventsExchange = "syncworker.events";

    /// <summary>Durable queue, bound directly to <see cref="EventsExchange"/>, holding every accepted event until it is forwarded.</summary>
    public const string IntakeQueue = "syncworker.intake";

    /// <summary>
    /// Durable queue (bound to the fanout exchange of the same name) holding messages RabbitMQ dead-lettered from
    /// <see cref="IntakeQueue"/> or a <see cref="TargetQueue"/> when they hit the delivery limit (a worker crashed on them
    /// again and again), with RabbitMQ's <c>x-death</c> header naming the queue they came from. SyncWorker never declares
    /// it: it exists only when the policies and definitions of <c>deploy/rabbitmq/definitions.json</c> are applied
    /// (quorum queues), and the operations verbs and gauges treat a missing one as "not configured".
    /// </summary>
    public const string PoisonQueue = "syncworker.poison";

    /// <summary>
    /// The intake's dead-letter (error) queue: events the dispatcher could not hand on to the target queues after its
    /// retries (broker trouble). Nothing consumes it; <c>dead-letters replay</c> puts them back.
    /// </summary>
    public const string IntakeErrorQueue = IntakeQueue + ErrorQueueSuffix;

    /// <summary>Prefix of every target's queue.</summary>
    public const string TargetQueuePrefix = "syncworker.target.";

    /// <summary>Suffix MassTransit gives a queue's dead-letter (error) queue.</summary>
    public const string ErrorQueueSuffix = "_error";

    /// <summary>The durable queue of one fulfillment target: <c>syncworker.target.{name}</c>.</summary>
    public static string TargetQueue(string targetName) => TargetQueuePrefix + targetName;

    /// <summary>The dead-letter queue of one target: deliveries that failed for good, with the reason in headers.</summary>
    public static string TargetErrorQueue(string targetName) => TargetQueue(targetName) + ErrorQueueSuffix;

    /// <summary>
    /// While a queue of this name exists the target is paused: forwarders stop consuming its queue, which keeps
    /// filling. <c>targets pause</c> declares it, <c>targets resume</c> deletes it.
    /// </summary>
    public static string PausedMarker(string targetName) => "syncworker.paused." + targetName;

    /// <summary>
    /// While a queue of this name exists the target is disabled (it failed without a single success for its
    /// <c>DisableAfterHours</c>): forwarders stop consuming its queue as for a pause, and the queue keeps filling. A
    /// forwarder declares it; <c>targets enable</c> (or <c>POST /admin/targets/{name}/enable</c>) deletes it. Distinct from
    /// <see cref="PausedMarker"/>, so a target can be paused and disabled at once and each is undone on its own.
    /// </summary>
    public static string DisabledMarker(string targetName) => "syncworker.disabled." + targetName;

    /// <summary>Prefix of the shared delay queues (<see cref="DelayQueue"/>).</summary>
    public const string DelayQueuePrefix = "syncworker.wait.";

    /// <summary>
    /// The delay exchange and queue of one wait, shared by every target: <c>syncworker.wait.{N}s</c>. The queue has a fixed
    /// <c>x-message-ttl</c> of <paramref name="waitSeconds"/>, so every message in it waits exactly as long and none expires
    /// later than one behind it (RabbitMQ expires a queue's messages from its head). A delivery is published to the fanout
    /// exchange of that name with its target queue's name (<see cref="TargetQueue"/>) as routing key; the queue dead-letters
    /// through the default exchange without an <c>x-dead-letter-routing-key</c>, so RabbitMQ hands each expired message to
    /// the queue its own routing key names: its target's. One queue per wait actually used
    /// (<see cref="RedeliveryWaits(long, double)"/>, <see cref="RetryAfterWait"/>), whatever the number of targets.
    /// </summary>
    public static string DelayQueue(long waitSeconds) => $"{DelayQueuePrefix}{waitSeconds}s";

    /// <summary>
    /// The per-target delay queues of the previous version, <c>syncworker.target.{name}.wait.{N}s</c> (a fixed
    /// <c>x-message-ttl</c>, dead-lettering to the target queue by an <c>x-dead-letter-routing-key</c>). SyncWorker no longer
    /// sends to them; the messages still in them expire and go back to the target queue through their own arguments.
    /// </summary>
    public static string TargetDelayQueue(string targetName, long waitSeconds) => $"{TargetQueue(targetName)}.wait.{waitSeconds}s";

    /// <summary>
    /// The per-target delay queues of versions before <see cref="TargetDelayQueue"/>, <c>syncworker.target.{name}.delay.{N}s</c>:
    /// no queue TTL, a per-message expiration. SyncWorker no longer sends to them; the messages still in them expire and go
    /// back to the target queue through their own dead-letter arguments.
    /// </summary>
    public static string LegacyDelayQueue(string targetName, long delaySeconds) => $"{TargetQueue(targetName)}.delay.{delaySeconds}s";

    /// <summary>
    /// The waits one schedule entry of <paramref name="delaySeconds"/> is varied among: the entry itself and the entry
    /// shortened and lengthened by <paramref name="jitter"/> (a share, 0 to 0.5), each rounded to whole seconds (at least 1),
    /// without repeats, shortest first. Picking one at random spreads deliveries that failed together over up to three
    /// times, with one delay queue each.
    /// </summary>
    public static IReadOnlyList<long> RedeliveryWaits(long delaySeconds, double jitter)
    {
        var shorter = Math.Max(1, (long)Math.Round(delaySeconds * (1 - jitter), MidpointRounding.AwayFromZero));
        var longer = Math.Max(1, (long)Math.Round(delaySeconds * (1 + jitter), MidpointRounding.AwayFromZero));
        return new SortedSet<long> { shorter, Math.Max(1, delaySeconds), longer }.ToArray();
    }

    /// <summary>
    /// The waits of every delay queue a schedule can use for its own steps (<see cref="RedeliveryWaits(long, double)"/> of each entry),
    /// shortest first. Waits made for a <c>Retry-After</c> (<see cref="RetryAfterWait"/>) come on top.
    /// </summary>
    public static IReadOnlyList<long> RedeliveryWaits(IEnumerable<long> scheduleSeconds, double jitter) =>
        new SortedSet<long>(scheduleSeconds.SelectMany(delay => RedeliveryWaits(delay, jitter))).ToArray();

    /// <summary>
    /// The wait that honours a <c>Retry-After</c> of <paramref name="seconds"/>: the smallest number of whole seconds of
    /// the form 2^k or 3·2^(k-1) (1, 2, 3, 4, 6, 8, 12, 16, 24, … 512, 768, 1024, …) that is not shorter, so at most
    /// half as long again and usually much less, with a bounded number of delay queues.
    /// </summary>
    public static long RetryAfterWait(double seconds)
    {
        var needed = Math.Max(1, (long)Math.Ceiling(seconds));
        long power = 1;
        while (power < needed)
        {
            if (power >= 2 && power / 2 * 3 >= needed)
            {
                return power / 2 * 3;
            }

            power *= 2;
        }

        return power;
    }

    /// <summary>
    /// Every wait <see cref="RetryAfterWait"/> can give for a <c>Retry-After</c> of at most <paramref name="maxSeconds"/>,
    /// shortest first (the forwarder honours none that ends after the schedule's total).
    /// </summary>
    public static IReadOnlyList<long> RetryAfterWaits(long maxSeconds)
    {
        var waits = new List<long>();
        var last = RetryAfterWait(Math.Max(1, maxSeconds));
        for (long power = 1; power <= last; power *= 2)
        {
            waits.Add(power);
            if (power >= 2 && power / 2 * 3 <= last)
            {
                waits.Add(power / 2 * 3);
            }
        }

        return waits.Order().ToArray();
    }

    /// <summary>
    /// The waits of every delay queue a schedule (whole seconds) and jitter can use: the waits of its steps and of a
    /// <c>Retry-After</c> up to the schedule's total, shortest first.
    /// </summary>
    public static IReadOnlyList<long> DelayWaits(IReadOnlyCollection<long> scheduleSeconds, double jitter) =>
        RedeliveryWaits(scheduleSeconds, jitter).Union(RetryAfterWaits(scheduleSeconds.Sum())).Order().ToArray();

    /// <summary>
    /// The shared delay queues (<see cref="DelayQueue"/>) a target with this schedule (whole seconds) and jitter can send
    /// to (<see cref="DelayWaits"/>), shortest first.
    /// </summary>
    public static IEnumerable<string> DelayQueues(IReadOnlyCollection<long> scheduleSeconds, double jitter) =>
        DelayWaits(scheduleSeconds, jitter).Select(DelayQueue);

    /// <summary>
    /// The per-target delay queues earlier versions may have left for a target with this schedule (whole seconds) and
    /// jitter, whose messages may still be waiting: <see cref="TargetDelayQueue"/> of every wait (<see cref="DelayWaits"/>),
    /// shortest first, then <see cref="LegacyDelayQueue"/> of its steps. What counts or removes what is left of a target's
    /// redeliveries reads these.
    /// </summary>
    public static IEnumerable<string> TargetDelayQueues(string targetName, IReadOnlyCollection<long> scheduleSeconds, double jitter) =>
        DelayWaits(scheduleSeconds, jitter)
            .Select(wait => TargetDelayQueue(targetName, wait))
            .Concat(scheduleSeconds.Distinct().Select(delay => LegacyDelayQueue(targetName, delay)));

    /// <summary>
    /// The default durable-retry schedule in seconds, about 75 hours in all (Stripe itself retries for three days):
    /// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 12 h, 12 h, 12 h, 12 h. Up to three delay queues per distinct value
    /// (<see cref="RedeliveryWaits(long, double)"/>), shared by every target with the same waits.
    /// </summary>
    public static readonly IReadOnlyList<double> DefaultRedeliveryDelaysSeconds = [5, 300, 1800, 7200, 18000, 36000, 36000, 43200, 43200, 43200, 43200];
}
