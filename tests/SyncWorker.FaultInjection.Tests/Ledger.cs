using System.Globalization;
using System.Text;

namespace SyncWorker.FaultInjection.Tests;

/// <summary>A fulfillment target of a scenario: its ledger endpoint and what it subscribes to.</summary>
internal sealed record TargetSpec(LedgerTarget Ledger, string Format, IReadOnlyList<string> Events)
{
    public string Name => Ledger.Name;

    /// <summary>
    /// What this target must receive for <paramref name="evt"/>, or null when it wants nothing for it: the event id for
    /// an <c>event</c> target (or an order target's non-Checkout types), the session id of a paid Checkout Session for an
    /// <c>order</c> target, nothing for an unpaid one (README, "Forwarding to fulfillment targets").
    /// </summary>
    public string? ExpectedKey(StripeEventToSend evt)
    {
        if (!Events.Contains(evt.Type, StringComparer.Ordinal))
        {
            return null;
        }

        if (Format == "order" && evt.SessionId is not null)
        {
            return evt.Paid ? evt.SessionId : null;
        }

        return evt.Id;
    }
}

/// <summary>The ledger check of one target after a scenario.</summary>
internal sealed record LedgerCheck(
    string Scenario,
    string Target,
    int Sends,
    int DistinctEvents,
    int Acknowledged,
    int Expected,
    int Delivered,
    int Duplicates,
    int Lost,
    int Unexpected,
    int Requests,
    IReadOnlyList<string> UnstableIds,
    IReadOnlyList<string> SharedIds,
    int BadSignatures,
    IReadOnlyList<string> LostKeys)
{
    public static string Header =>
        "scenario | target | sent (sends) | acknowledged | expected | delivered | duplicates | lost | unexpected | requests | unstable ids | shared ids | bad signatures";

    /// <summary>
    /// Compares what "Stripe" had acknowledged with what the target accepted (answered 2xx). Every request the target
    /// saw, accepted or not, counts for the webhook-id checks: a retry or a replay must carry the id of the first try.
    /// </summary>
    public static LedgerCheck Of(string scenario, TargetSpec target, IReadOnlyList<SendRecord> sends)
    {
        var acknowledgedEvents = sends.Where(s => s.Acknowledged).Select(s => s.Event).DistinctBy(e => e.Id).ToList();
        var expected = acknowledgedEvents.Select(target.ExpectedKey).OfType<string>().ToHashSet(StringComparer.Ordinal);
        // What may arrive: for each event sent, the key it should produce, from that very event (an order document names
        // its source event, so an order built from an unpaid completion is caught even when its session was paid later).
        var mayArrive = sends.Select(s => (Key: target.ExpectedKey(s.Event), Source: s.Event.Id)).Where(p => p.Key is not null).ToHashSet();

        var entries = target.Ledger.Entries;
        var accepted = entries.Where(e => e.Accepted).ToList();
        var acceptedKeys = accepted.Select(e => e.Key).ToHashSet(StringComparer.Ordinal);

        var unstable = entries.GroupBy(e => e.Key, StringComparer.Ordinal)
            .Where(g => g.Select(e => e.WebhookId).Distinct().Count() != 1 || g.Any(e => e.WebhookId is null || e.IdempotencyKey != e.WebhookId))
            .Select(g => $"{g.Key}: webhook-id {string.Join("/", g.Select(e => e.WebhookId).Distinct())}, Idempotency-Key {string.Join("/", g.Select(e => e.IdempotencyKey).Distinct())}")
            .ToList();
        var shared = entries.Where(e => e.WebhookId is not null).GroupBy(e => e.WebhookId!, StringComparer.Ordinal)
            .Where(g => g.Select(e => e.Key).Distinct().Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(e => e.Key).Distinct())}")
            .ToList();
        var lost = expected.Where(key => !acceptedKeys.Contains(key)).Order(StringComparer.Ordinal).ToList();

        return new LedgerCheck(
            scenario,
            target.Name,
            Sends: sends.Count,
            DistinctEvents: sends.Select(s => s.Event.Id).Distinct().Count(),
            Acknowledged: acknowledgedEvents.Count,
            Expected: expected.Count,
            Delivered: acceptedKeys.Count(expected.Contains),
            Duplicates: accepted.Count - acceptedKeys.Count,
            Lost: lost.Count,
            Unexpected: accepted.Select(e => (Key: (string?)e.Key, Source: e.SourceEventId ?? "")).Distinct().Count(p => !mayArrive.Contains(p)),
            Requests: entries.Count,
            UnstableIds: unstable,
            SharedIds: shared,
            BadSignatures: entries.Count(e => !e.SignatureValid),
            LostKeys: lost);
    }

    public string Row() => string.Create(CultureInfo.InvariantCulture,
        $"{Scenario} | {Target} | {DistinctEvents} ({Sends}) | {Acknowledged} | {Expected} | {Delivered} | {Duplicates} | {Lost} | {Unexpected} | {Requests} | {UnstableIds.Count} | {SharedIds.Count} | {BadSignatures}");

    /// <summary>Details for an assertion message: the first few lost keys and id problems.</summary>
    public string Details()
    {
        var text = new StringBuilder(Row());
        if (LostKeys.Count > 0)
        {
            text.Append("\n  lost (first 10): ").AppendJoin(", ", LostKeys.Take(10));
        }

        foreach (var problem in UnstableIds.Take(5))
        {
            text.Append("\n  unstable id: ").Append(problem);
        }

        foreach (var problem in SharedIds.Take(5))
        {
            text.Append("\n  shared id: ").Append(problem);
        }

        return text.ToString();
    }
}
