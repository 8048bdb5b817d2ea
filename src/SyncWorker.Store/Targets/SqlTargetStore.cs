using System.Data.Common;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Store.Targets;

/// <summary>The states of a stored target.</summary>
public static class StoredTargetStates
{
    /// <summary>Receives new deliveries.</summary>
    public const string Active = "active";

    /// <summary>Being removed: receives nothing new, delivers what its queue holds, then is removed.</summary>
    public const string Draining = "draining";

    /// <summary>Being removed: receives nothing new, ends what its queue holds as discarded, then is removed.</summary>
    public const string Discarding = "discarding";

    /// <summary>Removed: a row without secrets, kept so every forwarder sees the removal and the name can be taken again.</summary>
    public const string Removed = "removed";
}

/// <summary>A target managed at run time, as stored.</summary>
/// <param name="Name">Its name.</param>
/// <param name="Definition">Its settings without secrets (JSON).</param>
/// <param name="Secrets">Its secrets (JSON), decrypted; null for a removed target.</param>
/// <param name="State">One of <see cref="StoredTargetStates"/>.</param>
/// <param name="Revision">Raised by every change of the row.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="CreatedBy">Who created it (an admin token's name, or <c>user@host</c>).</param>
/// <param name="UpdatedAt">When it last changed.</param>
/// <param name="UpdatedBy">Who last changed it.</param>
/// <param name="Unreadable">Why its secrets could not be opened (another key, a damaged value); null when they could.</param>
public sealed record StoredTarget(
    string Name,
    string Definition,
    string? Secrets,
    string State,
    long Revision,
    DateTimeOffset CreatedAt,
    string CreatedBy,
    DateTimeOffset UpdatedAt,
    string UpdatedBy,
    string? Unreadable = null);

/// <summary>
/// The <c>targets</c> table (schema version 4), in the same store and under the same turns as the delivery ledger.
/// Secrets are sealed with the <see cref="SecretBox"/> before they are written and opened when read; without a box
/// (no <c>Store:EncryptionKey</c>) targets with secrets can be neither written nor read.
/// </summary>
public sealed class SqlTargetStore(SqlDeliveryLedger store, TimeProvider time, SecretBox? box)
{
    private const string Columns = "name, definition, secrets, state, revision, created_at, created_by, updated_at, updated_by";

    /// <summary>True when an encryption key is configured (targets can be written and read).</summary>
    public bool CanSeal => box is not null;

    /// <summary>
    /// A value that changes with every change of the table (rows, and the sum of their revisions, which only grow):
    /// forwarders compare it to see whether to read the targets again.
    /// </summary>
    public Task<string> FingerprintAsync(CancellationToken cancellationToken) =>
        store.RunAsync(async connection =>
        {
            await using var command = SqlDeliveryLedger.Command(connection, "SELECT COUNT(*), COALESCE(SUM(revision), 0) FROM targets");
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            return $"{reader.GetInt64(0)}/{Convert.ToInt64(reader.GetValue(1), System.Globalization.CultureInfo.InvariantCulture)}";
        }, cancellationToken);

