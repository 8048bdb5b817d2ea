using Spectre.Console;
using Microsoft.Extensions.Configuration;
using SyncWorker.Contracts;
using SyncWorker.Messaging.Broker;
using SyncWorker.Store;
using SyncWorker.Store.Audit;
using SyncWorker.Store.Targets;

namespace SyncWorker.Operations.Cli;

/// <summary>
/// <c>targets enable T</c>: enables a target disabled for failing (<c>DisableAfterHours</c>): its row in the store says not
/// disabled and its failing window starts now, then its disable marker (<see cref="Topology.DisabledMarker"/>) is deleted,
/// so forwarders take its queued deliveries again when they next check. Written to the audit log. Needs the store at
/// schema version 6 and the broker. Takes a target of the configuration file, or one of the admin API the store records as
/// disabled.
/// </summary>
internal static class TargetEnableCommand
{
    /// <summary>The store's schema version that has <c>target_health</c>.</summary>
    public const long NeedsSchema = 6;

    public static async Task<int> EnableAsync(CliSession session, IConfiguration configuration, string target, CancellationToken cancellationToken)
    {
        // A target of the configuration file, or any target the store recorded as disabled (one of the admin API).
        var configured = session.ResolveTargets(null).Contains(target, StringComparer.Ordinal);
        var name = target;
        var settings = StoreCommands.ExistingStore(configuration);
        var version = await new StoreMigrator(settings).CurrentVersionAsync(cancellationToken);
        if (version < NeedsSchema)
        {
            throw CliException.Failed(
                $"The store ({settings.Description}) is at schema version {version}, before target health ({NeedsSchema}: disable after failing): " +
                "start a forwarder of this version, or run `store migrate`.");
        }

        var before = await StoreCommands.WithLedgerAsync(session, settings, async ledger =>
        {
            var health = new SqlTargetHealth(ledger, session.TimeProvider);
            if (!configured && (await health.GetAsync(name, cancellationToken))?.DisabledAt is null)
            {
                throw CliException.Usage(
                    $"Unknown target '{name}': neither a configured target (Fulfillment:Targets:N:Name: {string.Join(", ", session.ResolveTargets(null))}) " +
                    $"nor a target the store ({settings.Description}) records as disabled.");
            }

            var row = await health.EnableAsync(name, AuditLog.OperatorActor, cancellationToken);
            await new AuditLog(ledger, session.TimeProvider).RecordAsync(AuditLog.OperatorActor, "targets.enable", name,
                row?.DisabledAt is { } at ? $"enabled (disabled at {at:o}, failing since {row.FailingSince:o})" : "failing window restarted", cancellationToken);
            return row;
        });

        await using var connection = await session.ConnectAsync(cancellationToken);
        var marker = Topology.DisabledMarker(name);
        var existed = await QueueProbe.ProbeAsync(connection, marker, cancellationToken) is not null;
        if (existed)
        {
            await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            await channel.QueueDeleteAsync(marker, ifUnused: false, ifEmpty: false, cancellationToken: cancellationToken);
        }

        if (!existed && before?.DisabledAt is null)
        {
            session.Console.WriteLine($"Target '{name}' was not disabled ({marker} does not exist); its failing window starts again now.");
            return ExitCodes.Ok;
        }

        var waiting = await QueueProbe.ProbeAsync(connection, Topology.TargetQueue(name), cancellationToken);
        session.Console.WriteLine(
            $"Enabled target '{name}'" + (before?.FailingSince is { } since ? $" (failing since {since:u})" : "") + $": deleted {marker}. " +
            $"Forwarders take deliveries from {Topology.TargetQueue(name)} again when they next check" +
            (waiting is null ? "" : $" ({Formats.Plural(waiting.Messages, "delivery", "deliveries")} waiting)") +
            "; its failing window starts now.");
        return ExitCodes.Ok;
    }
}
