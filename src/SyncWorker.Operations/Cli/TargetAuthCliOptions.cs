using System.CommandLine;
using System.Text.Json.Nodes;

namespace SyncWorker.Operations.Cli;

/// <summary>
/// The <c>--auth-*</c> options of <c>targets add</c> and <c>targets update</c>: the target's <c>auth</c> (how requests
/// authenticate to the partner's API besides the signature).
/// </summary>
internal sealed class TargetAuthCliOptions
{
    private static readonly Dictionary<string, string> TypeNames = new(StringComparer.Ordinal)
    {
        ["none"] = "None",
        ["bearer"] = "Bearer",
        ["basic"] = "Basic",
        ["oauth2-client-credentials"] = "OAuth2ClientCredentials",
    };

    public Option<string?> Type { get; } = new Option<string?>("--auth-type")
    {
        Description = "How requests authenticate to the partner's API besides the signature: none (default), bearer (--auth-token), " +
            "basic (--auth-username, --auth-password) or oauth2-client-credentials (--auth-token-url, --auth-client-id, --auth-client-secret, [--auth-scope]).",
    }.AcceptOnlyFromAmong([.. TypeNames.Keys]);

    public Option<string?> Token { get; } = new("--auth-token") { Description = "The bearer token (secret: stored encrypted, shown by its last four characters only)." };

    public Option<string?> Username { get; } = new("--auth-username") { Description = "The HTTP Basic user name." };

    public Option<string?> Password { get; } = new("--auth-password") { Description = "The HTTP Basic password (secret)." };

    public Option<string?> TokenUrl { get; } = new("--auth-token-url") { Description = "The OAuth2 token endpoint; the manifest's connect-src must allow it; https for a live target in Production." };

    public Option<string?> ClientId { get; } = new("--auth-client-id") { Description = "The OAuth2 client id." };

    public Option<string?> ClientSecret { get; } = new("--auth-client-secret") { Description = "The OAuth2 client secret (secret)." };

    public Option<string?> Scope { get; } = new("--auth-scope") { Description = "The OAuth2 scope to ask for (space-separated); default none." };

    public Option<string?> ClientAuthentication { get; } = new Option<string?>("--auth-client-authentication")
    {
        Description = "How the client authenticates to the token endpoint: basic (default; an HTTP Basic header) or body (in the form).",
    }.AcceptOnlyFromAmong("basic", "body");

    /// <summary>Adds the options to <paramref name="command"/>; <paramref name="updating"/> adds what a secret left out means.</summary>
    public void AddTo(Command command, bool updating)
    {
        foreach (var secret in new[] { Token, Password, ClientSecret })
        {
            secret.Description += updating ? " Left out: the stored value is kept (with the same --auth-type)." : "";
        }

        foreach (var option in new Option[] { Type, Token, Username, Password, TokenUrl, ClientId, ClientSecret, Scope, ClientAuthentication })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>What was given; null when no <c>--auth-*</c> option was.</summary>
    public TargetAuthArguments? Read(ParseResult result)
    {
        var given = new TargetAuthArguments
        {
            Type = result.GetValue(Type),
            Token = result.GetValue(Token),
            Username = result.GetValue(Username),
            Password = result.GetValue(Password),
            TokenUrl = result.GetValue(TokenUrl),
            ClientId = result.GetValue(ClientId),
            ClientSecret = result.GetValue(ClientSecret),
            Scope = result.GetValue(Scope),
            ClientAuthentication = result.GetValue(ClientAuthentication),
        };
        return given.IsEmpty ? null : given;
    }

    /// <summary>The API's name of a <c>--auth-type</c> value.</summary>
    internal static string TypeName(string cli) => TypeNames.TryGetValue(cli, out var name) ? name : cli;
}

/// <summary>The <c>--auth-*</c> values given.</summary>
/// <remarks>Not a record, so that no generated <c>ToString</c> can print a secret.</remarks>
internal sealed class TargetAuthArguments
{
    public string? Type { get; init; }

    public string? Token { get; init; }

    public string? Username { get; init; }

    public string? Password { get; init; }

    public string? TokenUrl { get; init; }

    public string? ClientId { get; init; }

    public string? ClientSecret { get; init; }

    public string? Scope { get; init; }

    public string? ClientAuthentication { get; init; }

    public bool IsEmpty => new[] { Type, Token, Username, Password, TokenUrl, ClientId, ClientSecret, Scope, ClientAuthentication }.All(value => value is null);

    /// <summary>The API's <c>auth</c> object; a usage error when fields are given without <c>--auth-type</c>.</summary>
    public JsonObject Json()
    {
        if (Type is null)
        {
            throw CliException.Usage("--auth-… options need --auth-type (none, bearer, basic or oauth2-client-credentials).");
        }

        var auth = new JsonObject { ["type"] = TargetAuthCliOptions.TypeName(Type) };
        foreach (var (name, value) in new[]
        {
            ("token", Token), ("username", Username), ("password", Password), ("tokenUrl", TokenUrl), ("clientId", ClientId),
            ("clientSecret", ClientSecret), ("scope", Scope),
            ("clientAuthentication", ClientAuthentication is null ? null : ClientAuthentication == "body" ? "Body" : "Basic"),
        })
        {
            if (value is not null)
            {
                auth[name] = value;
            }
        }

        return auth;
    }
}
