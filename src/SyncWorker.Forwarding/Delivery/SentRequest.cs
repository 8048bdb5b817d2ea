using System.Net.Http;
using System.Text;
using Polly.Timeout;

namespace SyncWorker.Forwarding.Delivery;

/// <summary>One HTTP request of a delivery's round of in-process attempts, as the ledger records it.</summary>
/// <param name="StartedAt">When the request was sent.</param>
/// <param name="Duration">Until its answer's headers, or its failure.</param>
/// <param name="Status">The HTTP status answered, or null when none was.</param>
/// <param name="ErrorClass">
/// Why no answer came: <c>timeout</c>, or the <see cref="HttpRequestError"/> in snake case (<c>connection_error</c>,
/// <c>name_resolution_error</c>, <c>secure_connection_error</c>, …), or the exception's type; null when answered.
/// Never a message (it may carry an address or a header).
/// </param>
public sealed record SentRequest(DateTimeOffset StartedAt, TimeSpan Duration, int? Status, string? ErrorClass)
{
    /// <summary>The error class of a request that got no answer.</summary>
    public static string ErrorClassOf(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception switch
        {
            OperationCanceledException or TimeoutException or TimeoutRejectedException => "timeout",
            HttpRequestException { HttpRequestError: not HttpRequestError.Unknown } http => SnakeCase(http.HttpRequestError.ToString()),
            HttpRequestException => "network_error",
            _ => SnakeCase(exception.GetType().Name),
        };
    }

    private static string SnakeCase(string name)
    {
        var text = new StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                text.Append('_');
            }

            text.Append(char.ToLowerInvariant(name[i]));
        }

        return text.ToString();
    }
}
