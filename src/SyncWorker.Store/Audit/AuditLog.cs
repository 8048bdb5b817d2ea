using SyncWorker.Store.Ledger;

namespace SyncWorker.Store.Audit;

/// <summary>One entry of the audit log: when, who (an operator's user and host, or <c>retention</c>), what, of what, and how it went.</summary>
/// <param name="Id">Its number, in the order written.</param>
/// <param name="At">When.</param>
/// <param name="Actor">Who: <c>user@host</c> for a verb, <c>retention</c> for the background purge.</param>
/// <param name="Action">What: <c>accounts.purge</c>, <c>installs.sync</c>, …</param>
/// <param name="Subject">Of what (an account id), when it has one.</param>
/// <param name="Detail">How it went, in words (counts); never a secret or customer data.</param>
public sealed record AuditEntry(long Id, DateTimeOffset At, string Actor, string Action, string? Subject, string? Detail);

/// <summary>
/// The store's audit log (<c>audit_log</c>): changes made by operators' verbs and by the background purge of a merchant's
/// data, newest first when listed. Kept as long as the store; nothing purges it.
/// </summary>
public sealed class AuditLog(SqlDeliveryLedger store, TimeProvider time)
{
    /// <summary>The actor of the forwarders' background purge.</summary>
    public const string RetentionActor = "retention";

    /// <summary>The actor of a verb run here: the OS user and host.</summary>
    public static string OperatorActor => $"{Environment.UserName}@{Environment.MachineName}";

    /// <summary>Writes one entry.</summary>
    public Task RecordAsync(string actor, string action, string? subject, string? detail, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(actor);
        ArgumentException.ThrowIfNullOrWhiteSpace(action);
        return store.RunAsync(async connection =>
        {
            await using var command = SqlDeliveryLedger.Command(connection,
                "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (@at, @actor, @action, @subject, @detail)",
                ("at", time.GetUtcNow().ToUnixTimeMilliseconds()), ("actor", Cut(actor, 255)), ("action", Cut(action, 100)),
                ("subject", subject is null ? null : Cut(subject, 255)), ("detail", detail is null ? null : Cut(detail, 2000)));
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    /// <summary>Entries at or after <paramref name="since"/>, newest first, at most <paramref name="limit"/>.</summary>
    public Task<IReadOnlyList<AuditEntry>> ListAsync(DateTimeOffset since, int limit, CancellationToken cancellationToken) =>
        store.RunAsync<IReadOnlyList<AuditEntry>>(async connection =>
        {
            await using var command = SqlDeliveryLedger.Command(connection,
                "SELECT id, at, actor, action, subject, detail FROM audit_log WHERE at >= @since ORDER BY id DESC LIMIT @limit",
                ("since", since.ToUnixTimeMilliseconds()), ("limit", limit));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var entries = new List<AuditEntry>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                entries.Add(new AuditEntry(
                    reader.GetInt64(0),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)),
                    reader.GetString(2),
                    reader.GetString(3),
                    reader.IsDBNull(4) ? null : reader.GetString(4),
                    reader.IsDBNull(5) ? null : reader.GetString(5)));
            }

            return entries;
        }, cancellationToken);

    private static string Cut(string text, int length) => text.Length <= length ? text : text[..length];
}
