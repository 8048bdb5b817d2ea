using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging;
using SyncWorker.Forwarding.Targets;

namespace SyncWorker.Forwarding.Delivery;

/// <summary>
/// One target's OAuth 2.0 access token, from the client credentials grant (RFC 6749 §4.4): a form <c>POST</c> of
/// <c>grant_type=client_credentials</c> (and <c>scope</c>) to <c>Auth:TokenUrl</c>, the client authenticated with HTTP
/// Basic (RFC 6749 §2.3.1) or in the form. The token is kept until shortly before its <c>expires_in</c> ends (a tenth of
/// its life, at most 60 s, early; a token without <c>expires_in</c> is kept until the target refuses it), measured on
/// the <see cref="TimeProvider"/>. Concurrent deliveries wait for one fetch. Redirects are not followed, and each fetch
/// is timed out after the target's <c>TimeoutSeconds</c>.
/// </summary>
internal sealed partial class OAuth2TokenSource : IDisposable
{
    /// <summary>The longest token endpoint answer read.</summary>
    private const int MaxAnswerBytes = 64 * 1024;

    private static readonly TimeSpan MaxEarlyRefresh = TimeSpan.FromSeconds(60);

    private readonly string _targetName;
    private readonly TargetAuthOptions _auth;
    private readonly Uri _tokenUrl;
    private readonly string _endpoint;
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly HttpClient _http;
    private readonly Lock _gate = new();
    private AccessToken? _current;
    private Task<AccessToken>? _fetching;
    private int _fetches;

    public OAuth2TokenSource(TargetOptions target, TimeProvider time, ILogger logger, HttpMessageHandler? primary = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        _targetName = target.Name;
        _auth = target.Auth;
        _tokenUrl = new Uri(target.Auth.TokenUrl!, UriKind.Absolute);
        _endpoint = _tokenUrl.GetLeftPart(UriPartial.Path);
        _timeout = TimeSpan.FromSeconds(target.TimeoutSeconds);
        _time = time;
        _logger = logger;
        _http = new HttpClient(primary ?? TargetHttpClientServiceCollectionExtensions.PrimaryHandler(), disposeHandler: true)
        {
            Timeout = Timeout.InfiniteTimeSpan,
            MaxResponseContentBufferSize = MaxAnswerBytes,
        };
    }

    /// <summary>Fetches made (each a request to the token endpoint), for tests and diagnostics.</summary>
    public int Fetches => Volatile.Read(ref _fetches);

    /// <summary>
    /// The token to send: the one held while it is fresh, else a new one (one fetch, shared by every caller waiting
    /// meanwhile). <paramref name="rejected"/>, the token a target has just answered 401 to, is not given again.
    /// Throws <see cref="TargetAuthException"/> when no token can be had.
    /// </summary>
    public async Task<AccessToken> GetAsync(AccessToken? rejected, CancellationToken cancellationToken)
    {
        Task<AccessToken> fetching;
        lock (_gate)
        {
            if (rejected is not null && ReferenceEquals(rejected, _current))
            {
                _current = null;
            }

            if (_current is { } current && !(current.RefreshAt <= _time.GetUtcNow()))
            {
                return current;
            }

            fetching = _fetching ??= FetchAsync();
        }

        // A caller's cancellation (its attempt timed out) leaves the shared fetch running for the others.
        return await fetching.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    private async Task<AccessToken> FetchAsync()
    {
        // Runs after the caller left the lock, so _fetching is set before this can clear it.
        await Task.Yield();
        try
        {
            var token = await RequestAsync().ConfigureAwait(false);
            lock (_gate)
            {
                _current = token;
                _fetching = null;
            }

            return token;
        }
        catch (Exception exception)
        {
            lock (_gate)
            {
                _fetching = null;
            }

            if (exception is TargetAuthException failure)
            {
                LogFetchFailed(_logger, _targetName, failure.IsPermanent, failure.Message);
            }

            throw;
        }
    }

    private async Task<AccessToken> RequestAsync()
    {
        Interlocked.Increment(ref _fetches);
        var id = _auth.ClientId ?? "";
        var secret = _auth.ClientSecret ?? "";
        var form = new List<KeyValuePair<string, string>> { new("grant_type", "client_credentials") };
        if (!string.IsNullOrWhiteSpace(_auth.Scope))
        {
            form.Add(new("scope", _auth.Scope.Trim()));
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, _tokenUrl);
        if (_auth.ClientSecretInBody)
        {
            form.Add(new("client_id", id));
            form.Add(new("client_secret", secret));
        }
        else
        {
            // RFC 6749 §2.3.1: the id and secret are form-encoded before they are joined and base64-encoded.
            request.Headers.Authorization = new AuthenticationHeaderValue(
                "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{FormEncode(id)}:{FormEncode(secret)}")));
        }

        request.Content = new FormUrlEncodedContent(form);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.TryAddWithoutValidation("User-Agent", StandardWebhookHandler.UserAgent);

        using var timeout = new CancellationTokenSource(_timeout, _time);
        HttpResponseMessage response;
        string body;
        try
        {
            response = await _http.SendAsync(request, timeout.Token).ConfigureAwait(false);
            body = await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException exception) when (timeout.IsCancellationRequested)
        {
            throw Failure(FormattableString.Invariant($"gave no answer within the {_timeout.TotalSeconds:0.##} s timeout (TimeoutSeconds)"), permanent: false, null, exception);
        }
        catch (HttpRequestException exception)
        {
            // The message may name the address; the error class says enough.
            throw Failure($"could not be reached (network error: {exception.HttpRequestError})", permanent: false, null, exception);
        }

