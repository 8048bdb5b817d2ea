using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using RabbitMQ.Client;
using Spectre.Console;
using SyncWorker.Operations.Cli;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Operations.Status;

/// <summary>The options of one <c>status</c> run.</summary>
/// <param name="Json">One JSON document on standard output (with <paramref name="Watch"/>: one per line).</param>
/// <param name="Watch">Refresh every interval until cancelled.</param>
/// <param name="Interval"><c>--interval</c> as given; null for <see cref="WatchInterval.Default"/>.</param>
/// <param name="Workers"><c>--worker</c> URLs; empty to use <c>Status:Workers</c>.</param>
internal sealed record StatusRequest(bool Json, bool Watch, string? Interval, IReadOnlyList<string> Workers);

/// <summary>
/// <c>status [--json] [--watch [--interval 5s]] [--worker URL …]</c>: per target the broker's numbers (ready, retry-waiting,
/// dead letters, consumers, paused) with the instances' (circuit, in flight, last success and failure), and the receiver's
/// outcomes summed over its instances. See the project's README.md.
/// </summary>
/// <remarks>
/// Exit 0 also when a worker does not answer (it is shown as unreachable, with a warning); exit 1 when a worker refuses the
/// token, or the broker cannot be read. <c>--watch</c> ends with exit 0 when cancelled (Ctrl+C).
/// </remarks>
internal static class StatusCommand
{
    /// <summary>One JSON document per line for <c>--watch --json</c> (JSON Lines): camelCase, not indented.</summary>
    private static readonly JsonSerializerOptions JsonLineOptions = new(JsonSerializerDefaults.Web)
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static async Task<int> RunAsync(
        CliSession session, IConfiguration configuration, StatusRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(request);

        if (request.Interval is not null && !request.Watch)
        {
            throw CliException.Usage("--interval sets how often --watch refreshes: add --watch, or leave --interval out.");
        }

        var interval = request.Interval is null ? WatchInterval.Default : WatchInterval.Parse(request.Interval);
        var settings = StatusSettings.Read(session, configuration, request.Workers);
        _ = session.Endpoint();

        using var workers = settings.Workers.Count > 0 ? new WorkerStatusClient(settings.Token) : null;
        using var ledger = StatusLedger.Open(configuration, session);
        await using var connection = await session.ConnectAsync(cancellationToken);
        if (!request.Watch)
        {
            var report = await SnapshotAsync(session, settings, connection, workers, ledger, cancellationToken);
            if (request.Json)
            {
                WriteWarnings(session, report);
                session.WriteJson(report);
            }
            else
            {
                session.Console.Write(StatusView.Render(report));
            }

            return Finish(session, report);
        }

        try
        {
            if (!request.Json && session.Console.Profile.Capabilities.Interactive)
            {
                return await WatchLiveAsync(session, settings, connection, workers, ledger, interval, cancellationToken);
            }

            while (true)
            {
                var report = await SnapshotAsync(session, settings, connection, workers, ledger, cancellationToken);
                if (request.Json)
                {
                    WriteWarnings(session, report);
                    WriteJsonLine(session, report);
                }
                else
                {
                    session.Console.Write(StatusView.Render(report));
                    session.Console.WriteLine();
                }

                if (report.TokenRefused)
                {
                    return Finish(session, report);
                }

                await Task.Delay(interval, session.TimeProvider, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ExitCodes.Ok;
        }
    }

    /// <summary>Refreshes one Spectre <c>Live</c> display in place until cancelled, or a worker refuses the token.</summary>
    private static async Task<int> WatchLiveAsync(
        CliSession session,
        StatusSettings settings,
        IConnection connection,
        WorkerStatusClient? workers,
        StatusLedger ledger,
        TimeSpan interval,
        CancellationToken cancellationToken)
    {
        var first = await SnapshotAsync(session, settings, connection, workers, ledger, cancellationToken);
        var last = first;
        await session.Console.Live(StatusView.Render(first)).AutoClear(false).StartAsync(async context =>
        {
            while (!last.TokenRefused)
            {
                await Task.Delay(interval, session.TimeProvider, cancellationToken);
                last = await SnapshotAsync(session, settings, connection, workers, ledger, cancellationToken);
                context.UpdateTarget(StatusView.Render(last));
                context.Refresh();
            }
        });
        return Finish(session, last);
    }

    /// <summary>Reads the broker and the ledger and asks every worker at the same time.</summary>
    private static async Task<StatusReport> SnapshotAsync(
        CliSession session, StatusSettings settings, IConnection connection, WorkerStatusClient? workers, StatusLedger ledger, CancellationToken cancellationToken)
    {
        var at = session.TimeProvider.GetUtcNow();
        var asking = workers is null
            ? Task.FromResult<IReadOnlyList<WorkerAnswer>>([])
            : workers.AskAllAsync(settings.Workers, cancellationToken);
        var reading = BrokerStatusReader.ReadAsync(connection, settings.Targets, cancellationToken);
        var counting = ledger.CountAsync(cancellationToken);
        await Task.WhenAll(asking, reading, counting);
        return StatusMerger.Merge(at, settings.Targets, await reading, await asking, await counting);
    }

    private static int Finish(CliSession session, StatusReport report)
    {
        var refused = report.Workers.FirstOrDefault(worker => worker.State == WorkerSummary.Unauthorized);
        if (refused is null)
        {
            return ExitCodes.Ok;
        }

        session.Error.WriteLine(
            $"error: the worker at {refused.Url} refused the bearer token (401): {StatusSettings.TokenKey} here differs from the " +
            $"workers' {StatusSettings.TokenKey}. Set it to the same value (environment variable Admin__Token).");
        return ExitCodes.Failed;
    }

    /// <summary>With <c>--json</c> standard output carries only JSON, so warnings go to standard error.</summary>
    private static void WriteWarnings(CliSession session, StatusReport report)
    {
        foreach (var warning in report.Warnings)
        {
            session.Error.WriteLine($"warning: {warning}");
        }
    }

    private static void WriteJsonLine(CliSession session, StatusReport report)
    {
        var writer = session.Console.Profile.Out.Writer;
        writer.Write(JsonSerializer.Serialize(report, JsonLineOptions));
        writer.Write('\n');
        writer.Flush();
    }
}

/// <summary>
/// The delivery ledger as <c>status</c> reads it, with the workers' <c>Store:*</c> settings: the deliveries waiting for a
/// redelivery per target (<see cref="SqlDeliveryLedger.RedeliveryStates"/>). A store that does not exist, is invalid or
/// cannot be read is no failure: the counts are then missing and a warning says why.
/// </summary>
internal sealed class StatusLedger : IDisposable
{
    private readonly SqlDeliveryLedger? _ledger;
    private readonly string? _problem;

    private StatusLedger(SqlDeliveryLedger? ledger, string? problem)
    {
        _ledger = ledger;
        _problem = problem;
    }

    public static StatusLedger Open(IConfiguration configuration, CliSession session)
    {
        try
        {
            return new StatusLedger(new SqlDeliveryLedger(StoreCommands.ExistingStore(configuration), session.TimeProvider), null);
        }
        catch (CliException exception)
        {
            return new StatusLedger(null, exception.Message);
        }
    }

    public async Task<LedgerCounts> CountAsync(CancellationToken cancellationToken)
    {
        if (_ledger is null)
        {
            return new LedgerCounts(null, _problem);
        }

        try
        {
            return new LedgerCounts(await _ledger.CountByTargetAsync(SqlDeliveryLedger.RedeliveryStates, cancellationToken), null);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new LedgerCounts(null, exception.Message);
        }
    }

    public void Dispose() => _ledger?.Dispose();
}
