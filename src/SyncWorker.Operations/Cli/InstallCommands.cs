using Microsoft.Extensions.Configuration;
using Spectre.Console;
using SyncWorker.Store;
using SyncWorker.Store.Audit;
using SyncWorker.Store.Installs;

namespace SyncWorker.Operations.Cli;

/// <summary>One install as <c>installs list --json</c> prints it.</summary>
/// <param name="Account">The merchant (<c>acct_…</c>).</param>
/// <param name="Mode"><c>live</c>, <c>test</c> or <c>sandbox</c>.</param>
/// <param name="Status"><c>installed</c> or <c>uninstalled</c>.</param>
/// <param name="PermissionsGranted">As the last <c>apps.install.*</c> event said; null when none did.</param>
/// <param name="PermissionsPending">Likewise.</param>
/// <param name="LastEventId">The event that last changed it.</param>
/// <param name="LastEventCreated">That event's <c>created</c>.</param>
/// <param name="FirstSeen">When SyncWorker first recorded it.</param>
/// <param name="LastSeen">When an install event last reached it.</param>
/// <param name="Waiting">Why order actions of this install wait (a permission they need is pending), or null.</param>
public sealed record InstallView(
    string Account,
    string Mode,
    string Status,
    IReadOnlyList<string>? PermissionsGranted,
    IReadOnlyList<string>? PermissionsPending,
    string? LastEventId,
    DateTimeOffset LastEventCreated,
    DateTimeOffset FirstSeen,
    DateTimeOffset LastSeen,
    string? Waiting = null);

/// <summary>What <c>installs list --json</c> prints: the store it read and its installs.</summary>
public sealed record InstallListing(string Store, IReadOnlyList<InstallView> Installs);

/// <summary><c>installs list</c>: the install registry (which merchants installed or uninstalled the app, per mode); <c>accounts purge</c>.</summary>
internal static class InstallCommands
{
    /// <summary><c>accounts purge acct_…</c>: the merchant's data deleted from the store now (<see cref="AccountPurger"/>).</summary>
    public static async Task<int> PurgeAccountAsync(CliSession session, IConfiguration configuration, string account, bool json, CancellationToken cancellationToken)
    {
        if (!account.StartsWith("acct_", StringComparison.Ordinal) || account.Length <= "acct_".Length || account.Any(char.IsWhiteSpace))
        {
            throw CliException.Usage($"accounts purge takes a Stripe account id (acct_…); '{account}' is not one.");
        }

        var settings = StoreCommands.ExistingStore(configuration);
        await RequireInstallRegistryAsync(settings, cancellationToken);
        var purge = await StoreCommands.WithLedgerAsync(session, settings, ledger => new AccountPurger(ledger, settings, session.TimeProvider).PurgeAsync(account, AuditLog.OperatorActor, cancellationToken));
        if (json)
        {
            session.WriteJson(purge);
        }
        else
        {
            var table = new Table().AddColumn(WholeTable.Identifier("Table")).AddColumn(new TableColumn("Deleted").RightAligned());
            foreach (var (name, count) in purge.Deleted)
            {
                table.AddRow(Formats.Cell(name), Formats.Cell(count));
            }

            session.Console.Write(new WholeTable(table));
            session.Console.WriteLine($"Purged {account} from {settings.Description}; its install row stays (status and dates, to keep skipping its events).");
        }

        if (purge.LeftInFlight > 0)
        {
            session.Error.WriteLine($"{purge.LeftInFlight} ledger rows of {account} are being delivered now and were left: run accounts purge again in a few minutes (the hourly purge takes them if the account is due).");
        }

        if (purge.StillInstalled.Count > 0)
        {
            session.Error.WriteLine($"{account} is still installed in {string.Join(" and ", purge.StillInstalled)} mode: its next events are forwarded and recorded again.");
        }

        return purge.LeftInFlight > 0 ? ExitCodes.Failed : ExitCodes.Ok;
    }

