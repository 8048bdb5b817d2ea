using Spectre.Console;
using Spectre.Console.Rendering;

namespace SyncWorker.Operations.Cli;

/// <summary>The columns and cells <c>orders show</c> and <c>deliveries list</c> share for a ledger row.</summary>
internal static class LedgerCells
{
    /// <summary>Adds State, Attempts, Last status, Repeats suppressed and Delivered at.</summary>
    public static Table AddOutcomeColumns(this Table table) => table
        .AddColumn("State")
        .AddColumn(new TableColumn("Attempts").RightAligned())
        .AddColumn(new TableColumn("Last status").RightAligned())
        .AddColumn(new TableColumn("Repeats suppressed").RightAligned())
        .AddColumn("Delivered at");

    /// <summary>The cells of <see cref="AddOutcomeColumns"/>.</summary>
    public static IRenderable[] Outcome(string state, int attempts, int? lastStatus, int repeatsSuppressed, DateTimeOffset? deliveredAt) =>
    [
        Formats.Cell(state),
        Formats.Cell(attempts),
        Formats.Cell(lastStatus),
        Formats.Cell(repeatsSuppressed),
        Formats.Cell(deliveredAt is { } at ? Formats.Time(at) : null),
    ];

    /// <summary>The action as shown: <c>order.paid</c>, or <c>order.refunded re_…</c> with its instance.</summary>
    public static string Action(string action, string? instance) => instance is null ? action : $"{action} {instance}";
}
