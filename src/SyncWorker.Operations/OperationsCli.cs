using System.CommandLine;
using Microsoft.Extensions.Configuration;
using RabbitMQ.Client.Exceptions;
using Spectre.Console;
using SyncWorker.Operations.Cli;

namespace SyncWorker.Operations;

/// <summary>
/// The operations verbs of the SyncWorker executable, working on RabbitMQ directly:
/// <c>dead-letters list|replay</c>, <c>targets pause|resume|list</c>, <c>backfill</c> (feeds events Stripe could not
/// deliver, through the normal path, at most once per event id) and <c>status</c> (queue depths from RabbitMQ combined
/// with the workers' <c>GET /admin/status</c>). See this project's README.md.
/// </summary>
/// <remarks>
/// Exit codes: 0 done (including "nothing to do"), 1 the operation failed (broker unreachable, refused, a move not
/// confirmed; Stripe refused the key, another backfill running), 2 usage error (unknown verb, option or target, missing
/// argument, <c>--since</c> out of range), 78 configuration missing or invalid
/// (<c>RabbitMq:Uri</c>, <c>Fulfillment:Targets:N:Name</c>; for <c>backfill</c> also <c>Stripe:ApiKey</c>,
/// <c>Stripe:ApiBase</c>, <c>Manifest:Path</c>; for <c>status</c> with workers also <c>Admin:Token</c>). <c>status</c>
/// exits 1 when a worker refuses the token, and 0 when a worker does not answer (shown as unreachable). Results go to standard output (tables, or one JSON
/// document with <c>--json</c>); errors go to standard error and never show a password.
/// <c>dead-letters list</c> removes and reorders nothing; <c>dead-letters replay</c> moves each dead letter at most
/// once even when replays run concurrently, with an at-least-once window if it dies between the broker's confirm of
/// the copy and its acknowledgement of the original (see <c>DeadLetterReplayer</c> and the project's README.md).
/// </remarks>
public static class OperationsCli
{
    private static readonly string[] Verbs = ["dead-letters", "targets", "backfill", "status"];

    /// <summary>True when <paramref name="args"/> starts with a verb this class runs (<c>dead-letters</c>, <c>targets</c>, <c>backfill</c> or <c>status</c>).</summary>
    public static bool IsVerb(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        return args.Length > 0 && Verbs.Contains(args[0], StringComparer.Ordinal);
    }

    /// <summary>Runs the verb in <paramref name="args"/> and returns the process exit code.</summary>
    /// <param name="args">The command line, starting with the verb (<c>dead-letters</c>, <c>targets</c>, <c>backfill</c> or <c>status</c>).</param>
    /// <param name="configuration">The app's configuration (appsettings and environment): <c>RabbitMq:Uri</c>, <c>Fulfillment:Targets</c>; for <c>backfill</c> also <c>Stripe:*</c> and <c>Manifest:Path</c>; for <c>status</c> also <c>Status:Workers</c> and <c>Admin:Token</c>.</param>
    /// <param name="console">Standard output; default: the process's console.</param>
    /// <param name="ct">Stops the verb; a replay stops between messages (see <c>DeadLetterReplayer</c> for what that leaves).</param>
    public static Task<int> RunAsync(string[] args, IConfiguration configuration, IAnsiConsole? console = null, CancellationToken ct = default) =>
        RunAsync(args, configuration, console ?? AnsiConsole.Console, Console.Error, TimeProvider.System, ct);

    /// <summary>As the public overload, with standard error and the clock given (tests).</summary>
    internal static async Task<int> RunAsync(
        string[] args, IConfiguration configuration, IAnsiConsole console, TextWriter error, TimeProvider timeProvider, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(error);
        ArgumentNullException.ThrowIfNull(timeProvider);

        var session = new CliSession(configuration, console, error, timeProvider);
        var parsed = CommandTree.Build(session, configuration).Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var problem in parsed.Errors)
            {
                error.WriteLine($"error: {problem.Message}");
            }

            error.WriteLine($"Run '{CommandPath(parsed.CommandResult)} --help' to see the commands and options.");
            return ExitCodes.Usage;
        }

        try
        {
            return await parsed.InvokeAsync(
                new InvocationConfiguration
                {
                    Output = console.Profile.Out.Writer,
                    Error = error,
                    EnableDefaultExceptionHandler = false,
                    ProcessTerminationTimeout = null,
                },
                ct);
        }
        catch (CliException exception)
        {
            error.WriteLine($"error: {exception.Message}");
            return exception.ExitCode;
        }
        catch (Exception exception) when (exception is RabbitMQClientException or IOException)
        {
            error.WriteLine($"error: RabbitMQ refused or dropped the operation: {exception.Message}");
            return ExitCodes.Failed;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            error.WriteLine("error: cancelled.");
            return ExitCodes.Failed;
        }
    }

    private static string CommandPath(System.CommandLine.Parsing.CommandResult result)
    {
        var names = new List<string>();
        for (System.CommandLine.Parsing.SymbolResult? current = result; current is not null; current = current.Parent)
        {
            if (current is System.CommandLine.Parsing.CommandResult command)
            {
                names.Add(command.Command.Name);
            }
        }

        names.Reverse();
        return string.Join(' ', names);
    }
}
