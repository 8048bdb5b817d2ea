namespace SyncWorker.Store.Ledger;

/// <summary>
/// What the delivery ledger knows of an order (<c>cs_…</c>) or an event (<c>evt_…</c>): every row about it, with its
/// attempts. What <c>orders show --json</c> prints and <c>GET /admin/orders/{id}</c> answers.
/// </summary>
/// <param name="Subject">The order, payment intent or event asked about.</param>
/// <param name="Store">Where the ledger is (no password).</param>
/// <param name="Deliveries">One per target and action (and refund or dispute), by target and action.</param>
/// <param name="Order">
/// The order (<c>cs_…</c>) the rows are about: the subject itself for a <c>cs_…</c>, the order paid with a <c>pi_…</c>
/// (null when the store knows no order paid with it), null for an event.
/// </param>
public sealed record OrderHistory(string Subject, string Store, IReadOnlyList<DeliveryHistory> Deliveries, string? Order = null)
{
    /// <summary>
    /// True for the ids the store answers for: a Checkout Session (<c>cs_…</c>), a payment intent (<c>pi_…</c>, through
    /// the order recorded as paid with it) or an event (<c>evt_…</c>).
    /// </summary>
    public static bool IsSubject(string? id) =>
        id is { Length: > 4 } && (id.StartsWith("cs_", StringComparison.Ordinal) || id.StartsWith("pi_", StringComparison.Ordinal) || id.StartsWith("evt_", StringComparison.Ordinal));

    /// <summary>
    /// Reads every row about <paramref name="subject"/> and its attempts; a payment intent is first turned into its order
    /// through <paramref name="orders"/>.
    /// </summary>
    public static async Task<OrderHistory> LoadAsync(IDeliveryLedger ledger, IOrderRegistry orders, string store, string subject, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ledger);
        ArgumentNullException.ThrowIfNull(orders);
        string? order = subject.StartsWith("evt_", StringComparison.Ordinal) ? null : subject;
        if (subject.StartsWith("pi_", StringComparison.Ordinal))
        {
            order = (await orders.FindByPaymentIntentAsync(subject, cancellationToken).ConfigureAwait(false))?.OrderId;
            if (order is null)
            {
                return new OrderHistory(subject, store, [], null);
            }
        }

        var deliveries = new List<DeliveryHistory>();
        foreach (var entry in await ledger.FindBySubjectAsync(order ?? subject, cancellationToken).ConfigureAwait(false))
        {
            var attempts = await ledger.AttemptsAsync(entry.Key, cancellationToken).ConfigureAwait(false);
            deliveries.Add(new DeliveryHistory(
                entry.Key, entry.Target, entry.Action, entry.ActionInstance, entry.State.Name(), entry.Attempts, entry.RepeatsSuppressed,
                entry.LastStatus, entry.LastError, entry.WebhookId, entry.EventId, entry.Account, entry.CreatedAt, entry.UpdatedAt,
                entry.DeliveredAt, entry.LeaseOwner, entry.LeaseUntil,
                attempts.Select(a => new AttemptHistory(a.Attempt, a.Owner, a.StartedAt, (long)a.Duration.TotalMilliseconds, a.Outcome, a.Status, a.Error)).ToList()));
        }

        return new OrderHistory(subject, store, deliveries, order);
    }
}

/// <summary>One ledger row with its attempts; <see cref="State"/> is the state's text (<c>delivered</c>, …).</summary>
public sealed record DeliveryHistory(
    string Key,
    string Target,
    string Action,
    string? ActionInstance,
    string State,
    int Attempts,
    int RepeatsSuppressed,
    int? LastStatus,
    string? LastError,
    string WebhookId,
    string EventId,
    string? Account,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? DeliveredAt,
    string? LeaseOwner,
    DateTimeOffset? LeaseUntil,
    IReadOnlyList<AttemptHistory> AttemptHistory);

/// <summary>One recorded attempt: an HTTP request to the target, or a round that sent none (with its reason).</summary>
public sealed record AttemptHistory(int Attempt, string Owner, DateTimeOffset StartedAt, long DurationMs, string Outcome, int? Status, string? Error);
