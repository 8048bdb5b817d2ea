namespace SyncWorker.Operations.Cli;

/// <summary>Exit codes of the operations verbs.</summary>
internal static class ExitCodes
{
    /// <summary>The operation succeeded (including "nothing to do").</summary>
    public const int Ok = 0;

    /// <summary>The operation failed: the broker was unreachable, refused, or did not confirm a move.</summary>
    public const int Failed = 1;

    /// <summary>The command line is wrong: unknown verb, option or target, or a missing argument.</summary>
    public const int Usage = 2;

    /// <summary>Configuration the verb needs is missing or invalid (<c>EX_CONFIG</c>, as the worker uses at start).</summary>
    public const int Configuration = 78;
}
