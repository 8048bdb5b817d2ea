using System.Globalization;
using Spectre.Console;
using SyncWorker.Operations.Cli;

namespace SyncWorker.Operations.Backfill;

/// <summary>One account's part of a run: what was listed for it, what it fed, and why it failed.</summary>
internal sealed class AccountRun(BackfillPlan plan, int position)
{
    public BackfillPlan Plan { get; } = plan;

    /// <summary>1-based, in the order the accounts are backfilled.</summary>
    public int Position { get; } = position;

    /// <summary>The account (<c>Stripe-Account</c>), or null for the app's own account.</summary>
    public string? Account => Plan.ListedFor;

    /// <summary><c>account acct_…</c> or <c>the app's own account</c>.</summary>
    public string Scope => Account is null ? "the app's own account" : $"account {Account}";

    /// <summary>The account or <c>(own account)</c>, for tables and progress.</summary>
    public string Label => Account ?? "(own account)";

    /// <summary>True once its listing was tried (false when the run stopped before it).</summary>
    public bool Attempted { get; set; }

    /// <summary>True once its whole listing succeeded.</summary>
    public bool Listed { get; set; }

    /// <summary>What passed every check, oldest first, once listed.</summary>
    public IReadOnlyList<BackfillEvent> ToFeed { get; set; } = [];

    public int Fed => ToFeed.Count(e => e.Fed);

    /// <summary>Why its listing failed or was not tried; null when it did not fail.</summary>
    public string? Error { get; set; }
}

/// <summary>Reports a run's progress: a progress bar on a terminal, plain lines otherwise.</summary>
internal interface IBackfillProgress
{
    void Starting(AccountRun run);

    void Listing(AccountRun run);

    void Feeding(AccountRun run, int fed);

    void Done(AccountRun run);
}

/// <summary>
/// Without a terminal (or with <c>--json</c>, then to standard error): a line per account when there are several, and
/// per 100 events listed and per 100 fed.
/// </summary>
internal sealed class BackfillProgressLines(CliSession session, bool json, int accounts) : IBackfillProgress
{
    /// <summary>One progress line per this many events listed or fed.</summary>
    public const int Every = 100;

    private int _listedBefore;

    public void Starting(AccountRun run)
    {
        _listedBefore = 0;
        if (accounts > 1)
        {
            session.Note($"[{Count(run.Position)}/{Count(accounts)}] Listing {run.Scope}…", json);
        }
    }

    public void Listing(AccountRun run)
    {
        if (run.Plan.Listed / Every > _listedBefore / Every)
        {
            session.Note($"Listed {Count(run.Plan.Listed)} events so far…", json);
        }

        _listedBefore = run.Plan.Listed;
    }

    public void Feeding(AccountRun run, int fed)
    {
        if (fed % Every == 0)
        {
            session.Note($"Fed {Count(fed)} of {Count(run.ToFeed.Count)} events", json);
        }
    }

    public void Done(AccountRun run)
    {
        if (accounts > 1)
        {
            session.Note(
                $"[{Count(run.Position)}/{Count(accounts)}] {run.Scope}: " +
                (run.Error is null
                    ? $"listed {Count(run.Plan.Listed)}, fed {Count(run.Fed)} of {Count(run.ToFeed.Count)}."
                    : "failed (see below)."),
                json);
        }
    }

    private static string Count(int value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// On a terminal: one bar for the run (accounts done of all, events listed and fed) and one per account (listing, then
/// feeding its events).
/// </summary>
internal sealed class BackfillProgressBar(ProgressContext context, int accounts, bool dryRun) : IBackfillProgress
{
    private readonly ProgressTask _overall = context.AddTask(Overall(0, accounts, 0, 0, dryRun), maxValue: Math.Max(accounts, 1));
    private readonly Dictionary<AccountRun, ProgressTask> _tasks = [];
    private int _done;
    private int _listed;
    private int _fed;

    public void Starting(AccountRun run)
    {
        var task = context.AddTask(Markup.Escape($"{run.Label}: listing"), maxValue: 1);
        task.IsIndeterminate = true;
        _tasks[run] = task;
    }

    public void Listing(AccountRun run) =>
        _tasks[run].Description = Markup.Escape($"{run.Label}: listing, {Count(run.Plan.Listed)} listed");

    public void Feeding(AccountRun run, int fed)
    {
        var task = _tasks[run];
        task.IsIndeterminate = false;
        task.MaxValue = Math.Max(run.ToFeed.Count, 1);
        task.Value = fed;
        task.Description = Markup.Escape($"{run.Label}: feeding {Count(fed)} of {Count(run.ToFeed.Count)}");
        _overall.Description = Overall(_done, accounts, _listed + run.Plan.Listed, _fed + fed, dryRun);
    }

    public void Done(AccountRun run)
    {
        var task = _tasks[run];
        task.IsIndeterminate = false;
        task.MaxValue = 1;
        task.Value = 1;
        task.Description = Markup.Escape(
            run.Error is null
                ? $"{run.Label}: {Count(run.Plan.Listed)} listed, {Count(run.ToFeed.Count)} to feed, {Count(run.Fed)} fed"
                : $"{run.Label}: failed");
        _done++;
        _listed += run.Plan.Listed;
        _fed += run.Fed;
        _overall.Value = _done;
        _overall.Description = Overall(_done, accounts, _listed, _fed, dryRun);
    }

    private static string Overall(int done, int total, int listed, int fed, bool dryRun) =>
        Markup.Escape($"Accounts {Count(done)}/{Count(total)} · {Count(listed)} listed · {Count(fed)} fed" + (dryRun ? " (dry run)" : ""));

    private static string Count(int value) => value.ToString(CultureInfo.InvariantCulture);
}
