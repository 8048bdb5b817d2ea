using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Spectre.Console;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.RequestTemplates;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Manifest;
using SyncWorker.Contracts;
using SyncWorker.Messaging.Broker;
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

    /// <summary>
    /// <c>targets preview T [--event file.json]</c>: the exact request a target would get (method, URL, headers with secrets
    /// masked, body), built by the worker's own code, without sending it. A target of the configuration file is built here;
    /// any other is asked of the worker's <c>POST /admin/targets/{name}/preview</c> (it holds that target's secrets).
    /// </summary>
    public static async Task<int> PreviewAsync(CliSession session, IConfiguration configuration, string target, string? eventFile, string? worker, CancellationToken cancellationToken)
    {
        var targets = configuration.GetSection(CliSession.TargetsSection).Get<List<TargetOptions>>() ?? [];
        byte[]? file = null;
        if (eventFile is not null)
        {
            try
            {
                file = File.ReadAllBytes(eventFile);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                throw CliException.Usage($"--event {eventFile} cannot be read: {exception.Message}");
            }
        }

        var options = targets.FirstOrDefault(t => string.Equals(t.Name, target, StringComparison.Ordinal));
        if (options is null || worker is not null)
        {
            return await TargetAdminCommands.PreviewAsync(session, configuration, worker, target, file, eventFile, cancellationToken);
        }

        var manifest = LoadManifest(configuration);
        var templates = configuration.GetSection(TargetTemplatesOptions.Section).Get<TargetTemplatesOptions>() ?? new TargetTemplatesOptions();
        ReadOnlyMemory<byte> input;
        string? note;
        try
        {
            input = TargetRequestPreview.Input(options, file, out note);
        }
        catch (Exception exception) when (exception is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw CliException.Usage($"--event {eventFile} is not usable: {exception.Message}");
        }

        string text;
        try
        {
            text = TargetRequestPreview.Render(new TargetRequestBuilder(Options.Create(templates), manifest), options, input, session.TimeProvider.GetUtcNow());
        }
        catch (DeliveryFailedException exception)
        {
            throw CliException.Failed(exception.Message);
        }
        catch (FormatException exception)
        {
            throw CliException.Configuration($"{CliSession.TargetsSection} '{target}' is not valid ({exception.Message}): the worker would not start with it.");
        }

        if (note is not null)
        {
            session.Error.WriteLine($"# {note}; not sent.");
        }

        session.Console.Profile.Out.Writer.Write(text);
        session.Console.Profile.Out.Writer.WriteLine();
        return ExitCodes.Ok;
    }

    private static AppManifest LoadManifest(IConfiguration configuration)
    {
        var configured = configuration["Manifest:Path"];
        var path = string.IsNullOrWhiteSpace(configured) ? "manifest/stripe-app.json" : configured;
        if (!Path.IsPathRooted(path) && !File.Exists(path))
        {
            path = Path.GetFullPath(path, AppContext.BaseDirectory);
        }

        try
        {
            return ManifestLoader.Load(path);
        }
        catch (ManifestException exception)
        {
            throw CliException.Configuration(exception.Message);
        }
    }

    private sealed record TargetsDocument(IReadOnlyList<TargetStatus> Targets);
}
