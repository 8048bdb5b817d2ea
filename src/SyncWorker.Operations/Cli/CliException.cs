namespace SyncWorker.Operations.Cli;

/// <summary>Ends a verb with <see cref="ExitCode"/>; the message says what is wrong and what to do, and holds no secret.</summary>
internal sealed class CliException : Exception
{
    public CliException()
        : this(ExitCodes.Failed, "The operation failed.")
    {
    }

    public CliException(string message)
        : this(ExitCodes.Failed, message)
    {
    }

    public CliException(string message, Exception innerException)
        : base(message, innerException)
    {
        ExitCode = ExitCodes.Failed;
    }

    public CliException(int exitCode, string message)
        : base(message)
    {
        ExitCode = exitCode;
    }

    public int ExitCode { get; }

    public static CliException Usage(string message) => new(ExitCodes.Usage, message);

    public static CliException Configuration(string message) => new(ExitCodes.Configuration, message);

    public static CliException Failed(string message) => new(ExitCodes.Failed, message);
}
