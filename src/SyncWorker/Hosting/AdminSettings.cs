using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Hosting.Server.Features;
using SyncWorker.Messaging;

namespace SyncWorker.Hosting;

/// <summary>What an admin token may do: <c>read</c> (every <c>GET</c>) or <c>write</c> (also changes; a write token reads too).</summary>
public enum AdminScope
{
    /// <summary>Reads only.</summary>
    Read,

    /// <summary>Reads and changes.</summary>
    Write,
}

/// <summary>The answer to a request's <c>Authorization</c> header.</summary>
public enum AdminAccess
{
    /// <summary>A known token with the scope needed.</summary>
    Granted,

    /// <summary>No bearer token, or one that is not configured: 401.</summary>
    Unauthenticated,

    /// <summary>A read token on a change: 403.</summary>
    Forbidden,
}

/// <summary>
/// The admin endpoints' settings: their own listening addresses (<c>Admin:Urls</c>, default loopback only, never a port the
/// webhook listener uses) and the bearer tokens with their scopes (<c>Admin:Token</c>, a write token, and
/// <c>Admin:Tokens:N:Token</c> / <c>Scope</c> / <c>Name</c>). No token configured: no admin listener and no endpoint.
/// Tokens are kept as SHA-256 hashes and compared in constant time, every configured one each time.
/// </summary>
public sealed class AdminSettings
{
    /// <summary>Configuration key of the write token kept from before scoped tokens.</summary>
    public const string TokenKey = "Admin:Token";

    /// <summary>Configuration section of the scoped tokens.</summary>
    public const string TokensSection = "Admin:Tokens";

    /// <summary>Configuration key of the admin listener's addresses (separated by <c>;</c>, as <c>urls</c>).</summary>
    public const string UrlsKey = "Admin:Urls";

    /// <summary>Default of <see cref="UrlsKey"/>: loopback only.</summary>
    public const string DefaultUrls = "http://127.0.0.1:8081";

    /// <summary>The shortest token accepted.</summary>
    public const int MinimumTokenLength = 24;

    private readonly IReadOnlyList<(string Name, byte[] Hash, AdminScope Scope)> _tokens;

    private AdminSettings(IReadOnlyList<string> urls, IReadOnlySet<int> ports, IReadOnlyList<(string Name, byte[] Hash, AdminScope Scope)> tokens)
    {
        Urls = urls;
        Ports = ports;
        _tokens = tokens;
    }

    /// <summary>The admin listener's addresses.</summary>
    public IReadOnlyList<string> Urls { get; }

    /// <summary>The admin listener's ports: an admin endpoint answers only a connection made to one of them.</summary>
    public IReadOnlySet<int> Ports { get; }

    /// <summary>The configured tokens' names and scopes (never their values).</summary>
    public IReadOnlyList<(string Name, AdminScope Scope)> Tokens => _tokens.Select(t => (t.Name, t.Scope)).ToList();

    /// <summary>
    /// Reads the settings; null when no token is configured (the admin endpoints are off). <paramref name="webhookUrls"/>
    /// are the server's other addresses, whose ports the admin listener may not share.
    /// </summary>
    /// <exception cref="MessagingConfigurationException">A setting is invalid; the message names the key and the fix.</exception>
    public static AdminSettings? Read(IConfiguration configuration, IReadOnlyList<string> webhookUrls)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(webhookUrls);
        var tokens = new List<(string Name, byte[] Hash, AdminScope Scope)>();
        if (configuration[TokenKey] is { Length: > 0 } legacy)
        {
            tokens.Add((TokenKey, Hash(CheckToken(TokenKey, legacy)), AdminScope.Write));
        }

        foreach (var section in configuration.GetSection(TokensSection).GetChildren())
        {
            var key = $"{TokensSection}:{section.Key}";
            var token = section["Token"];
            if (string.IsNullOrEmpty(token))
            {
                throw new MessagingConfigurationException($"{key}:Token is not set: give each entry of {TokensSection} a token (for example `openssl rand -base64 32`), or remove the entry.");
            }

            var scope = section["Scope"]?.Trim() switch
            {
                var s when string.Equals(s, "read", StringComparison.OrdinalIgnoreCase) => AdminScope.Read,
                var s when string.Equals(s, "write", StringComparison.OrdinalIgnoreCase) => AdminScope.Write,
                null or "" => throw new MessagingConfigurationException($"{key}:Scope is not set: use `read` (status, orders, deliveries) or `write` (also changes)."),
                var other => throw new MessagingConfigurationException($"{key}:Scope '{other}' is not a scope: use `read` or `write`."),
            };
            var name = section["Name"]?.Trim() is { Length: > 0 } given ? given : key;
            tokens.Add((name, Hash(CheckToken($"{key}:Token", token)), scope));
        }

