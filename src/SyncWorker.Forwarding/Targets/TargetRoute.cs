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

    /// <summary>Compiles <paramref name="options"/> (already validated), a target of the configuration file.</summary>
    public TargetRoute(TargetOptions options)
        : this(options, managed: null)
    {
    }

    /// <summary>Compiles <paramref name="options"/> (already validated); <paramref name="managed"/> for a target managed at run time.</summary>
    public TargetRoute(TargetOptions options, ManagedTargetState? managed)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        Managed = managed;
        _patterns = options.Events.Select(pattern => new EventPattern(pattern)).ToArray();
        _accounts = options.Accounts.ToFrozenSet(StringComparer.Ordinal);
    }

    /// <summary>The target's configuration.</summary>
    public TargetOptions Options { get; }

    /// <summary>What the store says of a target managed at run time (the admin API); null for one of the configuration file.</summary>
    public ManagedTargetState? Managed { get; }

    /// <summary>True while the target is being removed and its queued deliveries are ended as discarded.</summary>
    public bool IsDiscarding => Managed?.State == Store.Targets.StoredTargetStates.Discarding;

    /// <summary>True while the target takes new deliveries (not being removed).</summary>
    public bool IsActive => Managed is null || Managed.State == Store.Targets.StoredTargetStates.Active;

    /// <summary>The target's name.</summary>
    public string Name => Options.Name;

    /// <summary>The target's own durable queue.</summary>
    public string QueueName => Topology.TargetQueue(Options.Name);

    /// <summary>
    /// True when this target wants the event: not being removed, same mode (a test-mode event never reaches a live target, nor the
    /// reverse), an account it serves (an empty list serves all), and a subscribed event type.
    /// </summary>
    public bool Wants(StripeEventReceived message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Livemode != Options.IsLive || !IsActive)
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

/// <summary>What the store says of a target managed at run time.</summary>
/// <param name="State">Its state (<see cref="Store.Targets.StoredTargetStates"/>).</param>
/// <param name="Revision">Its row's revision: a new one means new settings (a new HTTP client, a new endpoint).</param>
/// <param name="PreviousSigningSecret">The secret being rotated out, still signed with until <paramref name="PreviousUntil"/>.</param>
/// <param name="PreviousUntil">When requests stop carrying the previous secret's signature.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="CreatedBy">Who created it.</param>
/// <param name="UpdatedAt">When it last changed.</param>
/// <param name="UpdatedBy">Who last changed it.</param>
public sealed record ManagedTargetState(
    string State,
    long Revision,
    string? PreviousSigningSecret,
    DateTimeOffset? PreviousUntil,
    DateTimeOffset CreatedAt,
    string CreatedBy,
    DateTimeOffset UpdatedAt,
    string UpdatedBy);