    /// <summary><c>installs sync</c>: the registry corrected from Stripe's Install API (<see cref="Installs.InstallSync"/>).</summary>
    public static async Task<int> SyncAsync(CliSession session, IConfiguration configuration, bool json, CancellationToken cancellationToken)
    {
        var settings = StoreCommands.ExistingStore(configuration);
        await RequireInstallRegistryAsync(settings, cancellationToken);
        var result = await StoreCommands.WithLedgerAsync(session, settings, async ledger =>
        {
            var synced = await Installs.InstallSync.RunAsync(configuration, new SqlInstallRegistry(ledger, session.TimeProvider), session.TimeProvider, settings.Description, cancellationToken);
            await new AuditLog(ledger, session.TimeProvider).RecordAsync(AuditLog.OperatorActor, "installs.sync", null,
                $"{synced.Listed} installs listed ({string.Join(" and ", synced.Modes)} mode); {synced.Changes.Count} rows changed" +
                string.Concat(synced.Changes.Select(c => $"; {c.Account} ({c.Mode}) {c.Before ?? "not recorded"} -> {c.After}")),
                cancellationToken);
            return synced;
        });
        if (json)
        {
            session.WriteJson(result);
        }
        else
        {
            var table = new Table().AddColumn(WholeTable.Identifier("Account")).AddColumn("Mode").AddColumn("Before").AddColumn("Now");
            foreach (var change in result.Changes)
            {
                table.AddRow(Formats.Cell(change.Account), Formats.Cell(change.Mode), Formats.Cell(change.Before ?? "(not recorded)"), Formats.Cell(change.After));
            }

            if (result.Changes.Count > 0)
            {
                session.Console.Write(new WholeTable(table));
            }

            session.Console.WriteLine(
                $"Synced {settings.Description} with Stripe's Install API ({string.Join(" and ", result.Modes)} mode): " +
                $"{Formats.Plural(result.Listed, "install", "installs")} listed, {Formats.Plural(result.Changes.Count, "row", "rows")} changed.");
        }

        foreach (var skipped in result.Skipped)
        {
            session.Error.WriteLine($"Not synced: {skipped}.");
        }

        return result.Modes.Count == 0 ? ExitCodes.Failed : ExitCodes.Ok;
    }

    /// <summary>
    /// Refuses a store from before schema version 5 (the install registry and audit log of 3, its sandbox column of 5),
    /// saying how to migrate it.
    /// </summary>
    public static async Task RequireInstallRegistryAsync(StoreSettings settings, CancellationToken cancellationToken)
    {
        var version = await new StoreMigrator(settings).CurrentVersionAsync(cancellationToken);
        if (version < 5)
        {
            throw CliException.Failed(
                $"The store ({settings.Description}) is at schema version {version}, before the install registry as this version reads it " +
                "(3: install registry and audit log; 5: sandbox installs): start a forwarder of this version, or run `store migrate`.");
        }
    }

    public static async Task<int> ListAsync(CliSession session, IConfiguration configuration, bool json, CancellationToken cancellationToken)
    {
        var settings = StoreCommands.ExistingStore(configuration);
        await RequireInstallRegistryAsync(settings, cancellationToken);
        var rows = await StoreCommands.WithLedgerAsync(session, settings, ledger => new SqlInstallRegistry(ledger, session.TimeProvider).ListAsync(cancellationToken));
        var views = rows.Select(r => new InstallView(
            r.Account, r.Mode, r.Status, r.PermissionsGranted, r.PermissionsPending, r.LastEventId, r.LastEventCreated, r.FirstSeen, r.LastSeen,
            r.Status == InstallStatus.Installed ? SyncWorker.Contracts.OrderActionPermissions.Waiting(r.PermissionsPending) : null)).ToList();
        if (json)
        {
            session.WriteJson(new InstallListing(settings.Description, views));
            return ExitCodes.Ok;
        }

        if (views.Count == 0)
        {
            session.Error.WriteLine(
                $"The install registry ({settings.Description}) is empty: no install event (account.application.*, apps.install.*) has reached a forwarder yet. " +
                "Accounts it has not heard of count as installed.");
            return ExitCodes.Ok;
        }

        var table = new Table()
            .AddColumn(WholeTable.Identifier("Account"))
            .AddColumn("Mode")
            .AddColumn("Status")
            .AddColumn("Granted")
            .AddColumn("Pending")
            .AddColumn("Waiting")
            .AddColumn("Last event")
            .AddColumn("First seen")
            .AddColumn("Last seen");
        foreach (var view in views)
        {
            table.AddRow(
                Formats.Cell(view.Account),
                Formats.Cell(view.Mode),
                Formats.Cell(view.Status),
                Formats.Cell(view.PermissionsGranted is null ? null : string.Join(", ", view.PermissionsGranted)),
                Formats.Cell(view.PermissionsPending is null ? null : string.Join(", ", view.PermissionsPending)),
                Formats.Cell(view.Waiting),
                Formats.Cell(view.LastEventId),
                Formats.Cell(Formats.Time(view.FirstSeen)),
                Formats.Cell(Formats.Time(view.LastSeen)));
        }

        session.Console.Write(new WholeTable(table));
        return ExitCodes.Ok;
    }
}
