namespace SyncWorker.Manifest;

/// <summary>
/// The manifest could not be loaded: the file is missing or unreadable, is not JSON, or is not a valid
/// Stripe App manifest. The message names the file and the field and says how to fix it.
/// </summary>
public sealed class ManifestException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The full message, naming the file and the field.</param>
    /// <param name="path">The manifest path or source name as the caller gave it.</param>
    /// <param name="field">The JSON path of the offending field, or null when the problem is not one field.</param>
    /// <param name="innerException">The underlying I/O or JSON error, if any.</param>
    public ManifestException(string message, string path, string? field, Exception? innerException = null)
        : base(message, innerException)
    {
        Path = path;
        Field = field;
    }

    /// <summary>The manifest path or source name as the caller gave it.</summary>
    public string Path { get; }

    /// <summary>
    /// The JSON path of the offending field, for example <c>permissions[2].purpose</c>; null when the file is
    /// missing, unreadable or not JSON.
    /// </summary>
    public string? Field { get; }
}
