using Microsoft.Extensions.Configuration;
using Spectre.Console;

namespace SyncWorker.Operations.Tests;

/// <summary>What one run of a verb printed and returned.</summary>
internal sealed record CliRun(int ExitCode, string Output, string Error)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Output}\n--- stderr ---\n{Error}";
}

/// <summary>Runs <see cref="OperationsCli"/> with in-memory configuration and captured, non-interactive output.</summary>
internal static class CliHarness
{
    public static readonly string[] Targets = ["warehouse", "dropship", "archive"];

    public static IConfiguration Configuration(Uri? rabbitMq, params string[] targets)
    {
        var values = new Dictionary<string, string?>();
        if (rabbitMq is not null)
        {
            values["RabbitMq:Uri"] = rabbitMq.ToString();
        }

        for (var i = 0; i < targets.Length; i++)
        {
            values[$"Fulfillment:Targets:{i}:Name"] = targets[i];
            values[$"Fulfillment:Targets:{i}:Url"] = $"https://{targets[i]}.example.com/hooks";
        }

        return new ConfigurationBuilder().AddInMemoryCollection(values).Build();
    }

    public static IAnsiConsole Console(StringWriter output, bool interactive = false)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            // Interactive: what a terminal is (a progress bar may show); otherwise what a pipe or a file is.
            Out = interactive ? new TerminalOutput(output, 400) : new AnsiConsoleOutput(output),
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Ansi = interactive ? AnsiSupport.Yes : AnsiSupport.No,
        });

        // Wide enough that no table cell wraps, so assertions can look for whole values.
        console.Profile.Width = 400;
        return console;
    }

    public static async Task<CliRun> RunAsync(IConfiguration configuration, TimeProvider? time, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await OperationsCli.RunAsync(args, configuration, Console(output), error, time ?? TimeProvider.System, CancellationToken.None);
        return new CliRun(exit, output.ToString(), error.ToString());
    }

    public static Task<CliRun> RunAsync(IConfiguration configuration, params string[] args) => RunAsync(configuration, null, args);
}

/// <summary>Standard output that is a terminal of the given width, written to <paramref name="writer"/>.</summary>
internal sealed class TerminalOutput(TextWriter writer, int width) : IAnsiConsoleOutput
{
    public TextWriter Writer => writer;

    public bool IsTerminal => true;

    public int Width => width;

    public int Height => 40;

    public void SetEncoding(System.Text.Encoding encoding)
    {
    }
}

/// <summary>A clock that stands still.</summary>
internal sealed class FixedTime(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
