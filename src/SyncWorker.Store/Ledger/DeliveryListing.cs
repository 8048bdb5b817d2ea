using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace SyncWorker.Store.Ledger;

/// <summary>
/// Which ledger rows to list, a page at a time: newest change first (<c>updated_at</c> descending, then the key
/// descending, a stable order), filtered by target, state and the time of the last change.
/// </summary>
/// <param name="Target">Only this target's rows; null for every target.</param>
/// <param name="State">Only rows in this state; null for every state.</param>
/// <param name="Since">Only rows changed at or after this time.</param>
/// <param name="Until">Only rows changed before this time.</param>
/// <param name="Limit">The most rows on the page (1 to <see cref="MaxLimit"/>).</param>
/// <param name="After">The page after this cursor (<see cref="DeliveryPage.Next"/> of the page before); null for the first.</param>
public sealed record DeliveryQuery(
    string? Target = null,
    DeliveryState? State = null,
    DateTimeOffset? Since = null,
    DateTimeOffset? Until = null,
    int Limit = DeliveryQuery.DefaultLimit,
    DeliveryCursor? After = null)
{
    /// <summary>The page size when none is given.</summary>
    public const int DefaultLimit = 50;

    /// <summary>The largest page.</summary>
    public const int MaxLimit = 1000;
}

/// <summary>
/// Where a page of <see cref="DeliveryQuery"/> ended: the last row's change time and key. Its text (<see cref="ToString"/>)
/// is opaque, URL- and shell-safe, and what <c>--after</c> and <c>after=</c> take.
/// </summary>
public sealed record DeliveryCursor(long UpdatedAtMillis, string Key)
{
    /// <summary>The cursor's text.</summary>
    public override string ToString() =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{UpdatedAtMillis}:{Key}")));

    /// <summary>Reads a cursor's text; false for anything that is not one.</summary>
    public static bool TryParse(string? text, out DeliveryCursor? cursor)
    {
        cursor = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(text.Trim()));
        }
        catch (FormatException)
        {
            return false;
        }

        var colon = decoded.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == decoded.Length - 1
            || !long.TryParse(decoded.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var millis))
        {
            return false;
        }

        cursor = new DeliveryCursor(millis, decoded[(colon + 1)..]);
        return true;
    }
}

/// <summary>One page of ledger rows and the cursor of the next page (null when this is the last).</summary>
public sealed record DeliveryPage(IReadOnlyList<LedgerEntry> Entries, DeliveryCursor? Next);

/// <summary>
/// A page of the delivery ledger as <c>deliveries list --json</c> prints it and <c>GET /admin/deliveries</c> answers it:
/// the filters applied, the rows, and <see cref="Next"/>, the cursor of the next page (null on the last).
/// </summary>
public sealed record DeliveryListing(
    string Store,
    string? Target,
    string? State,
    DateTimeOffset? Since,
    DateTimeOffset? Until,
    int Limit,
    IReadOnlyList<DeliverySummary> Deliveries,
    string? Next)
{
    /// <summary>Reads one page of <paramref name="query"/>.</summary>
    public static async Task<DeliveryListing> LoadAsync(IDeliveryLedger ledger, string store, DeliveryQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ledger);
        ArgumentNullException.ThrowIfNull(query);
        var page = await ledger.ListAsync(query, cancellationToken).ConfigureAwait(false);
        return new DeliveryListing(
            store,
            query.Target,
            query.State?.Name(),
            query.Since,
            query.Until,
            query.Limit,
            page.Entries.Select(DeliverySummary.From).ToList(),
            page.Next?.ToString());
    }
}

/// <summary>One ledger row as listed; <see cref="State"/> is the state's text (<c>delivered</c>, …).</summary>
public sealed record DeliverySummary(
    string Key,
    string Target,
    string Subject,
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
    DateTimeOffset? LeaseUntil)
{
    /// <summary>The summary of a row.</summary>
    public static DeliverySummary From(LedgerEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return new DeliverySummary(
            entry.Key, entry.Target, entry.Subject, entry.Action, entry.ActionInstance, entry.State.Name(), entry.Attempts,
            entry.RepeatsSuppressed, entry.LastStatus, entry.LastError, entry.WebhookId, entry.EventId, entry.Account,
            entry.CreatedAt, entry.UpdatedAt, entry.DeliveredAt, entry.LeaseOwner, entry.LeaseUntil);
    }
}

/// <summary>The listing of <see cref="IDeliveryLedger.ListAsync"/>.</summary>
public sealed partial class SqlDeliveryLedger
{
    /// <inheritdoc />
    public Task<DeliveryPage> ListAsync(DeliveryQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Limit is < 1 or > DeliveryQuery.MaxLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(query), query.Limit, $"The limit is 1 to {DeliveryQuery.MaxLimit}.");
        }

        var conditions = new List<string>();
        var parameters = new List<(string Name, object? Value)> { ("limit", query.Limit + 1) };
        void Where(string condition, params (string Name, object? Value)[] values)
        {
            conditions.Add(condition);
            parameters.AddRange(values);
        }

        if (query.Target is { } target)
        {
            Where("target = @target", ("target", target));
        }

        if (query.State is { } state)
        {
            Where("state = @state", ("state", state.Name()));
        }

        if (query.Since is { } since)
        {
            Where("updated_at >= @since", ("since", Millis(since)));
        }

        if (query.Until is { } until)
        {
            Where("updated_at < @until", ("until", Millis(until)));
        }

        if (query.After is { } after)
        {
            Where("(updated_at < @after_at OR (updated_at = @after_at AND delivery_key < @after_key))", ("after_at", after.UpdatedAtMillis), ("after_key", after.Key));
        }

        var sql = $"SELECT {Columns} FROM deliveries" +
            (conditions.Count == 0 ? "" : " WHERE " + string.Join(" AND ", conditions)) +
            " ORDER BY updated_at DESC, delivery_key DESC LIMIT @limit";
        return RunAsync(async connection =>
        {
            await using var command = Command(connection, sql, [.. parameters]);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var entries = new List<LedgerEntry>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                entries.Add(Read(reader));
            }

            if (entries.Count <= query.Limit)
            {
                return new DeliveryPage(entries, null);
            }

            entries.RemoveAt(entries.Count - 1);
            var last = entries[^1];
            return new DeliveryPage(entries, new DeliveryCursor(Millis(last.UpdatedAt), last.Key));
        }, cancellationToken);
    }
}
