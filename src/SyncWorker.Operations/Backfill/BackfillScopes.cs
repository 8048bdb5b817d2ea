using SyncWorker.Operations.Cli;
using SyncWorker.Store;
using SyncWorker.Store.Installs;

namespace SyncWorker.Operations.Backfill;

/// <summary>An account <c>backfill</c> does not list, and why.</summary>
/// <param name="Account">The merchant (<c>acct_…</c>).</param>
/// <param name="Reason">Why it is not listed.</param>
internal sealed record SkippedAccount(string Account, string Reason);

/// <summary>
/// Which accounts one <c>backfill</c> lists. With <c>--account</c>: that account (unless the install registry records it
/// as uninstalled in the key's mode). Without: the app's own account (no <c>Stripe-Account</c>, as before), then every
/// account the registry records as installed in the key's mode (by its prefix; a key whose prefix names no mode: installed
/// in either mode), in account order; the uninstalled ones are skipped. A registry without installs of that mode leaves
/// the app's own account only.
/// </summary>
internal sealed class BackfillScopes
{
    private BackfillScopes(IReadOnlyList<string?> accounts, IReadOnlyList<SkippedAccount> skipped, IReadOnlyList<string> notes, bool? livemode, bool installsRecorded, string? requested)
    {
        Accounts = accounts;
        Skipped = skipped;
        Notes = notes;
        Livemode = livemode;
        InstallsRecorded = installsRecorded;
        Requested = requested;
    }

    /// <summary>The accounts to list, in order; null is the app's own account.</summary>
    public IReadOnlyList<string?> Accounts { get; }

    /// <summary>The accounts not listed (uninstalled in the mode).</summary>
    public IReadOnlyList<SkippedAccount> Skipped { get; }

    /// <summary>What the operator should know of the choice (printed before listing).</summary>
    public IReadOnlyList<string> Notes { get; }

    /// <summary>The key's mode: true live, false test, null when its prefix names none.</summary>
    public bool? Livemode { get; }

    /// <summary>True when the install registry records at least one install (either status) of the key's mode.</summary>
    public bool InstallsRecorded { get; }

    /// <summary>The <c>--account</c> given, or null.</summary>
    public string? Requested { get; }

    /// <summary><c>live</c>, <c>test</c> or null.</summary>
    public string? Mode => Livemode switch { true => "live", false => "test", null => null };

    private string ModeText => Mode is { } mode ? $"{mode} mode" : "either mode";

    /// <summary>Reads the install registry; an unreachable store is a failure (exit 1) naming the setting.</summary>
    public static async Task<BackfillScopes> ResolveAsync(
        IInstallRegistry registry, string? requested, bool? livemode, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(registry);
        IReadOnlyList<InstallRecord> rows;
        try
        {
            rows = await registry.ListAsync(cancellationToken);
        }
        catch (StoreUnavailableException exception)
        {
            throw CliException.Failed(
                $"{exception.Message} Check Store:ConnectionString (or Store:DataDirectory) and that the database is up, then run " +
                "backfill again; nothing was listed or fed.");
        }

        var ofMode = rows.Where(r => livemode is not { } live || r.Livemode == live).ToList();
        var byAccount = ofMode
            .GroupBy(r => r.Account, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => (Account: g.Key, Installed: g.Any(r => r.Status == InstallStatus.Installed)))
            .ToList();
        var modeText = livemode switch { true => "live mode", false => "test mode", null => "either mode" };
        var notes = new List<string>();
        if (livemode is null)
        {
            notes.Add(
                $"{BackfillSettings.ApiKeyKey} does not say its mode (sk_live_/sk_test_): the accounts installed in either mode " +
                "are backfilled with it.");
        }

        if (requested is not null)
        {
            var known = byAccount.Where(a => a.Account == requested).ToList();
            if (known.Count > 0 && !known[0].Installed)
            {
                var reason = $"uninstalled in {modeText} (install registry): forwarders would skip its events";
                notes.Add(
                    $"Account {requested} is recorded as uninstalled in {modeText}; nothing of it is listed. If it installed " +
                    "the app again, run installs sync, then backfill again.");
                return new BackfillScopes([], [new SkippedAccount(requested, reason)], notes, livemode, ofMode.Count > 0, requested);
            }

            return new BackfillScopes([requested], [], notes, livemode, ofMode.Count > 0, requested);
        }

        if (ofMode.Count == 0)
        {
            notes.Add(
                $"The install registry records no installs in {modeText}" +
                (rows.Count > 0 ? $" ({Formats.Plural(rows.Count, "row", "rows")} of the other mode)" : "") +
                ": listing the app's own account only, as without installs. Installs are recorded from Stripe's install " +
                "events as forwarders receive them, or by installs sync; --account acct_… lists one account.");
        }

        var skipped = byAccount
            .Where(a => !a.Installed)
            .Select(a => new SkippedAccount(a.Account, $"uninstalled in {modeText}"))
            .ToList();
        var accounts = new List<string?> { null };
        accounts.AddRange(byAccount.Where(a => a.Installed).Select(a => a.Account));
        return new BackfillScopes(accounts, skipped, notes, livemode, ofMode.Count > 0, null);
    }

    /// <summary>Whose events the run lists, for messages.</summary>
    public string Describe()
    {
        if (Requested is not null)
        {
            return Accounts.Count == 0 ? $"account {Requested}, uninstalled: not listed" : $"account {Requested}";
        }

        var installed = Accounts.Count - 1;
        return installed == 0
            ? "the app's own account"
            : $"the app's own account and {Formats.Plural(installed, "account", "accounts")} installed in {ModeText}";
    }
}
