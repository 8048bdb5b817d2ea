using System.Text.Json.Serialization;

namespace SyncWorker.Forwarding.Targets.Managed;

/// <summary>
/// A target's <c>auth</c> as the admin API shows it: the settings, and each secret by its last four characters
/// (<c>…abcd</c>; nothing of a value shorter than 12), never the secret.
/// </summary>
public sealed record TargetAuthView
{
    /// <summary><c>None</c>, <c>Bearer</c>, <c>Basic</c> or <c>OAuth2ClientCredentials</c>.</summary>
    public required string Type { get; init; }

    /// <summary>The bearer token's last four characters (<c>Bearer</c>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? TokenLast4 { get; init; }

    /// <summary>The user name (<c>Basic</c>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Username { get; init; }

    /// <summary>The password's last four characters (<c>Basic</c>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? PasswordLast4 { get; init; }

    /// <summary>The token endpoint (<c>OAuth2ClientCredentials</c>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? TokenUrl { get; init; }

    /// <summary>The client id (<c>OAuth2ClientCredentials</c>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ClientId { get; init; }

    /// <summary>The client secret's last four characters (<c>OAuth2ClientCredentials</c>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ClientSecretLast4 { get; init; }

    /// <summary>The scope asked for (<c>OAuth2ClientCredentials</c>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Scope { get; init; }

    /// <summary><c>Basic</c> or <c>Body</c> (<c>OAuth2ClientCredentials</c>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ClientAuthentication { get; init; }
}

/// <summary>The secrets of a target's <c>Auth</c> as the store keeps them (sealed with the other secrets).</summary>
internal sealed class TargetAuthSecrets
{
    public string? Token { get; set; }

    public string? Password { get; set; }

    public string? ClientSecret { get; set; }
}

/// <summary>
/// How <see cref="ManagedTargets"/> splits a target's <c>Auth</c> into settings (the stored definition, without
/// secrets) and secrets (sealed), and puts them together again. A secret left out of a <c>PUT</c> keeps the stored value
/// of the same field; secrets the new type does not use are dropped.
/// </summary>
internal static class ManagedTargetAuth
{
    /// <summary>The secrets to store for <paramref name="given"/>: each given, else <paramref name="current"/>'s; only those its type uses.</summary>
    public static TargetAuthSecrets? Secrets(TargetAuthOptions? given, TargetAuthSecrets? current)
    {
        var kind = given?.Kind;
        if (given is null || kind is null or TargetAuthOptions.None)
        {
            return null;
        }

        return new TargetAuthSecrets
        {
            Token = kind == TargetAuthOptions.Bearer ? given.Token ?? current?.Token : null,
            Password = kind == TargetAuthOptions.Basic ? given.Password ?? current?.Password : null,
            ClientSecret = kind == TargetAuthOptions.OAuth2ClientCredentials ? given.ClientSecret ?? current?.ClientSecret : null,
        };
    }

    /// <summary>
    /// <paramref name="given"/>'s settings with <paramref name="secrets"/> in the fields its type uses (a secret in a field
    /// it does not use is kept as given, for validation to refuse).
    /// </summary>
    public static TargetAuthOptions Compile(TargetAuthOptions? given, TargetAuthSecrets? secrets)
    {
        if (given is null)
        {
            return new TargetAuthOptions();
        }

        var kind = given.Kind;
        return new TargetAuthOptions
        {
            Type = kind ?? given.Type,
            Token = kind == TargetAuthOptions.Bearer ? secrets?.Token : given.Token,
            Username = given.Username,
            Password = kind == TargetAuthOptions.Basic ? secrets?.Password : given.Password,
            TokenUrl = given.TokenUrl,
            ClientId = given.ClientId,
            ClientSecret = kind == TargetAuthOptions.OAuth2ClientCredentials ? secrets?.ClientSecret : given.ClientSecret,
            Scope = given.Scope,
            ClientAuthentication = given.ClientAuthentication,
        };
    }

    /// <summary>A copy of <paramref name="auth"/> without its secrets, for the stored definition.</summary>
    public static TargetAuthOptions WithoutSecrets(TargetAuthOptions? auth) => auth is null
        ? new TargetAuthOptions()
        : new TargetAuthOptions
        {
            Type = auth.Kind ?? auth.Type,
            Username = auth.Username,
            TokenUrl = auth.TokenUrl,
            ClientId = auth.ClientId,
            Scope = auth.Scope,
            ClientAuthentication = auth.ClientAuthentication,
        };

    /// <summary>What the API shows of <paramref name="auth"/>.</summary>
    public static TargetAuthView View(TargetAuthOptions? auth) => auth is null || !auth.IsEnabled
        ? new TargetAuthView { Type = TargetAuthOptions.None }
        : new TargetAuthView
        {
            Type = auth.Kind!,
            TokenLast4 = auth.Token is null ? null : ManagedTargets.Last4(auth.Token),
            Username = auth.Username,
            PasswordLast4 = auth.Password is null ? null : ManagedTargets.Last4(auth.Password),
            TokenUrl = auth.TokenUrl,
            ClientId = auth.ClientId,
            ClientSecretLast4 = auth.ClientSecret is null ? null : ManagedTargets.Last4(auth.ClientSecret),
            Scope = auth.Scope,
            ClientAuthentication = auth.Kind == TargetAuthOptions.OAuth2ClientCredentials
                ? (auth.ClientSecretInBody ? TargetAuthOptions.ClientAuthenticationBody : TargetAuthOptions.ClientAuthenticationBasic)
                : null,
        };
}
