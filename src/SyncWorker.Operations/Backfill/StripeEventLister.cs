using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using SyncWorker.Operations.Cli;

namespace SyncWorker.Operations.Backfill;

/// <summary>
/// Lists the events Stripe could not deliver, with Stripe's REST API over <see cref="HttpClient"/>:
/// <c>GET /v1/events?created[gte]=…&amp;delivery_success=false&amp;limit=100</c>, then <c>&amp;starting_after=</c> the
/// last id of each page while <c>has_more</c> is true (newest first, as Stripe returns them). With an account,
/// <c>Stripe-Account: acct_…</c> lists that installing account's events.
/// </summary>
/// <remarks>
/// <para>
/// Every element of <c>data</c> is returned as its raw JSON text (<see cref="JsonElement.GetRawText"/>), exactly as Stripe
/// wrote it; nothing is deserialised or re-serialised.
/// </para>
/// <para>
/// Transient failures (network errors, timeouts, <c>408</c>, <c>409</c>, <c>429</c>, <c>5xx</c>) are retried up to
/// <see cref="MaxAttempts"/> attempts per page, with exponential backoff from <see cref="BaseDelay"/> (±20% jitter),
/// honouring a <c>Retry-After</c> of up to <see cref="MaxRetryAfter"/>. Reading is idempotent, so retrying is safe.
/// <c>401</c> and <c>403</c> end the listing at once with a message naming <c>Stripe:ApiKey</c>. Messages never contain
/// the key, and Stripe's own error text is not copied (its <c>401</c> message echoes part of the key).
/// </para>
/// <para>
/// Every failure is a <see cref="StripeListingException"/>: one account's listing failed; <see cref="StripeListingException.StopsRun"/>
/// when no other listing can succeed either (the key was refused: <c>401</c>, or <c>403</c> for the app's own account).
/// </para>
/// </remarks>
internal sealed class StripeEventLister(HttpClient http, Uri apiBase, string apiKey, string? account, TimeProvider timeProvider, string keySetting = BackfillSettings.ApiKeyKey)
{
    /// <summary>Whose events these are, for messages: <c>account acct_…</c> or <c>the app's own account</c>.</summary>
    public string Scope { get; } = account is null ? "the app's own account" : $"account {account}";

    /// <summary>Events per page: the largest <c>limit</c> Stripe allows.</summary>
    public const int PageSize = 100;

    /// <summary>Attempts per page, the first included.</summary>
    public const int MaxAttempts = 4;

    /// <summary>The first backoff; doubled for each further retry.</summary>
    public static readonly TimeSpan BaseDelay = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest <c>Retry-After</c> waited; a longer one is cut to this.</summary>
    public static readonly TimeSpan MaxRetryAfter = TimeSpan.FromSeconds(60);

    /// <summary>Timeout of one HTTP attempt.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    private readonly string _eventsUrl = apiBase.ToString().TrimEnd('/') + "/v1/events";

    /// <summary>The API server without path or user info, safe to show.</summary>
    public string Server { get; } = apiBase.GetComponents(UriComponents.SchemeAndServer, UriFormat.UriEscaped);

    /// <summary>Lists every page, newest event first; <paramref name="onPage"/> gets each page's raw events.</summary>
    public async Task ListAsync(DateTimeOffset since, Action<IReadOnlyList<string>> onPage, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(onPage);
        string? startingAfter = null;
        for (var page = 1; ; page++)
        {
            var (items, hasMore, lastId) = await PageAsync(since, startingAfter, page, cancellationToken);
            onPage(items);
            if (!hasMore)
            {
                return;
            }

            if (items.Count == 0 || lastId is null)
            {
                throw new StripeListingException(
                    $"Stripe's API at {Server} said more events follow page {page} (has_more) but gave " +
                    (items.Count == 0 ? "an empty page" : "no id for its last element") +
                    $", so the listing cannot continue. Nothing of {Scope} was fed; run backfill again.",
                    stopsRun: false);
            }

            startingAfter = lastId;
        }
    }

    /// <summary>The query of one page; <c>created[gte]</c> in Unix seconds.</summary>
    internal static string Query(DateTimeOffset since, string? startingAfter)
    {
        var query = new StringBuilder()
            .Append(Uri.EscapeDataString("created[gte]")).Append('=')
            .Append(since.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture))
            .Append("&delivery_success=false")
            .Append("&limit=").Append(PageSize.ToString(CultureInfo.InvariantCulture));
        if (startingAfter is not null)
        {
            query.Append("&starting_after=").Append(Uri.EscapeDataString(startingAfter));
        }

