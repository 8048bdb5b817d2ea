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
    IReadOnlyList<string> LostKeys,
    IReadOnlyList<RepeatAfterAnswer> RepeatsAfterAnswer)
{
    public static string Header =>
        "scenario | target | sent (sends) | acknowledged | expected | delivered | duplicates | lost | unexpected | requests | unstable ids | shared ids | bad signatures | POSTs after a 2xx (allowed)";

    /// <summary>POSTs after a 2xx that nothing excuses: each must be zero.</summary>
    public IReadOnlyList<RepeatAfterAnswer> Resent => RepeatsAfterAnswer.Where(r => r.Allowed is null).ToList();

    /// <summary>POSTs after a 2xx that the worker could not have known about (see <see cref="RepeatAfterAnswer"/>).</summary>
    public IReadOnlyList<RepeatAfterAnswer> Allowed => RepeatsAfterAnswer.Where(r => r.Allowed is not null).ToList();

    /// <summary>
    /// Compares what "Stripe" had acknowledged with what the target accepted (answered 2xx). Every request the target
    /// saw, accepted or not, counts for the webhook-id checks: a retry or a replay must carry the id of the first try.
    /// </summary>
    /// <param name="scenario">The scenario's name.</param>
    /// <param name="target">The target.</param>
    /// <param name="sends">What the fake Stripe sent.</param>
    /// <param name="kills">When a worker process was killed (SIGKILL) during the scenario, and when that worker was launched again.</param>
    public static LedgerCheck Of(
        string scenario, TargetSpec target, IReadOnlyList<SendRecord> sends, IReadOnlyList<(DateTimeOffset Killed, DateTimeOffset? Relaunched)> kills)
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
            LostKeys: lost,
            RepeatsAfterAnswer: RepeatAfterAnswer.Find(target.Ledger, kills));
    }

    public string Row() => string.Create(CultureInfo.InvariantCulture,
        $"{Scenario} | {Target} | {DistinctEvents} ({Sends}) | {Acknowledged} | {Expected} | {Delivered} | {Duplicates} | {Lost} | {Unexpected} | {Requests} | {UnstableIds.Count} | {SharedIds.Count} | {BadSignatures} | {Resent.Count} ({Allowed.Count})");

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

        foreach (var repeat in RepeatsAfterAnswer.Take(10))
        {
            text.Append("\n  POST after a 2xx: ").Append(repeat.Describe());
        }

        return text.ToString();
    }
}

/// <summary>
/// A POST a target received for a delivery (the same key: order action or event) after it had already answered 2xx for
/// it. The issue allows exactly one kind (README, "The store and the delivery ledger"): the forwarder that got the 2xx
/// died before it could record it, so its lease expired and another forwarder sent again with the same webhook-id. Such
/// a repeat is <see cref="Allowed"/> only when every earlier 2xx answer for the key is shown not to have been seen, or
/// not recorded, by a live worker:
/// <list type="bullet">
/// <item>the answer never went out (the worker aborted the request first), or the request came before a killed (SIGKILL)
/// worker was launched again, on a connection that ended at or after the kill (the killed process held it: it was killed
/// while waiting for the answer, or after it had the answer);</item>
/// <item>and the worker's own ledger (its store's attempts) holds no delivered attempt of that key finished before the
/// repeat arrived (<see cref="Scenario.ConfirmUnrecordedAsync"/>): a repeat of a recorded delivery is never allowed.</item>
/// </list>
/// Anything else (a graceful stop, a broker or store outage, a duplicate event, a replay, two forwarders) allows none.
/// </summary>
/// <param name="Key">The delivery's key at the target (order id or event id).</param>
/// <param name="Repeat">The POST that came after the 2xx.</param>
/// <param name="Answers">The 2xx answers for the key before it.</param>
/// <param name="Allowed">Why it is allowed, or null when it is not.</param>
internal sealed record RepeatAfterAnswer(string Key, LedgerEntry Repeat, IReadOnlyList<LedgerEntry> Answers, string? Allowed)
{
    /// <summary>Every POST of <paramref name="ledger"/> received after a 2xx answer for its key, with the connection evidence.</summary>
    public static IReadOnlyList<RepeatAfterAnswer> Find(LedgerTarget ledger, IReadOnlyList<(DateTimeOffset Killed, DateTimeOffset? Relaunched)> kills)
    {
        var entries = ledger.Entries;
        var ended = ledger.ConnectionsEnded;
        var repeats = new List<RepeatAfterAnswer>();
        foreach (var group in entries.GroupBy(e => e.Key, StringComparer.Ordinal))
        {
            foreach (var post in group)
            {
                var answers = group.Where(e => e.Accepted && e.At < post.ReceivedAt).ToList();
                if (answers.Count == 0)
                {
                    continue;
                }

                var unseen = answers.Select(a => Unseen(a, post, ended, kills)).ToList();
                repeats.Add(new RepeatAfterAnswer(group.Key, post, answers, unseen.All(u => u is not null) ? string.Join("; ", unseen) : null));
            }
        }

        return repeats;
    }

    /// <summary>Why the worker could not have seen <paramref name="answer"/> before <paramref name="post"/>, or null.</summary>
    private static string? Unseen(
        LedgerEntry answer, LedgerEntry post, IReadOnlyDictionary<string, DateTimeOffset> ended, IReadOnlyList<(DateTimeOffset Killed, DateTimeOffset? Relaunched)> kills)
    {
        if (!answer.AnswerSent)
        {
            return "the worker aborted the request before the 2xx went out";
        }

        // The target's own clock lags a killed process (on a busy machine it may accept a connection, read a request and
        // answer it after the kill, from bytes sent before): what counts is that the request came before the killed worker
        // was launched again, on a connection that ended at or after the kill, before the repeat came.
        if (ended.TryGetValue(answer.ConnectionId, out var end) && end <= post.ReceivedAt
            && kills.Where(k => k.Killed <= end && (k.Relaunched is not { } again || answer.ReceivedAt < again))
                .Select(k => (DateTimeOffset?)k.Killed).FirstOrDefault() is { } killed)
        {
            return $"the request came {Relative(answer.ReceivedAt, killed)} and was answered {Relative(answer.At, killed)} a worker was killed (before it was " +
                "launched again), on a connection that ended with it";
        }

        return null;
    }

    private static string Relative(DateTimeOffset at, DateTimeOffset kill) => string.Create(CultureInfo.InvariantCulture,
        $"{Math.Abs((kill - at).TotalMilliseconds):F0} ms {(at <= kill ? "before" : "after")}");

    /// <summary>The same repeat, no longer allowed, with the reason.</summary>
    public RepeatAfterAnswer Disallow(string reason) => this with { Allowed = null, Recorded = reason };

    /// <summary>Why an allowance was withdrawn (the worker's ledger recorded the delivery before the repeat).</summary>
    public string? Recorded { get; init; }

    public string Describe()
    {
        var answers = string.Join(", ", Answers.Select(a => a.At.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)));
        var verdict = Allowed is not null ? $": allowed, {Allowed}" : Recorded is not null ? $": {Recorded}" : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"{Key} (webhook-id {Repeat.WebhookId}) POSTed at {Repeat.ReceivedAt:HH:mm:ss.fff}, answered {Repeat.Status}, after 2xx at {answers}{verdict}");
    }
}
