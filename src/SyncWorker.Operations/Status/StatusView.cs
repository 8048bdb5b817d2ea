using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;
using SyncWorker.Operations.Cli;

namespace SyncWorker.Operations.Status;

/// <summary>A <see cref="StatusReport"/> as Spectre.Console tables: targets, receiver, workers, then warnings.</summary>
internal static class StatusView
{
    public static IRenderable Render(StatusReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var parts = new List<IRenderable>
        {
            new Markup($"[bold]SyncWorker status[/] at {Formats.Escape(Formats.Time(report.At))}"),
            new WholeTable(Targets(report)),
            new WholeTable(Receiver(report)),
        };
        if (report.Workers.Count > 0)
        {
            parts.Add(new WholeTable(Workers(report)));
        }

        foreach (var warning in report.Warnings)
        {
            parts.Add(new Text("warning: " + warning, new Style(Color.Yellow)));
        }

        return new Rows(parts);
    }

    private static Table Targets(StatusReport report)
    {
        var table = new Table()
            .Title("Targets")
            .AddColumn(WholeTable.Identifier("Target"))
            .AddColumn("Mode")
            .AddColumn("Paused")
            .AddColumn("Circuit")
            .AddColumn(new TableColumn("Ready").RightAligned())
            .AddColumn(new TableColumn("In flight").RightAligned())
            .AddColumn(new TableColumn("Retry-waiting").RightAligned())
            .AddColumn(new TableColumn("Dead letters").RightAligned())
            .AddColumn("Consumers")
            .AddColumn("Last success")
            .AddColumn("Last failure");
        foreach (var target in report.Targets)
        {
            table.AddRow(
                Formats.Cell(target.Name),
                Formats.Cell(target.Mode),
                target.Disabled ? new Markup(target.Paused ? "[red]disabled[/], [yellow]paused[/]" : "[red]disabled[/]") : target.Paused ? new Markup("[yellow]paused[/]") : new Markup("no"),
                Circuit(target),
                Formats.Cell(target.QueueExists ? target.Ready?.ToString(CultureInfo.InvariantCulture) : "- (queue not declared yet)"),
                Formats.Cell(target.InFlight),
                Formats.Cell(target.RetryWaiting),
                Formats.Cell(target.DeadLetters),
                Formats.Cell(Consumers(target)),
                Formats.Cell(When(target.LastSuccessAt, report.At)),
                Formats.Cell(target.LastFailureAt is null ? null : $"{When(target.LastFailureAt, report.At)}: {target.LastFailureReason ?? "-"}"));
        }

        return table;
    }

    private static Table Receiver(StatusReport report)
    {
        var table = new Table().Title("Receiver").AddColumn("").AddColumn("");
        table.ShowHeaders = false;
        if (report.Receiver is { } receiver)
        {
            var refused = receiver.Outcomes
                .Where(pair => ReceiverSummary.IsRefusal(pair.Key) && pair.Value > 0)
                .Select(pair => $"{pair.Key} {pair.Value.ToString(CultureInfo.InvariantCulture)}")
                .ToList();
            table.AddRow(Formats.Cell("Window"), Formats.Cell(
                $"last {receiver.WindowMinutes.ToString(CultureInfo.InvariantCulture)} minutes, " +
                Formats.Plural(receiver.Instances, "receiving instance", "receiving instances")));
            table.AddRow(Formats.Cell("Accepted"), Formats.Cell(receiver.Accepted));
            table.AddRow(Formats.Cell("Ignored (200, not queued)"), Formats.Cell(receiver.Ignored));
            if (receiver.Outcomes.GetValueOrDefault(Contracts.WebhookOutcomes.ClientAborted) is var aborted and > 0)
            {
                table.AddRow(Formats.Cell("Aborted by the client"), Formats.Cell(aborted));
            }
            table.AddRow(Formats.Cell("Refused"), Formats.Cell(
                receiver.Refused.ToString(CultureInfo.InvariantCulture) + (refused.Count == 0 ? "" : $" ({string.Join(", ", refused)})")));
        }
        else
        {
            table.AddRow(Formats.Cell("Accepted, refused"), Formats.Cell(
                report.Workers.Count == 0 ? "- (no workers configured)" : "- (no receiving instance answered)"));
        }

        table.AddRow(Formats.Cell("Intake ready"), Formats.Cell(Depth(report.Intake.Exists, report.Intake.Ready, report.Intake.Queue)));
        table.AddRow(Formats.Cell("Intake consumers"), Formats.Cell(report.Intake.Consumers));
        table.AddRow(Formats.Cell("Intake dead letters"), Formats.Cell(report.IntakeDeadLetters.Ready ?? 0));
        var waiting = report.DelayQueues.Where(queue => queue.Ready is > 0).ToList();
        table.AddRow(Formats.Cell("Delay queues (all targets)"), Formats.Cell(report.DelayQueues.Count == 0
            ? "- (none declared yet)"
            : $"{report.DelayQueues.Sum(queue => (long)(queue.Ready ?? 0)).ToString(CultureInfo.InvariantCulture)} waiting in " +
              Formats.Plural(report.DelayQueues.Count, "queue", "queues") +
              (waiting.Count == 0 ? "" : $" ({string.Join(", ", waiting.Select(queue => $"{queue.Queue} {queue.Ready!.Value.ToString(CultureInfo.InvariantCulture)}"))})")));
        if (report.Poison.Exists)
        {
            // Only with the deploy/rabbitmq definitions; intake and target queues dead-letter there at the delivery limit.
            table.AddRow(Formats.Cell($"Poison ({report.Poison.Queue})"), Formats.Cell(report.Poison.Ready ?? 0));
        }

        return table;
    }