        for (var i = 0; i < tokens.Count; i++)
        {
            for (var j = 0; j < i; j++)
            {
                if (CryptographicOperations.FixedTimeEquals(tokens[i].Hash, tokens[j].Hash))
                {
                    throw new MessagingConfigurationException($"The admin tokens '{tokens[j].Name}' and '{tokens[i].Name}' are the same value: give each its own, so that the audit names who did what.");
                }
            }
        }

        if (tokens.Count == 0)
        {
            return null;
        }

        var urls = (configuration[UrlsKey] is { Length: > 0 } text ? text : DefaultUrls)
            .Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (urls.Length == 0)
        {
            throw new MessagingConfigurationException($"{UrlsKey} is empty: give the admin endpoints an address of their own, such as {DefaultUrls}.");
        }

        var webhookPorts = webhookUrls.Select(TryPort).Where(p => p is > 0).Select(p => p!.Value).ToHashSet();
        var ports = new HashSet<int>();
        foreach (var url in urls)
        {
            if (TryPort(url) is not { } port || !url.StartsWith("http", StringComparison.OrdinalIgnoreCase))
            {
                throw new MessagingConfigurationException($"{UrlsKey} '{url}' is not an address to listen on: use the form http://127.0.0.1:8081 (scheme, host, port).");
            }

            if (port == 0)
            {
                throw new MessagingConfigurationException($"{UrlsKey} '{url}' has no fixed port: name one (for example {DefaultUrls}), so that the admin endpoints are told apart from the webhook listener's.");
            }

            if (webhookPorts.Contains(port))
            {
                throw new MessagingConfigurationException(
                    $"{UrlsKey} '{url}' uses port {port}, which the webhook listener (urls / ASPNETCORE_HTTP_PORTS) uses too: give the admin endpoints a port of their own, reachable by operators and not by Stripe.");
            }

            ports.Add(port);
        }

        return new AdminSettings(urls, ports, tokens);
    }

    /// <summary>
    /// The server's other (webhook) addresses, as ASP.NET Core would bind them: <c>urls</c>, else <c>http_ports</c> and
    /// <c>https_ports</c>, else its default.
    /// </summary>
    public static IReadOnlyList<string> WebhookUrls(IWebHostBuilder webHost)
    {
        ArgumentNullException.ThrowIfNull(webHost);
        if (webHost.GetSetting(WebHostDefaults.ServerUrlsKey) is { Length: > 0 } urls)
        {
            return urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }

        var fromPorts = FromPorts(webHost.GetSetting(WebHostDefaults.HttpPortsKey), "http")
            .Concat(FromPorts(webHost.GetSetting(WebHostDefaults.HttpsPortsKey), "https"))
            .ToList();
        return fromPorts.Count > 0 ? fromPorts : ["http://localhost:5000"];
    }

    /// <summary>Whether <paramref name="authorization"/> (the header's value) carries a token allowed <paramref name="needed"/>; the token's name when it does.</summary>
    public AdminAccess Authorize(string? authorization, AdminScope needed, out string? name)
    {
        name = null;
        if (authorization is null || !authorization.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            return AdminAccess.Unauthenticated;
        }

        var presented = Hash(authorization["Bearer ".Length..].Trim());
        (string Name, AdminScope Scope)? match = null;
        foreach (var token in _tokens)
        {
            // Every token is compared, matched or not: the time taken says nothing about which one matched.
            if (CryptographicOperations.FixedTimeEquals(presented, token.Hash))
            {
                match = (token.Name, token.Scope);
            }
        }

        if (match is not { } found)
        {
            return AdminAccess.Unauthenticated;
        }

        name = found.Name;
        return needed == AdminScope.Write && found.Scope != AdminScope.Write ? AdminAccess.Forbidden : AdminAccess.Granted;
    }

    private static IEnumerable<string> FromPorts(string? ports, string scheme) =>
        (ports ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(port => $"{scheme}://*:{port}");

    private static int? TryPort(string url)
    {
        try
        {
            return BindingAddress.Parse(url) is { IsUnixPipe: false, IsNamedPipe: false } address ? address.Port : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static string CheckToken(string key, string token)
    {
        if (token.Length < MinimumTokenLength)
        {
            throw new MessagingConfigurationException(
                $"{key} is set but shorter than {MinimumTokenLength} characters: use a long random value (for example `openssl rand -base64 32`), or remove it to turn the admin endpoints off.");
        }

        if (token.Any(c => c <= ' ' || c > '~'))
        {
            throw new MessagingConfigurationException(
                $"{key} holds spaces, control or non-ASCII characters, which an HTTP Authorization header cannot carry: use a random printable value such as the output of `openssl rand -base64 32`.");
        }

        return token;
    }

    private static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));
}
