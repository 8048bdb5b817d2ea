using Spectre.Console;
using SyncWorker.Contracts;
using SyncWorker.Operations.Broker;
using SyncWorker.Operations.Targets;

namespace SyncWorker.Operations.Cli;

/// <summary><c>targets pause</c>, <c>targets resume</c> and <c>targets list</c>.</summary>
internal static class TargetCommands
{
    public static async Task<int> PauseAsync(CliSession session, string target, CancellationToken cancellationToken)
    {
        var name = session.ResolveTargets(target)[0];
        await using var connection = await session.ConnectAsync(cancellationToken);
        var change = await TargetControl.PauseAsync(connection, name, cancellationToken, session.QueueType());
        session.Console.WriteLine(change == PauseChange.Changed
            ? $"Paused target '{name}': created {Topology.PausedMarker(name)}. Forwarders stop taking deliveries from " +
              $"{Topology.TargetQueue(name)} when they next check; new deliveries keep queuing there. " +
              $"Resume with: targets resume {name}"
            : $"Target '{name}' was already paused ({Topology.PausedMarker(name)} exists); nothing changed.");
        return ExitCodes.Ok;
    }

    public static async Task<int> ResumeAsync(CliSession session, string target, CancellationToken cancellationToken)
    {
        var name = session.ResolveTargets(target)[0];
        await using var connection = await session.ConnectAsync(cancellationToken);
        var change = await TargetControl.ResumeAsync(connection, name, cancellationToken);
        if (change == PauseChange.AlreadySo)
        {
            session.Console.WriteLine($"Target '{name}' was not paused ({Topology.PausedMarker(name)} does not exist); nothing changed.");
            return ExitCodes.Ok;
        }

        var waiting = await QueueProbe.ProbeAsync(connection, Topology.TargetQueue(name), cancellationToken);
        session.Console.WriteLine(
            $"Resumed target '{name}': deleted {Topology.PausedMarker(name)}. Forwarders take deliveries from " +
            $"{Topology.TargetQueue(name)} again when they next check" +
            (waiting is null ? "." : $" ({Formats.Plural(waiting.Messages, "delivery", "deliveries")} waiting)."));
        return ExitCodes.Ok;
    }

    public static async Task<int> ListAsync(CliSession session, bool json, CancellationToken cancellationToken)
    {
        var targets = session.ConfiguredTargets();
        await using var connection = await session.ConnectAsync(cancellationToken);
        var statuses = new List<TargetStatus>();
        foreach (var target in targets)
        {
            statuses.Add(await TargetControl.StatusAsync(connection, target, cancellationToken));
        }

        if (json)
        {
            session.WriteJson(new TargetsDocument(statuses));
            return ExitCodes.Ok;
        }

        var table = new Table()
            .AddColumn(WholeTable.Identifier("Target"))
            .AddColumn("State")
            .AddColumn(WholeTable.Identifier("Queue"))
            .AddColumn(new TableColumn("Ready").RightAligned())
            .AddColumn(new TableColumn("Consumers").RightAligned())
            .AddColumn(new TableColumn("Dead letters").RightAligned());
        foreach (var status in statuses)
        {
            table.AddRow(
                Formats.Cell(status.Target),
                status.Paused ? new Markup("[yellow]paused[/]") : new Markup("active"),
                Formats.Cell(status.Ready is null ? status.Queue + " (not declared yet)" : status.Queue),
                Formats.Cell(status.Ready),
                Formats.Cell(status.Consumers),
                Formats.Cell(status.DeadLetters));
        }

        session.Console.Write(new WholeTable(table));
        return ExitCodes.Ok;
    }

    private sealed record TargetsDocument(IReadOnlyList<TargetStatus> Targets);
}
