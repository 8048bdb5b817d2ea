using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using SyncWorker.Operations.Cli;
using SyncWorker.Operations.Status;

namespace SyncWorker.Operations.Targets;

/// <summary>A worker's answer to a request of the targets management API.</summary>
/// <param name="Status">The HTTP status.</param>
/// <param name="Body">The body when it is JSON (a target, or an RFC 7807 problem); null otherwise or when empty.</param>
internal sealed record AdminAnswer(int Status, JsonNode? Body)
{
    /// <summary>The problem's <c>detail</c>, when the body is a problem that has one.</summary>
    public string? Detail => Body is JsonObject problem && problem["detail"] is JsonValue detail && detail.TryGetValue<string>(out var text) ? text : null;

    /// <summary>The problem's <c>errors</c> (field → messages) of a validation problem, in the order the worker wrote them.</summary>
    public IReadOnlyList<(string Field, IReadOnlyList<string> Messages)> Errors =>
        Body is JsonObject problem && problem["errors"] is JsonObject errors
            ? errors.Select(pair => (pair.Key, (IReadOnlyList<string>)(pair.Value is JsonArray messages
                ? messages.Select(message => message?.ToString() ?? "").ToList()
                : [pair.Value?.ToString() ?? ""]))).ToList()
            : [];

    /// <summary>The problem's <c>queued</c>: deliveries still queued or waiting, in the 409 of a refused removal.</summary>
    public long? Queued => Body is JsonObject problem && problem["queued"] is JsonValue queued && queued.TryGetValue<long>(out var count) ? count : null;
}

/// <summary>
/// The targets management API of one worker (<c>/admin/targets…</c> on its admin listener), as the <c>targets add</c>,
/// <c>update</c>, <c>remove</c>, <c>show</c> and <c>rotate-secret</c> verbs call it: the worker is <c>--worker</c>, else the
/// first <c>Status:Workers:N</c>, else the first address of <c>Admin:Urls</c> (default <c>http://127.0.0.1:8081</c>; a
/// wildcard host is asked on loopback); the bearer token is <c>Admin:Token</c>, else the first <c>Admin:Tokens:N:Token</c>
/// of <c>Scope</c> <c>write</c>. Never puts the token in a message.
/// Redirects are not followed.
/// </summary>
/// <remarks>Not a record, so that no generated <c>ToString</c> can print the token.</remarks>
internal sealed partial class AdminTargetsApi : IDisposable
{
    /// <summary>The configuration key of the worker's admin addresses, as the worker reads it.</summary>
    public const string AdminUrlsKey = "Admin:Urls";

    /// <summary>The worker's default admin address.</summary>
    public const string DefaultAdminUrl = "http://127.0.0.1:8081";

    /// <summary>How long one request may take (connect included): a change is written to the store and applied first.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The largest answer read; a target is a few kilobytes.</summary>
    private const int MaxAnswerBytes = 1024 * 1024;

    private readonly HttpClient _http;
    private readonly AuthenticationHeaderValue _authorization;

