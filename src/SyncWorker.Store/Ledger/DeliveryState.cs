namespace SyncWorker.Store.Ledger;

/// <summary>
/// The states of a delivery, the same in the ledger, the verbs, the API and the metrics (their text is
/// <see cref="DeliveryStates.Name"/>).
/// </summary>
public enum DeliveryState
{
    /// <summary>Known, not yet attempted.</summary>
    Pending,

    /// <summary>A forwarder holds the lease and is sending it.</summary>
    InFlight,

    /// <summary>Failed; a later attempt is scheduled.</summary>
    Retrying,

    /// <summary>Held back on purpose: for the order's payment, or for a permission.</summary>
    Waiting,

    /// <summary>The target answered 2xx. Never sent again (except by <c>replay --force</c>).</summary>
    Delivered,

    /// <summary>Given up and moved to a dead-letter queue; a replay may take it again.</summary>
    DeadLettered,

    /// <summary>Not to be sent (paused for good, uninstalled account, filtered); final.</summary>
    Skipped,

    /// <summary>Dropped by an operator; final.</summary>
    Discarded,
}

/// <summary>Text forms of <see cref="DeliveryState"/>: <c>pending</c>, <c>in_flight</c>, … as stored and shown.</summary>
public static class DeliveryStates
{
    private static readonly string[] Names = ["pending", "in_flight", "retrying", "waiting", "delivered", "dead_lettered", "skipped", "discarded"];

    /// <summary>The state's text: <c>in_flight</c>, <c>dead_lettered</c>, ….</summary>
    public static string Name(this DeliveryState state) => Names[(int)state];

    /// <summary>Parses a state's text; false for anything else.</summary>
    public static bool TryParse(string? text, out DeliveryState state)
    {
        var index = Array.IndexOf(Names, text);
        state = index < 0 ? default : (DeliveryState)index;
        return index >= 0;
    }

    /// <summary>Every state's text, in order (for help and error messages).</summary>
    public static IReadOnlyList<string> All => Names;

    /// <summary>True for states after which nothing is sent again: delivered, skipped, discarded.</summary>
    public static bool IsFinal(this DeliveryState state) => state is DeliveryState.Delivered or DeliveryState.Skipped or DeliveryState.Discarded;
}
