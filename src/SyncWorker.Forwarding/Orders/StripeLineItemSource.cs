using System.Globalization;
using System.Net;
using Microsoft.Extensions.Options;
using Stripe;
using Stripe.Checkout;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;

namespace SyncWorker.Forwarding.Orders;

/// <summary>
/// Reads Checkout Session line items from Stripe's API with Stripe.net
/// (<c>GET /v1/checkout/sessions/{id}/line_items</c>, <see cref="PageSize"/> per page, every page), on behalf of the
/// installing merchant (<c>Stripe-Account</c>).
/// </summary>
/// <remarks>
/// <para>
/// Retries: none here. Stripe.net's own network retries are off (<see cref="MaxNetworkRetries"/> is 0; its default would
/// be 2), because the delivery retries the whole round with the target's <c>Retry</c> settings (<c>PreparationRetry</c>):
/// with both, every Polly attempt would make up to three calls per page. So one round makes at most
/// 1 + <c>Retry:MaxRetryAttempts</c> calls per page. A network error, timeout, 408, 409, 429 or 5xx becomes a transient
/// <see cref="DeliveryFailedException"/> after one call; 401, 403, 404 and other 4xx become permanent ones.
/// </para>
/// <para>
/// Error messages name the session, account, mode, HTTP status, Stripe's error code and request id, and what to do.
/// They never contain the key, and Stripe's own error text is not copied (its 401 message echoes part of the key), so
/// the <see cref="StripeException"/> is not attached as the inner exception either.
/// </para>
/// </remarks>
public sealed partial class StripeLineItemSource : ILineItemSource, IDisposable
{
    /// <summary>
    /// Retries of one page request that Stripe.net makes itself: none (its own default is 2), because
    /// <c>PreparationRetry</c> retries the round; retries must not multiply.
    /// </summary>
    public const int MaxNetworkRetries = 0;

    /// <summary>Line items per page: the largest <c>limit</c> Stripe allows.</summary>
    public const int PageSize = 100;

    /// <summary>Timeout of one HTTP attempt (Stripe.net's default of 80 s would hold a delivery slot far too long).</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    private readonly HttpClient? _ownedHttpClient;
    private readonly Dictionary<StripeEnvironment, (StripeClient Client, string Setting)> _clients = [];
    private readonly string _apiServer;
    private readonly string _configurationProblem = "";

    /// <summary>A source for <paramref name="options"/>, with its own HTTP client (timeout <see cref="RequestTimeout"/>).</summary>
    public StripeLineItemSource(IOptions<StripeApiOptions> options)
        : this(options, httpClient: null)
    {
    }

