using System.Text.Json.Serialization;

namespace SyncWorker.Forwarding.Targets;

/// <summary>
/// <c>Fulfillment:Targets:N:Auth:*</c> (<c>auth</c> in the admin API): how requests authenticate to a partner's own API,
/// on top of the Standard Webhooks signature every request carries whatever this says. The secrets (<c>Token</c>,
/// <c>Password</c>, <c>ClientSecret</c>) are never logged nor shown again by the admin API.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class TargetAuthOptions
{
    /// <summary>No <c>Authorization</c> header: the Standard Webhooks signature only.</summary>
    public const string None = "None";

    /// <summary><c>Authorization: Bearer {Token}</c>.</summary>
    public const string Bearer = "Bearer";

    /// <summary><c>Authorization: Basic base64({Username}:{Password})</c> (RFC 7617).</summary>
    public const string Basic = "Basic";

    /// <summary>An access token from the OAuth 2.0 client credentials grant (RFC 6749 §4.4), sent as a bearer token.</summary>
    public const string OAuth2ClientCredentials = "OAuth2ClientCredentials";

    /// <summary><see cref="ClientAuthentication"/>: the client's id and secret in an HTTP Basic header (RFC 6749 §2.3.1's recommendation).</summary>
    public const string ClientAuthenticationBasic = "Basic";

    /// <summary><see cref="ClientAuthentication"/>: <c>client_id</c> and <c>client_secret</c> in the form body.</summary>
    public const string ClientAuthenticationBody = "Body";

    /// <summary>The types, as they are spelled in configuration.</summary>
    public static readonly IReadOnlyList<string> Types = [None, Bearer, Basic, OAuth2ClientCredentials];

    /// <summary><c>Type</c>: <c>None</c> (default), <c>Bearer</c>, <c>Basic</c> or <c>OAuth2ClientCredentials</c>.</summary>
    public string Type { get; set; } = None;

    /// <summary><c>Token</c>: the bearer token of <c>Type: Bearer</c>. Secret.</summary>
    public string? Token { get; set; }

    /// <summary><c>Username</c>: of <c>Type: Basic</c>; may not contain <c>:</c>.</summary>
    public string? Username { get; set; }

    /// <summary><c>Password</c>: of <c>Type: Basic</c>. Secret.</summary>
    public string? Password { get; set; }

    /// <summary>
    /// <c>TokenUrl</c>: the token endpoint of <c>Type: OAuth2ClientCredentials</c>. Must be allowed by the manifest's
    /// connect-src, and https for a live target in the Production environment (as <c>Url</c>).
    /// </summary>
    public string? TokenUrl { get; set; }

    /// <summary><c>ClientId</c>: of <c>Type: OAuth2ClientCredentials</c>.</summary>
    public string? ClientId { get; set; }

    /// <summary><c>ClientSecret</c>: of <c>Type: OAuth2ClientCredentials</c>. Secret.</summary>
    public string? ClientSecret { get; set; }

    /// <summary><c>Scope</c>: the <c>scope</c> asked for (space-separated), of <c>Type: OAuth2ClientCredentials</c>; none by default.</summary>
    public string? Scope { get; set; }

    /// <summary>
    /// <c>ClientAuthentication</c>: how the client authenticates to the token endpoint: <c>Basic</c> (default; an HTTP Basic
    /// header, as RFC 6749 recommends) or <c>Body</c> (<c>client_id</c> and <c>client_secret</c> in the form).
    /// </summary>
    public string? ClientAuthentication { get; set; }

    /// <summary><see cref="Type"/> in its configured spelling (case-insensitive match), or null when it is none of <see cref="Types"/>.</summary>
    [JsonIgnore]
    public string? Kind => Types.FirstOrDefault(type => string.Equals(type, Type?.Trim(), StringComparison.OrdinalIgnoreCase));

    /// <summary>True when requests carry an <c>Authorization</c> header.</summary>
    [JsonIgnore]
    public bool IsEnabled => Kind is not (null or None);

    /// <summary>True when the client authenticates to the token endpoint in the form body.</summary>
    [JsonIgnore]
    public bool ClientSecretInBody => string.Equals(ClientAuthentication?.Trim(), ClientAuthenticationBody, StringComparison.OrdinalIgnoreCase);
}
