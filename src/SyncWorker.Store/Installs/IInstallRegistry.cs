namespace SyncWorker.Store.Installs;

/// <summary>
/// Where SyncWorker is installed: one row per merchant account and mode, fed by Stripe's install events. An account it has
/// never heard of counts as installed. Throws <see cref="StoreUnavailableException"/> when the store cannot be reached.
/// </summary>
public interface IInstallRegistry
{
    /// <summary>
    /// Applies what an install event says, unless the row was last changed by a newer event (by Stripe's <c>created</c>;
    /// one of the same second is applied: Stripe's seconds say nothing of the order within them). True when applied.
    /// </summary>
    Task<bool> ApplyAsync(InstallChange change, CancellationToken cancellationToken);

    /// <summary>The account's row in that mode, or null when none was recorded.</summary>
    Task<InstallRecord?> GetAsync(string account, bool livemode, CancellationToken cancellationToken);

    /// <summary>Every row, accounts in order, live before test.</summary>
    Task<IReadOnlyList<InstallRecord>> ListAsync(CancellationToken cancellationToken);

    /// <summary>The accounts and modes recorded as uninstalled.</summary>
    Task<IReadOnlyList<(string Account, bool Livemode)>> UninstalledAsync(CancellationToken cancellationToken);
}

/// <summary>The two states SyncWorker knows an install in.</summary>
public static class InstallStatus
{
    /// <summary>The app is installed (or being installed, or its uninstall is not finished).</summary>
    public const string Installed = "installed";

    /// <summary>The merchant uninstalled the app (deauthorized it) in that mode.</summary>
    public const string Uninstalled = "uninstalled";

    /// <summary>
    /// SyncWorker's reading of an Install API <c>status</c>: <c>install_failed</c> is not installed; <c>installed</c>,
    /// <c>installing</c>, <c>uninstalling</c> and <c>uninstall_failed</c> (and a status Stripe adds later) are, until the
    /// install is deleted or the account deauthorizes the app.
    /// </summary>
    public static string FromStripe(string? status) => status == "install_failed" ? Uninstalled : Installed;
}

/// <summary>What one install event says.</summary>
/// <param name="Account">The merchant (<c>acct_…</c>).</param>
/// <param name="Livemode">The mode.</param>
/// <param name="Status"><see cref="InstallStatus.Installed"/> or <see cref="InstallStatus.Uninstalled"/>.</param>
/// <param name="PermissionsGranted">The permissions granted, when the event says (<c>apps.install.*</c>); null keeps what the row has.</param>
/// <param name="PermissionsPending">The permissions awaiting the merchant's approval, when the event says; null keeps what the row has.</param>
/// <param name="EventId">The event (<c>evt_…</c>).</param>
/// <param name="EventCreated">The event's <c>created</c>.</param>
/// <param name="Sandbox">
/// True for an install in a sandbox (an event verified by a secret tagged <c>Mode: sandbox</c>, or listed with
/// <c>Stripe:ApiKeys:Sandbox</c>); once recorded, a row stays a sandbox's.
/// </param>
public sealed record InstallChange(
    string Account,
    bool Livemode,
    string Status,
    IReadOnlyList<string>? PermissionsGranted,
    IReadOnlyList<string>? PermissionsPending,
    string EventId,
    DateTimeOffset EventCreated,
    bool Sandbox = false);

/// <summary>A row of <c>installs</c>.</summary>
/// <param name="Account">The merchant (<c>acct_…</c>).</param>
/// <param name="Livemode">The mode.</param>
/// <param name="Status"><see cref="InstallStatus.Installed"/> or <see cref="InstallStatus.Uninstalled"/>.</param>
/// <param name="PermissionsGranted">The permissions granted, as the last install event that said them; null when none did.</param>
/// <param name="PermissionsPending">The permissions pending, likewise.</param>
/// <param name="LastEventId">The event that last changed the row.</param>
/// <param name="LastEventCreated">That event's <c>created</c>.</param>
/// <param name="FirstSeen">When SyncWorker first recorded the row.</param>
/// <param name="LastSeen">When an install event last reached it (applied or older than what it had).</param>
/// <param name="Sandbox">True for an install in a sandbox (schema version 5).</param>
public sealed record InstallRecord(
    string Account,
    bool Livemode,
    string Status,
    IReadOnlyList<string>? PermissionsGranted,
    IReadOnlyList<string>? PermissionsPending,
    string? LastEventId,
    DateTimeOffset LastEventCreated,
    DateTimeOffset FirstSeen,
    DateTimeOffset LastSeen,
    bool Sandbox = false)
{
    /// <summary><c>live</c>, <c>test</c> or <c>sandbox</c>.</summary>
    public string Mode => Sandbox ? "sandbox" : Livemode ? "live" : "test";
}