    /// <summary>Every target not removed, by name.</summary>
    public Task<IReadOnlyList<StoredTarget>> ListAsync(CancellationToken cancellationToken) =>
        store.RunAsync<IReadOnlyList<StoredTarget>>(async connection =>
        {
            await using var command = SqlDeliveryLedger.Command(connection,
                $"SELECT {Columns} FROM targets WHERE state <> @removed ORDER BY name", ("removed", StoredTargetStates.Removed));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var rows = new List<StoredTarget>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                rows.Add(Read(reader));
            }

            return rows;
        }, cancellationToken);

    /// <summary>The target called <paramref name="name"/>, or null when there is none (or it was removed).</summary>
    public Task<StoredTarget?> GetAsync(string name, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return store.RunAsync(async connection =>
        {
            await using var command = SqlDeliveryLedger.Command(connection,
                $"SELECT {Columns} FROM targets WHERE name = @name AND state <> @removed", ("name", name), ("removed", StoredTargetStates.Removed));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? Read(reader) : null;
        }, cancellationToken);
    }

    /// <summary>Creates a target; false when the name is taken by a target not removed.</summary>
    public Task<bool> CreateAsync(string name, string definition, string secrets, string actor, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(secrets);
        var sealedSecrets = Box.Seal(name, secrets);
        return store.RunAsync(async connection =>
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            await using var command = SqlDeliveryLedger.Command(connection, $"""
                INSERT INTO targets ({Columns}) VALUES (@name, @definition, @secrets, @active, 1, @now, @actor, @now, @actor)
                ON CONFLICT (name) DO UPDATE SET
                    definition = excluded.definition, secrets = excluded.secrets, state = excluded.state,
                    revision = targets.revision + 1, created_at = excluded.created_at, created_by = excluded.created_by,
                    updated_at = excluded.updated_at, updated_by = excluded.updated_by
                WHERE targets.state = @removed
                """,
                ("name", name), ("definition", definition), ("secrets", sealedSecrets), ("active", StoredTargetStates.Active),
                ("now", now), ("actor", Cut(actor)), ("removed", StoredTargetStates.Removed));
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) > 0;
        }, cancellationToken);
    }

    /// <summary>Replaces an active target's settings and secrets; false when there is no active target of that name.</summary>
    public Task<bool> ReplaceAsync(string name, string definition, string secrets, string actor, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(secrets);
        var sealedSecrets = Box.Seal(name, secrets);
        return store.RunAsync(async connection =>
        {
            await using var command = SqlDeliveryLedger.Command(connection, """
                UPDATE targets SET definition = @definition, secrets = @secrets, revision = revision + 1, updated_at = @now, updated_by = @actor
                WHERE name = @name AND state = @active
                """,
                ("name", name), ("definition", definition), ("secrets", sealedSecrets), ("active", StoredTargetStates.Active),
                ("now", time.GetUtcNow().ToUnixTimeMilliseconds()), ("actor", Cut(actor)));
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) > 0;
        }, cancellationToken);
    }

    /// <summary>
    /// Moves a target from one of <paramref name="from"/> to <paramref name="to"/> (<see cref="StoredTargetStates.Removed"/>
    /// also clears its secrets); false when it is in none of them.
    /// </summary>
    public Task<bool> ChangeStateAsync(string name, string to, IReadOnlyCollection<string> from, string actor, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(to);
        ArgumentNullException.ThrowIfNull(from);
        return store.RunAsync(async connection =>
        {
            var parameters = new List<(string, object?)>
            {
                ("name", name), ("to", to), ("now", time.GetUtcNow().ToUnixTimeMilliseconds()), ("actor", Cut(actor)),
            };
            var names = new List<string>();
            foreach (var state in from)
            {
                names.Add($"@from{names.Count}");
                parameters.Add(($"from{names.Count - 1}", state));
            }

            var clear = to == StoredTargetStates.Removed ? ", secrets = NULL" : "";
            await using var command = SqlDeliveryLedger.Command(connection, $"""
                UPDATE targets SET state = @to{clear}, revision = revision + 1, updated_at = @now, updated_by = @actor
                WHERE name = @name AND state IN ({string.Join(", ", names)})
                """, parameters.ToArray());
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) > 0;
        }, cancellationToken);
    }

    /// <summary>
    /// The ledger's deliveries to <paramref name="name"/> not yet ended (pending, in flight, retrying, or waiting for a
    /// redelivery in a delay queue): what a removal must still deliver or discard.
    /// </summary>
    public Task<long> OpenDeliveriesAsync(string name, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return store.RunAsync(async connection =>
        {
            await using var command = SqlDeliveryLedger.Command(connection,
                "SELECT COUNT(*) FROM deliveries WHERE target = @name AND state IN ('pending', 'in_flight', 'retrying', 'waiting')", ("name", name));
            return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        }, cancellationToken);
    }

    /// <summary>
    /// A merchant's data erased (<c>accounts purge</c>, the purge after an uninstall): a target serving only
    /// <paramref name="account"/> is removed (its secrets cleared; forwarders stop it within seconds, its queue is deleted
    /// once nothing of it is open), and a target serving it among others no longer lists it. Needs no encryption key.
    /// Returns the names removed and narrowed.
    /// </summary>
    public Task<(IReadOnlyList<string> Removed, IReadOnlyList<string> Narrowed)> PurgeAccountAsync(string account, string actor, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(account);
        return store.RunAsync(async connection =>
        {
            var rows = new List<(string Name, string Definition)>();
            await using (var select = SqlDeliveryLedger.Command(connection,
                "SELECT name, definition FROM targets WHERE state <> @removed AND definition LIKE @like",
                ("removed", StoredTargetStates.Removed), ("like", $"%\"{account}\"%")))
            await using (var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    rows.Add((reader.GetString(0), reader.GetString(1)));
                }
            }

            var removed = new List<string>();
            var narrowed = new List<string>();
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            foreach (var (name, definition) in rows)
            {
                if (System.Text.Json.Nodes.JsonNode.Parse(definition) is not System.Text.Json.Nodes.JsonObject target
                    || target["accounts"] is not System.Text.Json.Nodes.JsonArray accounts
                    || !accounts.Any(a => a?.GetValue<string>() == account))
                {
                    continue;
                }

                var left = accounts.Where(a => a?.GetValue<string>() != account).Select(a => a!.GetValue<string>()).ToList();
                DbCommand update;
                if (left.Count == 0)
                {
                    update = SqlDeliveryLedger.Command(connection,
                        "UPDATE targets SET state = @removedState, secrets = NULL, revision = revision + 1, updated_at = @now, updated_by = @actor WHERE name = @name AND state <> @removedState",
                        ("removedState", StoredTargetStates.Removed), ("now", now), ("actor", Cut(actor)), ("name", name));
                    removed.Add(name);
                }
                else
                {
                    target["accounts"] = new System.Text.Json.Nodes.JsonArray(left.Select(a => (System.Text.Json.Nodes.JsonNode?)a).ToArray());
                    update = SqlDeliveryLedger.Command(connection,
                        "UPDATE targets SET definition = @definition, revision = revision + 1, updated_at = @now, updated_by = @actor WHERE name = @name",
                        ("definition", target.ToJsonString()), ("now", now), ("actor", Cut(actor)), ("name", name));
                    narrowed.Add(name);
                }

                await using (update)
                {
                    await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }
            }

            return ((IReadOnlyList<string>)removed, (IReadOnlyList<string>)narrowed);
        }, cancellationToken);
    }

    private SecretBox Box => box ?? throw new SecretBoxException(
        "No encryption key is configured for the secrets of targets managed at run time: set Store:EncryptionKey (32 random bytes in base64, e.g. from `openssl rand -base64 32`) or Store:EncryptionKeyFile, on every SyncWorker sharing this store.");

    private StoredTarget Read(DbDataReader reader)
    {
        var name = reader.GetString(0);
        var sealedSecrets = reader.IsDBNull(2) ? null : reader.GetString(2);
        string? secrets = null;
        string? unreadable = null;
        if (sealedSecrets is not null)
        {
            try
            {
                secrets = Box.Open(name, sealedSecrets);
            }
            catch (SecretBoxException exception)
            {
                unreadable = exception.Message;
            }
        }

        return new StoredTarget(
            name,
            reader.GetString(1),
            secrets,
            reader.GetString(3),
            reader.GetInt64(4),
            DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)),
            reader.GetString(6),
            DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(7)),
            reader.GetString(8),
            unreadable);
    }

    private static string Cut(string text) => text.Length <= 255 ? text : text[..255];
}