    private static Table Workers(StatusReport report)
    {
        var table = new Table()
            .Title("Workers")
            .AddColumn(WholeTable.Identifier("Worker"))
            .AddColumn("State")
            .AddColumn(WholeTable.Identifier("Instance"))
            .AddColumn("Role")
            .AddColumn("Started")
            .AddColumn("Problem");
        foreach (var worker in report.Workers)
        {
            table.AddRow(
                Formats.Cell(worker.Url),
                worker.State switch
                {
                    WorkerSummary.Ok => new Markup("ok"),
                    WorkerSummary.Unauthorized => new Markup("[red]token refused[/]"),
                    WorkerSummary.Duplicate => new Markup("[yellow]duplicate[/]"),
                    _ => new Markup($"[yellow]{Formats.Escape(worker.State)}[/]"),
                },
                Formats.Cell(worker.Instance),
                Formats.Cell(worker.Role),
                Formats.Cell(worker.StartedAt is null ? null : When(worker.StartedAt, report.At)),
                Formats.Cell(worker.Problem));
        }

        return table;
    }

    private static Markup Circuit(TargetSummary target)
    {
        if (target.Circuit is not { } circuit)
        {
            return new Markup("-");
        }

        var text = target.CircuitsDiffer
            ? $"{circuit} ({string.Join(", ", target.CircuitByInstance.Select(pair => $"{pair.Key}: {pair.Value}"))})"
            : circuit;
        var color = circuit switch
        {
            "Closed" => "green",
            "HalfOpen" => "yellow",
            _ => "red",
        };
        return new Markup($"[{color}]{Formats.Escape(text)}[/]");
    }

    private static string Consumers(TargetSummary target)
    {
        var consumers = target.Consumers?.ToString(CultureInfo.InvariantCulture) ?? "-";
        var text = target.ForwardingInstances == 0
            ? consumers
            : $"{consumers} ({target.ConsumingInstances.ToString(CultureInfo.InvariantCulture)} of " +
              $"{Formats.Plural(target.ForwardingInstances, "instance", "instances")} consuming)";
        foreach (var (instance, problem) in target.NotReadyByInstance ?? new Dictionary<string, string>())
        {
            text += $"; NOT READY on {instance}: {problem}";
        }

        return text;
    }

    private static string Depth(bool exists, uint? ready, string queue) =>
        exists ? ready?.ToString(CultureInfo.InvariantCulture) ?? "-" : $"- ({queue} not declared yet)";

    private static string? When(DateTimeOffset? time, DateTimeOffset now) =>
        time is null ? null : $"{Formats.Time(time)} ({Formats.Age(now - time)} ago)";
}