        using (response)
        {
            var status = response.StatusCode;
            if ((int)status is >= 200 and <= 299)
            {
                return Parse(body, (int)status);
            }

            var answered = $"answered {Status(status)}{ErrorCode(body)}";
            if (status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500)
            {
                throw Failure(answered, permanent: false, (int)status);
            }

            var fix = (int)status is >= 300 and <= 399
                ? "; redirects are not followed: set Auth:TokenUrl to the address that answers"
                : $"; not retried: check Auth:ClientId, Auth:ClientSecret{(string.IsNullOrWhiteSpace(_auth.Scope) ? "" : ", Auth:Scope")} and Auth:ClientAuthentication ({(_auth.ClientSecretInBody ? "Body" : "Basic")})";
            throw Failure(answered + fix, permanent: true, (int)status);
        }
    }

    private AccessToken Parse(string body, int status)
    {
        string? value = null;
        string? type = null;
        double? expiresIn = null;
        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind == JsonValueKind.Object)
            {
                var root = json.RootElement;
                value = root.TryGetProperty("access_token", out var token) && token.ValueKind == JsonValueKind.String ? token.GetString() : null;
                type = root.TryGetProperty("token_type", out var kind) && kind.ValueKind == JsonValueKind.String ? kind.GetString() : null;
                if (root.TryGetProperty("expires_in", out var expires))
                {
                    expiresIn = expires.ValueKind switch
                    {
                        JsonValueKind.Number when expires.TryGetDouble(out var seconds) => seconds,
                        JsonValueKind.String when double.TryParse(expires.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) => seconds,
                        _ => null,
                    };
                }
            }
        }
        catch (JsonException)
        {
            value = null;
        }

        if (string.IsNullOrEmpty(value) || !value.All(c => c is >= '!' and <= '~'))
        {
            throw Failure($"answered {status} without a usable access_token (is Auth:TokenUrl the token endpoint?)", permanent: true, status);
        }

        if (type is not null && !string.Equals(type, "Bearer", StringComparison.OrdinalIgnoreCase))
        {
            throw Failure($"issued a token of type '{Printable(type)}'; only Bearer tokens are supported", permanent: true, status);
        }

        var now = _time.GetUtcNow();
        DateTimeOffset? refreshAt = null;
        if (expiresIn is { } life)
        {
            var lifetime = TimeSpan.FromSeconds(Math.Clamp(life, 0, TimeSpan.FromDays(365).TotalSeconds));
            var early = lifetime / 10 < MaxEarlyRefresh ? lifetime / 10 : MaxEarlyRefresh;
            refreshAt = now + lifetime - early;
        }

        LogFetched(_logger, _targetName, _endpoint, expiresIn ?? -1);
        return new AccessToken(value, refreshAt);
    }

    private TargetAuthException Failure(string what, bool permanent, int? status, Exception? inner = null) =>
        new($"its OAuth2 token endpoint {_endpoint} {what}", permanent, status, inner);

    /// <summary>The OAuth <c>error</c> code of an error answer (RFC 6749 §5.2), when it is one; never its description.</summary>
    private static string ErrorCode(string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind == JsonValueKind.Object
                && json.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.String
                && error.GetString() is { Length: > 0 and <= 64 } code
                && code.All(c => c is ' ' or '!' or (>= '#' and <= '[') or (>= ']' and <= '~')))
            {
                return $" (error {code})";
            }
        }
        catch (JsonException)
        {
        }

        return "";
    }

    private static string Status(HttpStatusCode status)
    {
        var reason = ReasonPhrases.GetReasonPhrase((int)status);
        return reason.Length == 0 ? ((int)status).ToString(CultureInfo.InvariantCulture) : FormattableString.Invariant($"{(int)status} {reason}");
    }

    private static string FormEncode(string value) => Uri.EscapeDataString(value).Replace("%20", "+", StringComparison.Ordinal);

    private static string Printable(string value) => string.Concat(value.Take(32).Select(c => c is >= ' ' and <= '~' ? c : '?'));

    [LoggerMessage(EventId = 2701, Level = LogLevel.Information,
        Message = "Fetched an OAuth2 access token for target {Target} from {TokenEndpoint} (expires_in {ExpiresInSeconds} s; -1: not given)")]
    private static partial void LogFetched(ILogger logger, string target, string tokenEndpoint, double expiresInSeconds);

    [LoggerMessage(EventId = 2702, Level = LogLevel.Warning,
        Message = "No OAuth2 access token for target {Target} (permanent: {Permanent}): {Reason}")]
    private static partial void LogFetchFailed(ILogger logger, string target, bool permanent, string reason);

    /// <summary>An access token and when to fetch the next (null: not before a target refuses it).</summary>
    internal sealed class AccessToken(string value, DateTimeOffset? refreshAt)
    {
        /// <summary>The token; never logged.</summary>
        public string Value { get; } = value;

        public DateTimeOffset? RefreshAt { get; } = refreshAt;

        /// <summary>Not the token: a class, so no generated ToString can print it.</summary>
        public override string ToString() => "access token";
    }
}
