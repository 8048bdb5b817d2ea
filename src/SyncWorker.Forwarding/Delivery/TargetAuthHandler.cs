using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SyncWorker.Forwarding.Targets;

namespace SyncWorker.Forwarding.Delivery;

/// <summary>
/// Sets a target's <c>Authorization</c> header (<c>Auth:*</c>) on every attempt. It sits inside the resilience handler,
/// so a retry carries it too, and outside the signing handler, so the one resend after a 401 is signed afresh and
/// recorded as an attempt of its own. With <c>OAuth2ClientCredentials</c>, a 401 from the target drops the token, fetches
/// a new one and sends the request once more; a second 401 is the target's answer (a permanent refusal). Configured and
/// managed targets get it from <see cref="Create"/>, in both chains.
/// </summary>
internal sealed partial class TargetAuthHandler : DelegatingHandler
{
    private const string AuthorizationHeader = "Authorization";

    private readonly string _targetName;
    private readonly string? _fixedValue;
    private readonly OAuth2TokenSource? _tokens;
    private readonly ILogger _logger;

    private TargetAuthHandler(string targetName, string? fixedValue, OAuth2TokenSource? tokens, ILogger logger)
    {
        _targetName = targetName;
        _fixedValue = fixedValue;
        _tokens = tokens;
        _logger = logger;
    }

    /// <summary>The handler of <paramref name="target"/>'s <c>Auth</c>, or null for <c>Type: None</c>.</summary>
    public static TargetAuthHandler? Create(TargetOptions target, IServiceProvider services, HttpMessageHandler? tokenEndpointHandler = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(services);
        var auth = target.Auth;
        if (auth is null || !auth.IsEnabled)
        {
            return null;
        }

        var logger = services.GetService<ILoggerFactory>()?.CreateLogger<TargetAuthHandler>() ?? (ILogger)NullLogger.Instance;
        var time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        return auth.Kind switch
        {
            TargetAuthOptions.Bearer => new TargetAuthHandler(target.Name, "Bearer " + auth.Token, null, logger),
            TargetAuthOptions.Basic => new TargetAuthHandler(
                target.Name, "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{auth.Username}:{auth.Password}")), null, logger),
            _ => new TargetAuthHandler(target.Name, null, new OAuth2TokenSource(target, time, logger, tokenEndpointHandler), logger),
        };
    }

    /// <summary><paramref name="inner"/> behind <paramref name="target"/>'s auth handler, or <paramref name="inner"/> itself for <c>Type: None</c>.</summary>
    public static HttpMessageHandler Wrap(TargetOptions target, IServiceProvider services, HttpMessageHandler inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        var handler = Create(target, services);
        if (handler is null)
        {
            return inner;
        }

        handler.InnerHandler = inner;
        return handler;
    }

    /// <summary>Requests made to the token endpoint so far (OAuth2 only).</summary>
    internal int TokenFetches => _tokens?.Fetches ?? 0;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (_tokens is null)
        {
            Set(request, _fixedValue!);
            return await base.SendAsync(request, cancellationToken);
        }

        var token = await _tokens.GetAsync(null, cancellationToken);
        Set(request, "Bearer " + token.Value);
        var response = await base.SendAsync(request, cancellationToken);
        if (response.StatusCode != HttpStatusCode.Unauthorized)
        {
            return response;
        }

        LogRefused(_logger, _targetName);
        response.Dispose();
        token = await _tokens.GetAsync(token, cancellationToken);
        Set(request, "Bearer " + token.Value);
        return await base.SendAsync(request, cancellationToken);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _tokens?.Dispose();
        }

        base.Dispose(disposing);
    }

    private static void Set(HttpRequestMessage request, string value)
    {
        request.Headers.Remove(AuthorizationHeader);
        request.Headers.TryAddWithoutValidation(AuthorizationHeader, value);
    }

    [LoggerMessage(EventId = 2703, Level = LogLevel.Information,
        Message = "Target {Target} answered 401 to an OAuth2 access token: fetching a new token and sending once more")]
    private static partial void LogRefused(ILogger logger, string target);
}
