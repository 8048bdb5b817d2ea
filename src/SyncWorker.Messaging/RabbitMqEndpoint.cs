namespace SyncWorker.Messaging;

/// <summary>A parsed and checked <c>RabbitMq:Uri</c>. Its <see cref="ToString"/> never shows the password.</summary>
public sealed record RabbitMqEndpoint(string Host, int Port, string VirtualHost, string UserName, string Password, bool UseTls)
{
    /// <summary>
    /// How node certificates are checked when <see cref="UseTls"/> (<c>RabbitMq:CaCertificatePath</c>, read by
    /// <see cref="BrokerTls.Read"/>); the system's trusted roots unless set.
    /// </summary>
    public BrokerTls Tls { get; init; } = BrokerTls.SystemTrust;

    /// <summary>Parses <paramref name="value"/>; on failure <paramref name="error"/> says what is wrong without echoing a password.</summary>
    public static bool TryParse(string? value, out RabbitMqEndpoint? endpoint, out string? error)
    {
        endpoint = null;
        error = null;
        if (string.IsNullOrWhiteSpace(value))
        {
            error = "RabbitMq:Uri is empty.";
            return false;
        }

        if (!System.Uri.TryCreate(value.Trim(), UriKind.Absolute, out var uri))
        {
            error = "RabbitMq:Uri is not an absolute URI. Use amqp://user:password@host:5672/vhost (URL-encode special characters in the password).";
            return false;
        }

        if (uri.Scheme is not ("amqp" or "amqps"))
        {
            error = $"RabbitMq:Uri has scheme '{uri.Scheme}'; use amqp:// or amqps://, for example amqp://user:password@host:5672/vhost.";
            return false;
        }

        if (string.IsNullOrEmpty(uri.Host))
        {
            error = "RabbitMq:Uri has no host. Use amqp://user:password@host:5672/vhost.";
            return false;
        }

        var tls = uri.Scheme == "amqps";
        var port = uri.IsDefaultPort || uri.Port <= 0 ? (tls ? 5671 : 5672) : uri.Port;
        var path = uri.AbsolutePath.TrimStart('/');
        if (path.Contains('/', StringComparison.Ordinal))
        {
            error = "RabbitMq:Uri path must be a single segment, the virtual host; write the vhost '/' as %2F or leave the path empty.";
            return false;
        }

        var virtualHost = path.Length == 0 ? "/" : System.Uri.UnescapeDataString(path);
        string user = "guest", password = "guest";
        if (uri.UserInfo.Length > 0)
        {
            var parts = uri.UserInfo.Split(':', 2);
            user = System.Uri.UnescapeDataString(parts[0]);
            password = parts.Length > 1 ? System.Uri.UnescapeDataString(parts[1]) : "";
        }

        endpoint = new RabbitMqEndpoint(uri.Host, port, virtualHost, user, password, tls);
        return true;
    }

    /// <summary>The URI with the password replaced, safe for logs.</summary>
    public override string ToString() =>
        $"{(UseTls ? "amqps" : "amqp")}://{UserName}:***@{Host}:{Port}/{System.Uri.EscapeDataString(VirtualHost)}";
}
