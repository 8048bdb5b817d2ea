namespace SyncWorker.Messaging;

/// <summary>Which MassTransit transport carries events between the stages.</summary>
public enum TransportKind
{
    /// <summary>RabbitMQ when <c>RabbitMq:Uri</c> is set, otherwise in-memory (refused in Production).</summary>
    Auto,

    /// <summary>RabbitMQ; <c>RabbitMq:Uri</c> is required.</summary>
    RabbitMq,

    /// <summary>MassTransit's in-memory transport: nothing survives a restart. For trying SyncWorker out only.</summary>
    InMemory,
}

/// <summary>Configuration section <c>Messaging</c>.</summary>
public sealed class MessagingOptions
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Messaging";

    /// <summary>
    /// <c>Messaging:Transport</c>: <c>Auto</c> (default), <c>RabbitMq</c> or <c>InMemory</c>. In the Production
    /// environment <c>Auto</c> without <c>RabbitMq:Uri</c> is a start-up error: choose <c>InMemory</c> explicitly
    /// if you really want events that do not survive a restart.
    /// </summary>
    public TransportKind Transport { get; set; } = TransportKind.Auto;
}

/// <summary>Configuration section <c>RabbitMq</c>.</summary>
public sealed class RabbitMqOptions
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "RabbitMq";

    /// <summary>
    /// <c>RabbitMq:Uri</c>: <c>amqp://user:password@host:5672/vhost</c> (or <c>amqps://</c>). The virtual host is
    /// the path, URL-encoded (<c>%2F</c> for <c>/</c>; an empty path means <c>/</c>). No default.
    /// </summary>
    public string? Uri { get; set; }

    /// <summary>
    /// <c>RabbitMq:ConnectionName</c>: the name shown for SyncWorker's connections in the management UI.
    /// Default <c>syncworker</c>.
    /// </summary>
    public string ConnectionName { get; set; } = "syncworker";
}