        return query.ToString();
    }

    private async Task<(List<string> Items, bool HasMore, string? LastId)> PageAsync(
        DateTimeOffset since, string? startingAfter, int page, CancellationToken cancellationToken)
    {
        var url = _eventsUrl + "?" + Query(since, startingAfter);
        for (var attempt = 1; ; attempt++)
        {
            string transient;
            TimeSpan? retryAfter = null;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
                if (account is not null)
                {
                    request.Headers.Add("Stripe-Account", account);
                }

                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(RequestTimeout);
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token);
                var body = await response.Content.ReadAsByteArrayAsync(timeout.Token);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return ReadPage(body, page);
                }

                var status = (int)response.StatusCode;
                var answered = $"Stripe's API at {Server} answered {StatusText(response.StatusCode)} to GET /v1/events (page {page})";
                var details = Details(body, response);
                switch (status)
                {
                    case 401:
                        throw new StripeListingException(
                            $"{answered}: the API key was revoked, expired or mistyped. Check {keySetting} (the app's " +
                            $"secret key sk_… or a restricted key rk_… that may read events).{details} Nothing was fed.",
                            stopsRun: true);
                    case 403 when account is null:
                        throw new StripeListingException(
                            $"{answered}: {keySetting} may not list events (a restricted key needs read access to " +
                            $"Events). Check {keySetting}.{details} Nothing was fed.",
                            stopsRun: true);
                    case 403:
                        throw new StripeListingException(
                            $"{answered}: account {account} has not installed the app or revoked its access (or " +
                            $"{keySetting} may not list events: a restricted key needs read access to Events). " +
                            $"Check the account with installs sync and installs list, and {keySetting}.{details} " +
                            $"Nothing of {Scope} was fed.",
                            stopsRun: false);
                    case 408 or 409 or 429 or >= 500:
                        transient = answered + details;
                        retryAfter = RetryAfter(response);
                        break;
                    default:
                        throw new StripeListingException(
                            $"{answered}; retrying cannot help." + details +
                            $" Check {BackfillSettings.ApiBaseKey} and the options. Nothing of {Scope} was fed.",
                            stopsRun: false);
                }
            }
            catch (HttpRequestException exception)
            {
                transient = $"Could not reach Stripe's API at {Server} ({exception.Message})";
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                transient = $"Stripe's API at {Server} did not answer within {RequestTimeout.TotalSeconds:0} s";
            }

            if (attempt >= MaxAttempts)
            {
                throw new StripeListingException(
                    $"{transient}; gave up after {MaxAttempts} attempts at page {page}. Nothing of {Scope} was fed; run backfill again later.",
                    stopsRun: false);
            }

            await Task.Delay(Backoff(attempt, retryAfter), timeProvider, cancellationToken);
        }
    }

    private (List<string> Items, bool HasMore, string? LastId) ReadPage(byte[] body, int page)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object
                && root.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Array
                && root.TryGetProperty("has_more", out var hasMore) && hasMore.ValueKind is JsonValueKind.True or JsonValueKind.False)
            {
                var items = new List<string>(data.GetArrayLength());
                string? lastId = null;
                foreach (var element in data.EnumerateArray())
                {
                    items.Add(element.GetRawText());
                    lastId = element.ValueKind == JsonValueKind.Object
                        && element.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String
                        ? id.GetString()
                        : null;
                }

                return (items, hasMore.GetBoolean(), lastId);
            }
        }
        catch (JsonException)
        {
            // Reported below.
        }

        throw new StripeListingException(
            $"Stripe's API at {Server} answered page {page} of GET /v1/events with something that is not a list " +
            $"(an object with \"data\" and \"has_more\"). Check {BackfillSettings.ApiBaseKey}. Nothing of {Scope} was fed.",
            stopsRun: false);
    }

    private static TimeSpan Backoff(int attempt, TimeSpan? retryAfter)
    {
#pragma warning disable CA5394 // Jitter spreads retries; it needs no cryptographic randomness.
        var jitter = 0.8 + (Random.Shared.NextDouble() * 0.4);
#pragma warning restore CA5394
        var backoff = BaseDelay * Math.Pow(2, attempt - 1) * jitter;
        if (retryAfter is { } wait && wait > backoff)
        {
            backoff = wait > MaxRetryAfter ? MaxRetryAfter : wait;
        }

        return backoff;
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        if (response.Headers.RetryAfter is not { } header)
        {
            return null;
        }

        if (header.Delta is { } delta)
        {
            return delta;
        }

        return header.Date is { } date ? date - timeProvider.GetUtcNow() : null;
    }

    /// <summary>Stripe's error code, parameter and request id, when present: never its message.</summary>
    private static string Details(byte[] body, HttpResponseMessage response)
    {
        var parts = new List<string>();
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                foreach (var (field, label) in new[] { ("code", "Stripe error code"), ("param", "parameter") })
                {
                    if (error.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.String
                        && value.GetString() is { Length: > 0 and <= 100 } text)
                    {
                        parts.Add($"{label}: {text}");
                    }
                }
            }
        }
        catch (JsonException)
        {
            // Not Stripe's error format (a proxy's page, say): nothing to add.
        }

        if (response.Headers.TryGetValues("Request-Id", out var ids) && ids.FirstOrDefault() is { Length: > 0 and <= 100 } requestId)
        {
            parts.Add($"request id: {requestId}");
        }

        return parts.Count == 0 ? "" : $" ({string.Join("; ", parts)})";
    }

    private static string StatusText(HttpStatusCode status) =>
        status switch
        {
            HttpStatusCode.BadRequest => "400 Bad Request",
            HttpStatusCode.Unauthorized => "401 Unauthorized",
            HttpStatusCode.Forbidden => "403 Forbidden",
            HttpStatusCode.NotFound => "404 Not Found",
            HttpStatusCode.TooManyRequests => "429 Too Many Requests",
            HttpStatusCode.InternalServerError => "500 Internal Server Error",
            HttpStatusCode.BadGateway => "502 Bad Gateway",
            HttpStatusCode.ServiceUnavailable => "503 Service Unavailable",
            _ => ((int)status).ToString(CultureInfo.InvariantCulture),
        };
}

/// <summary>One account's listing failed; the message says why and what to do, and holds no secret.</summary>
/// <param name="message">What failed, and what to do.</param>
/// <param name="stopsRun">True when no other account's listing can succeed either (the key was refused).</param>
internal sealed class StripeListingException(string message, bool stopsRun) : Exception(message)
{
    /// <summary>True when no other account's listing can succeed either (the key was refused).</summary>
    public bool StopsRun { get; } = stopsRun;
}
