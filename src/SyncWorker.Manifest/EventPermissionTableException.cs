namespace SyncWorker.Manifest;

/// <summary>A row of an event-permission TSV file is malformed. The message names the file and the line.</summary>
public sealed class EventPermissionTableException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="sourceName">The file that holds the malformed row.</param>
    /// <param name="lineNumber">The one-based line number of the row.</param>
    /// <param name="problem">What is wrong with the row.</param>
    public EventPermissionTableException(string sourceName, int lineNumber, string problem)
        : base($"{sourceName} line {lineNumber}: {problem}")
    {
        SourceName = sourceName;
        LineNumber = lineNumber;
    }

    /// <summary>The file that holds the malformed row.</summary>
    public string SourceName { get; }

    /// <summary>The one-based line number of the row.</summary>
    public int LineNumber { get; }
}
