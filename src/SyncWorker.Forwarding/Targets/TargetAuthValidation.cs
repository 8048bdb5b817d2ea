using System.Net;

namespace SyncWorker.Forwarding.Targets;

/// <summary>
/// Checks of a target's <c>Auth:*</c>, at start (<c>Fulfillment:Targets:N:Auth:…</c>) and for the admin API (which
/// renames <c>Auth:TokenUrl</c> to <c>auth.tokenUrl</c>): the type's fields are given and well formed, no field of another
/// type is set, <c>Headers</c> does not set <c>Authorization</c> as well, and the token URL follows the rules of
/// <c>Url</c> (the manifest's connect-src; https for a live target in Production unless loopback). No message shows a
/// secret; a URL is shown without its query.
/// </summary>
public static class TargetAuthValidation
{
    private const string AuthorizationHeader = "Authorization";

    /// <summary>
    /// What is wrong with <paramref name="target"/>'s <c>Auth</c>; <paramref name="key"/> prefixes every field
    /// (<c>Fulfillment:Targets:0</c>), <paramref name="production"/> is the Production environment.
    /// </summary>
    public static IEnumerable<string> Validate(TargetOptions target, string key, ConnectSrcPolicy connectSrc, bool production, string manifestPath)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(connectSrc);
        var errors = new List<string>();
        var auth = target.Auth;
        var prefix = $"{key}:Auth";
        if (auth is null)
        {
            errors.Add($"{prefix} is empty; remove it for no authentication besides the signature, or give {prefix}:Type.");
            return errors;
        }

        var kind = auth.Kind;
        if (kind is null)
        {
            errors.Add($"{prefix}:Type must be one of {string.Join(", ", TargetAuthOptions.Types)} (got '{Printable(auth.Type)}').");
            return errors;
        }

        if (kind != TargetAuthOptions.None)
        {
            foreach (var name in (target.Headers ?? []).Keys.Where(name => string.Equals(name?.Trim(), AuthorizationHeader, StringComparison.OrdinalIgnoreCase)))
            {
                errors.Add(
                    $"{key}:Headers:{AuthorizationHeader} cannot be configured while {prefix}:Type is {kind}: the Authorization header carries " +
                    $"the {prefix} credentials. Remove the header (its value is not shown), or set {prefix}:Type to None to send it as it is.");
            }
        }

        var allowed = kind switch
        {
            TargetAuthOptions.Bearer => new[] { nameof(auth.Token) },
            TargetAuthOptions.Basic => [nameof(auth.Username), nameof(auth.Password)],
            TargetAuthOptions.OAuth2ClientCredentials => [nameof(auth.TokenUrl), nameof(auth.ClientId), nameof(auth.ClientSecret), nameof(auth.Scope), nameof(auth.ClientAuthentication)],
            _ => [],
        };
        foreach (var (field, value) in Fields(auth))
        {
            if (!string.IsNullOrEmpty(value) && !allowed.Contains(field))
            {
                errors.Add($"{prefix}:{field} is set, but {prefix}:Type is {kind}, which does not use it: remove it, or set {prefix}:Type to the type it belongs to.");
            }
        }

        switch (kind)
        {
            case TargetAuthOptions.Bearer:
                if (string.IsNullOrEmpty(auth.Token))
                {
                    errors.Add($"{prefix}:Token is required with {prefix}:Type Bearer: the token the partner issued (sent as Authorization: Bearer <token>).");
                }
                else if (!auth.Token.All(c => c is >= '!' and <= '~'))
                {
                    errors.Add($"{prefix}:Token must be printable ASCII without spaces or line breaks (it is not shown).");
                }

                break;

            case TargetAuthOptions.Basic:
                if (string.IsNullOrEmpty(auth.Username))
                {
                    errors.Add($"{prefix}:Username is required with {prefix}:Type Basic.");
                }
                else if (auth.Username.Contains(':', StringComparison.Ordinal) || HasControl(auth.Username))
                {
                    errors.Add($"{prefix}:Username may not contain ':' or control characters (RFC 7617).");
                }

                if (string.IsNullOrEmpty(auth.Password))
                {
                    errors.Add($"{prefix}:Password is required with {prefix}:Type Basic.");
                }
                else if (HasControl(auth.Password))
                {
                    errors.Add($"{prefix}:Password may not contain control characters such as line breaks (it is not shown).");
                }

                break;

            case TargetAuthOptions.OAuth2ClientCredentials:
                ValidateTokenUrl(target, prefix, connectSrc, production, manifestPath, errors);
                if (string.IsNullOrEmpty(auth.ClientId))
                {
                    errors.Add($"{prefix}:ClientId is required with {prefix}:Type OAuth2ClientCredentials: the client id the partner issued.");
                }
                else if (HasControl(auth.ClientId))
                {
                    errors.Add($"{prefix}:ClientId may not contain control characters.");
                }

                if (string.IsNullOrEmpty(auth.ClientSecret))
                {
                    errors.Add($"{prefix}:ClientSecret is required with {prefix}:Type OAuth2ClientCredentials: the client secret the partner issued.");
                }
                else if (HasControl(auth.ClientSecret))
                {
                    errors.Add($"{prefix}:ClientSecret may not contain control characters such as line breaks (it is not shown).");
                }

                if (auth.Scope is { } scope && (scope.Trim().Length == 0 || !scope.All(c => c is ' ' or '!' or (>= '#' and <= '[') or (>= ']' and <= '~'))))
                {
                    errors.Add($"{prefix}:Scope must be scope tokens separated by spaces (RFC 6749 §3.3: printable ASCII without '\"' or '\\'); remove it to ask for no scope.");
                }

                if (auth.ClientAuthentication is { } method
                    && !string.Equals(method.Trim(), TargetAuthOptions.ClientAuthenticationBasic, StringComparison.OrdinalIgnoreCase)
                    && !string.Equals(method.Trim(), TargetAuthOptions.ClientAuthenticationBody, StringComparison.OrdinalIgnoreCase))
                {
                    errors.Add($"{prefix}:ClientAuthentication must be Basic (default: the client id and secret in an HTTP Basic header) or Body (in the form); got '{Printable(method)}'.");
                }

                break;
        }