    private AdminTargetsApi(Uri worker, string workerSource, string token)
    {
        Worker = worker;
        WorkerSource = workerSource;
        _authorization = new AuthenticationHeaderValue("Bearer", token);
        _http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            ConnectTimeout = RequestTimeout,
            UseCookies = false,
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
            MaxResponseContentBufferSize = MaxAnswerBytes,
        };
    }

    /// <summary>The worker's base URL, ending in <c>/</c>.</summary>
    public Uri Worker { get; }

    /// <summary>Where <see cref="Worker"/> came from (<c>--worker</c>, <c>Status:Workers:0</c>, <c>Admin:Urls</c>, the default), for messages.</summary>
    public string WorkerSource { get; }

    /// <summary>The worker as shown: scheme, host, port and path.</summary>
    public string WorkerDisplay => StatusSettings.Display(Worker);

    /// <summary>
    /// Chooses the worker and reads the token: a malformed <c>--worker</c> is a usage error (exit 2); a malformed
    /// <c>Status:Workers:N</c> or <c>Admin:Urls</c>, or no usable <c>Admin:Token</c>, a configuration error (exit 78) that
    /// says what <paramref name="needs"/> (the verb and the scope it needs).
    /// </summary>
    public static AdminTargetsApi Open(IConfiguration configuration, string? workerOption, string needs)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var (worker, source) = ChooseWorker(configuration, workerOption);
        // Admin:Token first; else, with the worker's own configuration at hand, its first write-scoped Admin:Tokens entry.
        var token = configuration[StatusSettings.TokenKey];
        if (string.IsNullOrEmpty(token))
        {
            token = configuration.GetSection("Admin:Tokens").GetChildren()
                .Where(entry => string.Equals(entry["Scope"], "write", StringComparison.OrdinalIgnoreCase))
                .Select(entry => entry["Token"])
                .FirstOrDefault(value => !string.IsNullOrEmpty(value));
        }

        if (string.IsNullOrEmpty(token))
        {
            throw CliException.Configuration(
                $"{StatusSettings.TokenKey} is not set, nor an Admin:Tokens:N:Token of Scope write. {needs}, with it as a bearer token: set {StatusSettings.TokenKey} " +
                "(environment variable Admin__Token) to one of the worker's admin tokens (its Admin:Token, or an Admin:Tokens:N:Token).");
        }

        if (!StatusSettings.IsHeaderSafe(token))
        {
            throw CliException.Configuration(
                $"{StatusSettings.TokenKey} holds spaces, control or non-ASCII characters, which an HTTP Authorization header cannot carry: " +
                "set it to the value the worker runs with.");
        }

        return new AdminTargetsApi(worker, source, token);
    }

    /// <summary>
    /// Sends <paramref name="method"/> <c>{worker}/admin/{path}</c> with <paramref name="json"/> as an
    /// <c>application/json</c> body when given. Unreachable, or no answer within <see cref="RequestTimeout"/>: exit 1 naming
    /// the worker and where its address came from.
    /// </summary>
    public async Task<AdminAnswer> SendAsync(HttpMethod method, string path, string? json, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(RequestTimeout);
        using var request = new HttpRequestMessage(method, new Uri(Worker, "admin/" + path));
        request.Headers.Authorization = _authorization;
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/problem+json"));
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token);
            var text = await response.Content.ReadAsStringAsync(timeout.Token);
            JsonNode? body = null;
            if (!string.IsNullOrWhiteSpace(text) && IsJson(response.Content.Headers.ContentType?.MediaType))
            {
                try
                {
                    body = JsonNode.Parse(text);
                }
                catch (JsonException)
                {
                    body = null;
                }
            }

            return new AdminAnswer((int)response.StatusCode, body);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw Unreachable($"no answer within {RequestTimeout.TotalSeconds:0} s", sent: method != HttpMethod.Get);
        }
        catch (HttpRequestException exception)
        {
            Exception reason = exception;
            while (reason.InnerException is not null)
            {
                reason = reason.InnerException;
            }

            // Not connected (refused, name not resolved): the request never reached a worker.
            var connected = exception.HttpRequestError is not (HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError);
            throw Unreachable(reason.Message, sent: connected && method != HttpMethod.Get);
        }
    }

    public void Dispose() => _http.Dispose();

    /// <summary>Exit 1 naming the worker; <paramref name="sent"/>: a change may have been made before the answer was lost.</summary>
    private CliException Unreachable(string reason, bool sent) => CliException.Failed(
        $"Could not reach the worker's admin API at {WorkerDisplay} ({WorkerSource}): {reason}. " +
        (sent
            ? "The request may have reached it: check with 'targets show <name>' before trying again."
            : $"Give its admin address (its {AdminUrlsKey}, e.g. http://10.0.0.5:8081) with --worker, or set {StatusSettings.WorkersSection}:0; check that the worker runs."));

    private static bool IsJson(string? mediaType) =>
        mediaType is not null && (mediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase));

    /// <summary><c>--worker</c>, else the first <c>Status:Workers:N</c>, else the first of <c>Admin:Urls</c>, else the default.</summary>
    internal static (Uri Worker, string Source) ChooseWorker(IConfiguration configuration, string? workerOption)
    {
        if (!string.IsNullOrWhiteSpace(workerOption))
        {
            return (StatusSettings.ParseWorker(workerOption, "--worker", CliException.Usage), "--worker");
        }

        var configured = configuration.GetSection(StatusSettings.WorkersSection).GetChildren()
            .FirstOrDefault(child => !string.IsNullOrWhiteSpace(child.Value));
        if (configured is not null)
        {
            var key = $"{StatusSettings.WorkersSection}:{configured.Key}";
            return (StatusSettings.ParseWorker(configured.Value!, key, CliException.Configuration), key);
        }

        if (configuration[AdminUrlsKey]?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() is { } listen)
        {
            return (StatusSettings.ParseWorker(Loopback(listen), AdminUrlsKey, CliException.Configuration), AdminUrlsKey);
        }

        return (new Uri(DefaultAdminUrl + "/"), $"the default, {AdminUrlsKey} not set");
    }

    /// <summary>A listening address's wildcard host (<c>0.0.0.0</c>, <c>*</c>, <c>+</c>, <c>[::]</c>) as the loopback address to call.</summary>
    private static string Loopback(string listen) =>
        WildcardHost().Replace(listen, match => "://" + (match.Groups[1].Value == "[::]" ? "[::1]" : "127.0.0.1"), 1);

    [GeneratedRegex(@"://(0\.0\.0\.0|\*|\+|\[::\])(?=[:/]|$)")]
    private static partial Regex WildcardHost();
}
