using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using SyncWorker.Contracts;

namespace SyncWorker.Operations.Status;

/// <summary>How a worker answered <c>GET /admin/status</c>.</summary>
internal enum WorkerAnswerKind
{
    /// <summary>It answered with its <see cref="InstanceStatus"/>.</summary>
    Answered,

    /// <summary>No answer: connection refused, name not resolved, or nothing within <see cref="WorkerStatusClient.RequestTimeout"/>.</summary>
    Unreachable,

    /// <summary><c>401</c>: the worker refused the token.</summary>
    Unauthorized,

    /// <summary>Any other answer: another status (<c>404</c> when the worker has no <c>Admin:Token</c>), or a body that is not an instance status.</summary>
    Failed,
}

/// <summary>One worker's answer.</summary>
/// <param name="Worker">Its base URL.</param>
/// <param name="Kind">How it answered.</param>
/// <param name="Status">Its status when <see cref="WorkerAnswerKind.Answered"/>.</param>
/// <param name="HttpStatus">The HTTP status, when there was an answer.</param>
/// <param name="Problem">Otherwise what went wrong, for an operator (never the token).</param>
internal sealed record WorkerAnswer(Uri Worker, WorkerAnswerKind Kind, InstanceStatus? Status, int? HttpStatus, string? Problem);

/// <summary>
/// Asks workers for their <see cref="InstanceStatus"/>: <c>GET {base}/admin/status</c> with
/// <c>Authorization: Bearer &lt;Admin:Token&gt;</c>, all workers at once, each within <see cref="RequestTimeout"/>. Never
/// throws for a worker's failure (it becomes a <see cref="WorkerAnswer"/>), only for cancellation; never puts the token
/// in a message. Redirects are not followed.
/// </summary>
internal sealed class WorkerStatusClient : IDisposable
{
    /// <summary>How long one worker may take to answer (connect included).</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The largest answer read; an instance status is a few kilobytes.</summary>
    private const int MaxAnswerBytes = 1024 * 1024;

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    private readonly HttpClient _http;
    private readonly AuthenticationHeaderValue _authorization;

    public WorkerStatusClient(string token)
    {
        ArgumentException.ThrowIfNullOrEmpty(token);
        _authorization = new AuthenticationHeaderValue("Bearer", token);
        _http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            ConnectTimeout = RequestTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            UseCookies = false,
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
            MaxResponseContentBufferSize = MaxAnswerBytes,
        };
    }

    /// <summary>Every worker's answer, in the order given.</summary>
    public async Task<IReadOnlyList<WorkerAnswer>> AskAllAsync(IReadOnlyList<Uri> workers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workers);
        return await Task.WhenAll(workers.Select(worker => AskAsync(worker, cancellationToken)));
    }

    public async Task<WorkerAnswer> AskAsync(Uri worker, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(worker);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(RequestTimeout);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(worker, "admin/status"));
        request.Headers.Authorization = _authorization;
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token);
            var status = (int)response.StatusCode;
            switch (response.StatusCode)
            {
                case HttpStatusCode.OK:
                    break;
                case HttpStatusCode.Unauthorized:
                    return new WorkerAnswer(worker, WorkerAnswerKind.Unauthorized, null, status,
                        $"refused the token (401): {StatusSettings.TokenKey} here is not the worker's {StatusSettings.TokenKey}");
                case HttpStatusCode.NotFound:
                    return new WorkerAnswer(worker, WorkerAnswerKind.Failed, null, status,
                        $"has no /admin/status (404): this is the worker's webhook port, not its admin address (Admin:Urls, default " +
                        $"http://127.0.0.1:8081), or the worker runs without {StatusSettings.TokenKey} (admin endpoints off), or this URL is not a SyncWorker");
                default:
                    return new WorkerAnswer(worker, WorkerAnswerKind.Failed, null, status,
                        $"answered {status} {response.ReasonPhrase} instead of its status");
            }

            var body = await response.Content.ReadAsByteArrayAsync(timeout.Token);
            var instance = JsonSerializer.Deserialize<InstanceStatus>(body, JsonOptions);
            if (instance is null || string.IsNullOrEmpty(instance.Instance))
            {
                return NotAStatus(worker, status);
            }

            return new WorkerAnswer(worker, WorkerAnswerKind.Answered, instance with { Targets = instance.Targets ?? [] }, status, null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new WorkerAnswer(worker, WorkerAnswerKind.Unreachable, null, null,
                $"did not answer within {RequestTimeout.TotalSeconds:0} s");
        }
        catch (HttpRequestException exception)
        {
            return new WorkerAnswer(worker, WorkerAnswerKind.Unreachable, null, null, Innermost(exception));
        }
        catch (JsonException)
        {
            return NotAStatus(worker, 200);
        }
    }

    public void Dispose() => _http.Dispose();

    private static WorkerAnswer NotAStatus(Uri worker, int status) =>
        new(worker, WorkerAnswerKind.Failed, null, status, "answered 200 with something that is not a SyncWorker instance status");

    private static string Innermost(Exception exception)
    {
        while (exception.InnerException is not null)
        {
            exception = exception.InnerException;
        }

        return exception.Message;
    }
}