    /// <summary>A source sending through <paramref name="httpClient"/> (not disposed here); null for an owned client.</summary>
    internal StripeLineItemSource(IOptions<StripeApiOptions> options, HttpClient? httpClient)
    {
        ArgumentNullException.ThrowIfNull(options);
        var value = options.Value;
        var apiBaseUrl = value.ApiBase?.TrimEnd('/') ?? "";

        // Messages name the server only: a proxy URL may carry credentials in its user-info part.
        _apiServer = Uri.TryCreate(apiBaseUrl, UriKind.Absolute, out var apiBase)
            ? apiBase.GetComponents(UriComponents.SchemeAndServer, UriFormat.UriEscaped)
            : "(Stripe:ApiBase)";
        var problems = StripeApiOptionsValidation.Validate(value).ToList();
        if (problems.Count > 0)
        {
            // Start-up validation refuses this when a target uses Format order; without one, nothing calls this source.
            _configurationProblem = string.Join(" ", problems);
            return;
        }

        if (httpClient is null)
        {
            _ownedHttpClient = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }, disposeHandler: true)
            {
                Timeout = RequestTimeout,
            };
        }

        // One client per key: each Stripe call uses the key of its event's mode (Stripe:ApiKeys:Live / :Test, else
        // Stripe:ApiKey for the mode it serves), and a sandbox event the sandbox's key (Stripe:ApiKeys:Sandbox).
        var clients = new Dictionary<string, StripeClient>(StringComparer.Ordinal);
        foreach (var environment in new[] { StripeEnvironment.Live, StripeEnvironment.Test, StripeEnvironment.Sandbox })
        {
            if (value.KeyFor(environment) is not { } key)
            {
                continue;
            }

            if (!clients.TryGetValue(key.Key, out var client))
            {
                client = new StripeClient(new StripeClientOptions
                {
                    ApiKey = key.Key,
                    ApiBase = apiBaseUrl,
                    HttpClient = new SystemNetHttpClient(httpClient ?? _ownedHttpClient, MaxNetworkRetries),
                });
                clients[key.Key] = client;
            }

            _clients[environment] = (client, key.Setting);
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<OrderLineItem>> GetLineItemsAsync(string sessionId, string? account, StripeEnvironment environment, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sessionId);
        return ReadAsync<IReadOnlyList<OrderLineItem>>(
            $"listing the line items of {Describe(sessionId, account, environment)}",
            "checkout_session_read",
            "Checkout Sessions",
            environment,
            async (client, options) =>
            {
                var items = new List<OrderLineItem>();
                await foreach (var item in client.V1.Checkout.Sessions.LineItems.ListAutoPagingAsync(sessionId, new SessionLineItemListOptions { Limit = PageSize }, options(account), ct))
                {
                    items.Add(ToOrderLineItem(item));
                }

                return items;
            },
            ct);
    }

    /// <summary>
    /// One read of Stripe's API on behalf of <c>Stripe-Account</c> (given to <paramref name="read"/> as a function of the
    /// account), with this source's error rules: the key must be <paramref name="environment"/>'s; Stripe's answers and
    /// network failures become <see cref="DeliveryFailedException"/>s that say what was being done (<paramref name="doing"/>).
    /// </summary>
    private async Task<T> ReadAsync<T>(
        string doing,
        string permission,
        string objects,
        StripeEnvironment environment,
        Func<StripeClient, Func<string?, RequestOptions?>, Task<T>> read,
        CancellationToken ct)
    {
        if (_configurationProblem.Length > 0)
        {
            throw new DeliveryFailedException($"Cannot read Stripe ({doing}): {_configurationProblem}", isPermanent: true, attempts: 0, statusCode: null);
        }

        if (!_clients.TryGetValue(environment, out var chosen))
        {
            var mode = environment.Name();
            var setting = StripeModeKeys.SettingOf(environment);
            throw new DeliveryFailedException(
                environment == StripeEnvironment.Sandbox
                    ? $"Cannot read Stripe ({doing}): no key reads sandbox {objects} ({setting} is not set; a sandbox event, verified by a " +
                      $"secret tagged Mode sandbox, is read only with the managed sandbox's own key). Set {setting} to the sandbox's " +
                      "secret key (sk_…) or restricted key (rk_…)."
                    : $"Cannot read Stripe ({doing}): no key reads {mode}-mode {objects} ({setting} " +
                      $"is not set and {StripeApiOptions.ApiKeySetting} is not a {mode} key). Set {setting} to a {mode} key, " +
                      "or route this mode's events to targets served by another SyncWorker.",
                isPermanent: true,
                attempts: 0,
                statusCode: null);
        }

        try
        {
            return await read(chosen.Client, account => account is null ? null : new RequestOptions { StripeAccount = account }).ConfigureAwait(false);
        }
        catch (StripeException ex)
        {
            throw FromStripe(ex, doing, permission, chosen.Setting);
        }
        catch (HttpRequestException ex)
        {
            throw new DeliveryFailedException(
                $"Could not reach Stripe's API at {_apiServer} when {doing}: {ex.Message}",
                isPermanent: false,
                attempts: 1,
                statusCode: null,
                ex);
        }
        catch (OperationCanceledException ex) when (!ct.IsCancellationRequested)
        {
            throw new DeliveryFailedException(
                $"Stripe's API at {_apiServer} did not answer in time when {doing}.",
                isPermanent: false,
                attempts: 1,
                statusCode: null,
                ex);
        }
    }

    /// <inheritdoc />
    public void Dispose() => _ownedHttpClient?.Dispose();

    /// <summary>The document's view of a Stripe.net line item.</summary>
    internal static OrderLineItem ToOrderLineItem(LineItem item) =>
        new(
            item.Id,
            item.Description,
            item.Quantity,
            item.Price?.Id,
            item.Price?.ProductId,
            item.Price?.UnitAmount,
            item.AmountSubtotal,
            item.AmountDiscount,
            item.AmountTax,
            item.AmountTotal,
            item.Currency);

    private static string Describe(string sessionId, string? account, StripeEnvironment environment) =>
        $"Checkout Session {sessionId} ({(account is null ? "the app's own account" : $"account {account}")}, {Describe(environment)})";

    private static string Describe(StripeEnvironment environment) =>
        environment == StripeEnvironment.Sandbox ? "sandbox (test mode)" : $"{environment.Name()} mode";

    private static DeliveryFailedException FromStripe(StripeException ex, string doing, string permission, string setting)
    {
        var status = (int)ex.HttpStatusCode;
        const int attempts = 1; // Stripe.net retries nothing (MaxNetworkRetries 0)
        var details = Details(ex);
        var answered = $"Stripe answered {StatusText(ex.HttpStatusCode)} when {doing}";
        return status switch
        {
            401 => Permanent(
                $"{answered}: the API key was revoked, expired or mistyped. Check {setting} (the secret key sk_… or " +
                $"restricted key rk_… of the app's account).{details}"),
            403 => Permanent(
                $"{answered}: the API key lacks {permission} (a restricted key without it), or the account has not " +
                $"granted the app that permission (app uninstalled, or a new app version not yet accepted). Check {setting} " +
                $"and the manifest's permissions.{details}"),
            404 => Permanent(
                $"{answered}: no such object for this key and account. The app may have been uninstalled from the account, or " +
                $"{setting} belongs to another Stripe account or mode; check {setting}.{details}"),
            400 => Permanent($"{answered}: Stripe refused the request as invalid; retrying cannot help.{details}"),
            408 or 409 or 429 or >= 500 => Transient(
                status == 429
                    ? $"{answered}: rate limited, a temporary failure.{details}"
                    : $"{answered}: a temporary failure on Stripe's side.{details}"),
            >= 400 => Permanent($"{answered}; retrying cannot help.{details}"),
            _ => Transient($"{answered}: the response was not what was asked for, a temporary failure.{details}"),
        };

        DeliveryFailedException Permanent(string message) => new(message, isPermanent: true, attempts, status == 0 ? null : status);

        DeliveryFailedException Transient(string message) => new(message, isPermanent: false, attempts, status == 0 ? null : status);
    }

    private static string Details(StripeException ex)
    {
        var parts = new List<string>();
        if (ex.StripeError?.Code is { Length: > 0 } code)
        {
            parts.Add($"Stripe error code: {code}");
        }

        if (ex.StripeError?.Param is { Length: > 0 } param)
        {
            parts.Add($"parameter: {param}");
        }

        if (ex.StripeResponse?.RequestId is { Length: > 0 } requestId)
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
            _ => ((int)status).ToString(CultureInfo.InvariantCulture),
        };
}
