namespace SyncWorker.Forwarding.Delivery;

/// <summary>
/// A target's credentials could not be had: its OAuth 2.0 token endpoint refused the client (<see cref="IsPermanent"/>:
/// 400, 401, any other 4xx or 3xx, an answer without a usable token) or could not answer now (network error, timeout,
/// 408, 429, 5xx), so the request to the target was not sent. The message names the endpoint (without its query), the
/// status and the OAuth <c>error</c> code, and never a secret or a token.
/// </summary>
public sealed class TargetAuthException : Exception
{
    public TargetAuthException()
    {
    }

    public TargetAuthException(string message)
        : base(message)
    {
    }

    public TargetAuthException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public TargetAuthException(string message, bool isPermanent, int? statusCode, Exception? innerException = null)
        : base(message, innerException)
    {
        IsPermanent = isPermanent;
        StatusCode = statusCode;
    }

    /// <summary>True when asking again cannot help until the configuration changes.</summary>
    public bool IsPermanent { get; }

    /// <summary>The token endpoint's HTTP status, when it answered.</summary>
    public int? StatusCode { get; }
}
