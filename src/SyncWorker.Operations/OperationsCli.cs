using System.CommandLine;
using System.CommandLine.Help;
using Microsoft.Extensions.Configuration;
using RabbitMQ.Client.Exceptions;
using Spectre.Console;
using SyncWorker.Operations.Cli;

namespace SyncWorker.Operations;

/// <summary>
/// The operations verbs of the SyncWorker executable, working on RabbitMQ directly:
/// <c>dead-letters list|replay</c>, <c>targets pause|resume|enable|list</c> (and <c>targets add|update|remove|show|rotate-secret</c>,
/// which call a worker's targets API on its admin listener), <c>backfill</c> (feeds events Stripe could not
/// deliver, through the normal path, at most once per event id) and <c>status</c> (queue depths from RabbitMQ combined
/// with the workers' <c>GET /admin/status</c>). See this project's README.md.
/// </summary>
/// <remarks>
/// Exit codes: 0 done (including "nothing to do"), 1 the operation failed (broker unreachable, refused, a move not
/// confirmed, a dead letter a replay set out to move still in place at its end; Stripe refused the key, a backfill account failed, another backfill
/// running), 2 usage error (a bare first word that is no command, an unknown option or target, missing argument,
/// <c>--since</c> out of range), 78 configuration missing or invalid
/// (<c>RabbitMq:Uri</c>, <c>Fulfillment:Targets:N:Name</c>; for <c>backfill</c> also <c>Stripe:ApiKey</c>,
/// <c>Stripe:ApiBase</c>, <c>Manifest:Path</c>; for <c>status</c> with workers and for the targets API verbs also
/// <c>Admin:Token</c>, which the targets API verbs also exit 78 for when the worker answers 401 or 403). <c>status</c>
/// exits 1 when a worker refuses the token, and 0 when a worker does not answer (shown as unreachable). Results go to standard output (tables, or one JSON
/// document with <c>--json</c>); errors go to standard error and never show a password.
/// <c>dead-letters list</c> removes and reorders nothing; <c>dead-letters replay</c> moves each dead letter at most
/// once even when replays run concurrently, with an at-least-once window if it dies between the broker's confirm of
/// the copy and its acknowledgement of the original (see <c>DeadLetterReplayer</c> and the project's README.md).
/// </remarks>
public static class OperationsCli
{
    /// <summary>
    /// The executable's command line, its only entry point: runs the worker (<paramref name="serve"/>) when there is no
    /// command or the command is <c>serve</c>, prints help for <c>--help</c>, runs a verb, or refuses a first argument that
    /// is a bare word but no command (exit 2, with the usage and the nearest command). Returns the process exit code.
    /// </summary>
    /// <param name="args">The process's command line.</param>
    /// <param name="configuration">The app's configuration for the verbs (appsettings and environment), built only when a verb needs it.</param>
    /// <param name="serve">Runs the worker with the host arguments (the whole command line, or what follows <c>serve</c>).</param>
    public static async Task<int> RunAsync(string[] args, Func<IConfiguration> configuration, Func<string[], Task<int>> serve)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(serve);

        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };

        // Ctrl+C stops a verb; the worker's host handles it (and SIGTERM) itself.
        Console.CancelKeyPress += onCancel;
        try
        {
            return await RunAsync(
                args,
                new DeferredConfiguration(configuration),
                AnsiConsole.Console,
                Console.Error,
                TimeProvider.System,
                hostArgs =>
                {
                    Console.CancelKeyPress -= onCancel;
                    return serve(hostArgs);
                },
                cancel.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>Runs the verb in <paramref name="args"/> and returns the process exit code (no worker: tests of the verbs).</summary>
    internal static Task<int> RunAsync(
        string[] args, IConfiguration configuration, IAnsiConsole console, TextWriter error, TimeProvider timeProvider, CancellationToken ct) =>
        RunAsync(args, configuration, console, error, timeProvider, serve: null, ct);

    /// <summary>As the public overload, with the configuration, both output streams and the clock given (tests).</summary>
    internal static async Task<int> RunAsync(
        string[] args,
        IConfiguration configuration,
        IAnsiConsole console,
        TextWriter error,
        TimeProvider timeProvider,
        Func<string[], Task<int>>? serve,
        CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(error);
        ArgumentNullException.ThrowIfNull(timeProvider);

        // Not a terminal (a pipe, a file, a CI log): Spectre would squeeze tables to 80 columns; give them the whole line,
        // and plain text without escape sequences.
        if (!console.Profile.Out.IsTerminal)
        {
            console.Profile.Width = RedirectedWidth;
            console.Profile.Capabilities.Ansi = false;
        }

        var session = new CliSession(configuration, console, error, timeProvider);
        var tree = CommandTree.Build(session, configuration);
        var parsed = tree.Root.Parse(args, ParserConfiguration);
        var invocation = new InvocationConfiguration
        {
            Output = console.Profile.Out.Writer,
            Error = error,
            EnableDefaultExceptionHandler = false,
            ProcessTerminationTimeout = null,
        };

        var command = parsed.CommandResult.Command;
        if (command == tree.Root || command == tree.Serve)
        {
            if (command == tree.Root && args.Length > 0 && IsBareWord(args[0]))
            {
                return await UnknownCommandAsync(tree, args[0], error);
            }

            // Help wins over host arguments, wherever it is (the parser reports those as errors, and would not show help).
            if (parsed.Action is HelpAction || args.Any(HelpTokens.Contains))
            {
                return await tree.Root.Parse(command == tree.Serve ? [CommandTree.ServeName, "--help"] : ["--help"], ParserConfiguration)
                    .InvokeAsync(invocation, ct);
            }

            if (serve is null)
            {
                error.WriteLine("error: this host runs the verbs only; give one (dead-letters, targets, backfill, status).");
                return ExitCodes.Usage;
            }

            return await serve(command == tree.Serve ? args[1..] : args);
        }

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
            return await parsed.InvokeAsync(invocation, ct);
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

    /// <summary>The width tables get when standard output is not a terminal: no line is ever folded to fit.</summary>
    internal const int RedirectedWidth = 32_767;

    private static readonly HashSet<string> HelpTokens = new(StringComparer.Ordinal) { "--help", "-h", "-?", "/?", "/h" };

    /// <summary>No response files (<c>@file</c>): a host argument may start with <c>@</c>, and the worker never read them.</summary>
    private static readonly ParserConfiguration ParserConfiguration = new() { ResponseFileTokenReplacer = null };

    /// <summary>
    /// A word that can only be meant as a command: not an option (<c>-</c>, <c>/</c>), not a <c>Key=Value</c> pair, not a
    /// URL or path.
    /// </summary>
    private static bool IsBareWord(string argument) =>
        argument.Length > 0 && char.IsLetter(argument[0]) && argument.All(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>Exit 2: names the word, the nearest command, and prints the usage to standard error.</summary>
    private static async Task<int> UnknownCommandAsync(CommandTree.Tree tree, string word, TextWriter error)
    {
        var nearest = CommandSuggestion.Nearest(word, tree.CommandPaths());
        error.WriteLine(
            $"error: '{word}' is not a SyncWorker command. Did you mean '{nearest}'? " +
            $"To run the worker, give no command (or '{CommandTree.ServeName}') and host arguments such as --urls or Key=Value.");
        error.WriteLine();
        await tree.Root.Parse(["--help"], ParserConfiguration).InvokeAsync(new InvocationConfiguration { Output = error, Error = error });
        return ExitCodes.Usage;
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