        return errors;
    }

    private static void ValidateTokenUrl(TargetOptions target, string prefix, ConnectSrcPolicy connectSrc, bool production, string manifestPath, List<string> errors)
    {
        var key = $"{prefix}:TokenUrl";
        var text = target.Auth.TokenUrl;
        if (string.IsNullOrWhiteSpace(text))
        {
            errors.Add($"{key} is required with {prefix}:Type OAuth2ClientCredentials: the partner's token endpoint, for example https://auth.example.com/oauth2/token.");
            return;
        }

        var parsed = Uri.TryCreate(text, UriKind.Absolute, out var url);
        if (parsed && !string.IsNullOrEmpty(url!.UserInfo))
        {
            errors.Add($"{key} contains credentials (user:password@…), which are not allowed and are not shown here: give them as {prefix}:ClientId and {prefix}:ClientSecret.");
            return;
        }

        if (!parsed || url!.Scheme is not ("https" or "http"))
        {
            errors.Add($"{key} must be an absolute http or https URL, for example https://auth.example.com/oauth2/token (the value given is not shown).");
            return;
        }

        if (url.Fragment.Length > 0)
        {
            errors.Add($"{key} may not have a fragment (#…): RFC 6749 §3.2 forbids one in a token endpoint.");
        }

        var shown = url.GetLeftPart(UriPartial.Path);
        if (url.Scheme == Uri.UriSchemeHttp && target.IsLive && production && !IsLoopback(url))
        {
            errors.Add(
                $"{key} uses http://{url.Authority}, but '{target.Name}' is a live target (Mode live) and this is the Production environment: " +
                "the client secret and the access token go over HTTPS only. Use the partner's https:// token endpoint (listed in the manifest's " +
                "connect-src); in Production, http:// is allowed only to a loopback host (localhost, 127.0.0.0/8, ::1).");
        }

        if (!connectSrc.Allows(url))
        {
            errors.Add(
                $"{key} {shown} is not allowed by the manifest {manifestPath}: add that URL, or a folder URL ending in '/' above it, to " +
                "ui_extension.content_security_policy.connect-src (the client secret goes nowhere the manifest does not list), or correct the token URL.");
        }
    }

    private static IEnumerable<(string Field, string? Value)> Fields(TargetAuthOptions auth) =>
    [
        (nameof(auth.Token), auth.Token),
        (nameof(auth.Username), auth.Username),
        (nameof(auth.Password), auth.Password),
        (nameof(auth.TokenUrl), auth.TokenUrl),
        (nameof(auth.ClientId), auth.ClientId),
        (nameof(auth.ClientSecret), auth.ClientSecret),
        (nameof(auth.Scope), auth.Scope),
        (nameof(auth.ClientAuthentication), auth.ClientAuthentication),
    ];

    private static bool HasControl(string value) => value.Any(char.IsControl);

    private static string Printable(string? value) =>
        value is null ? "" : string.Concat(value.Take(40).Select(c => char.IsControl(c) ? '?' : c));

    /// <summary>As for <c>Url</c>: <c>localhost</c> and literal loopback addresses only.</summary>
    private static bool IsLoopback(Uri url) =>
        string.Equals(url.IdnHost, "localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(url.IdnHost, out var address) && IPAddress.IsLoopback(address));
}
