using System.Collections.Concurrent;
using System.Collections.Frozen;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Orders;

namespace SyncWorker.Forwarding.Targets;

/// <summary>A validated target, compiled for matching events on the hot path.</summary>
public sealed class TargetRoute
{
    private readonly EventPattern[] _patterns;
    private readonly FrozenSet<string> _accounts;
    private readonly ConcurrentDictionary<string, bool> _typeMatches = new(StringComparer.Ordinal);

    /// <summary>Compiles <paramref name="options"/> (already validated).</summary>
    public TargetRoute(TargetOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        _patterns = options.Events.Select(pattern => new EventPattern(pattern)).ToArray();
        _accounts = options.Accounts.ToFrozenSet(StringComparer.Ordinal);
    }

    /// <summary>The target's configuration.</summary>
    public TargetOptions Options { get; }

    /// <summary>The target's name.</summary>
    public string Name => Options.Name;

    /// <summary>The target's own durable queue.</summary>
    public string QueueName => Topology.TargetQueue(Options.Name);

    /// <summary>
    /// True when this target wants the event: same mode (a test-mode event never reaches a live target, nor the
    /// reverse), an account it serves (an empty list serves all), and a subscribed event type.
    /// </summary>
    public bool Wants(StripeEventReceived message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Livemode != Options.IsLive)
        {
            return false;
        }

        if (_accounts.Count > 0 && (message.Account is null || !_accounts.Contains(message.Account)))
        {
            return false;
        }

        return WantsType(message.Type);
    }

    /// <summary>True when one of the target's <c>Events</c> patterns matches <paramref name="eventType"/>.</summary>
    public bool WantsType(string eventType)
    {
        ArgumentNullException.ThrowIfNull(eventType);
        return _typeMatches.GetOrAdd(eventType, static (type, patterns) => patterns.Any(p => p.Matches(type)), _patterns);
    }

    /// <summary>
    /// True for an order target that subscribes to <c>checkout.session.completed</c> but not to
    /// <c>checkout.session.async_payment_succeeded</c>: a session paid by a delayed method (ACH Direct Debit, SEPA Direct
    /// Debit, Bacs) completes unpaid and is paid only with the second event, so such orders would never reach it.
    /// </summary>
    public bool MissesDelayedPayments =>
        Options.Format == TargetOptions.OrderFormat
        && WantsType(OrderEventClassifier.Completed)
        && !WantsType(OrderEventClassifier.AsyncPaymentSucceeded);
}
