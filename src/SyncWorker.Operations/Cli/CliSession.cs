using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using RabbitMQ.Client;
using Spectre.Console;
using SyncWorker.Messaging;

namespace SyncWorker.Operations.Cli;

/// <summary>
/// What every verb shares: the app's configuration (read lazily, so a usage error is reported before a missing
/// setting), the two output streams and the clock.
/// </summary>
internal sealed class CliSession(IConfiguration configuration, IAnsiConsole console, TextWriter error, TimeProvider timeProvider)
{
    /// <summary>The configuration key of the broker URI.</summary>
    public const string RabbitMqUriKey = "RabbitMq:Uri";

    /// <summary>The configuration section listing targets; each entry's <c>Name</c> is a target name.</summary>
    public const string TargetsSection = "Fulfillment:Targets";

    /// <summary>camelCase, indented; not HTML-escaped, since the document goes to a terminal or a pipe, not a web page.</summary>
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Standard output: tables and progress, or the one JSON document.</summary>
    public IAnsiConsole Console { get; } = console;

    /// <summary>Standard error: errors, and progress lines when standard output carries JSON.</summary>
    public TextWriter Error { get; } = error;

    public TimeProvider TimeProvider { get; } = timeProvider;

    /// <summary>The configured target names, in configuration order.</summary>
    public IReadOnlyList<string> ConfiguredTargets()
    {
        var names = configuration.GetSection(TargetsSection).GetChildren()
            .Select(child => child["Name"]?.Trim())
            .OfType<string>()
            .Where(name => name.Length > 0)
            .Distinct(StringComparer.Ordinal)
            .ToList();
        if (names.Count == 0)
        {
            throw CliException.Configuration(
                "No fulfillment targets are configured: set Fulfillment:Targets:0:Name (environment variable " +
                "Fulfillment__Targets__0__Name) in the same configuration the worker runs with.");
        }

        return names;
    }

    /// <summary>The one target named, or every configured target when <paramref name="target"/> is null.</summary>
    public IReadOnlyList<string> ResolveTargets(string? target)
    {
        var configured = ConfiguredTargets();
        if (target is null)
        {
            return configured;
        }

        if (!configured.Contains(target, StringComparer.Ordinal))
        {
            throw CliException.Usage(
                $"Unknown target '{target}'. Configured targets (Fulfillment:Targets:N:Name): {string.Join(", ", configured)}.");
        }

        return [target];
    }

    /// <summary>
    /// The parsed <c>RabbitMq:Uri</c> with the TLS trust of <c>RabbitMq:CaCertificatePath</c>; exit 78 naming the key when
    /// either is missing or invalid (never echoing a password).
    /// </summary>
    public RabbitMqEndpoint Endpoint()
    {
        var text = configuration[RabbitMqUriKey];
        if (string.IsNullOrWhiteSpace(text))
        {
            throw CliException.Configuration(
                $"{RabbitMqUriKey} is not set. These commands work on RabbitMQ directly: set {RabbitMqUriKey} " +
                "(environment variable RabbitMq__Uri=amqp://user:password@host:5672/vhost) to the broker the worker uses.");
        }

        if (!Messaging.RabbitMqEndpoint.TryParse(text, out var endpoint, out var problem))
        {
            throw CliException.Configuration(problem ?? $"{RabbitMqUriKey} is invalid.");
        }

        try
        {
            // With amqps://, each node's certificate is checked against that node's name, trusting RabbitMq:CaCertificatePath.
            return endpoint! with { Tls = BrokerTls.Read(configuration, endpoint) };
        }
        catch (MessagingConfigurationException exception)
        {
            throw CliException.Configuration(exception.Message);
        }
    }

    /// <summary><c>RabbitMq:QueueType</c>, for the queues a verb declares (pause markers).</summary>
    public QueueType QueueType()
    {
        try
        {
            return RabbitMqClusterSettings.ReadQueueType(configuration);
        }
        catch (MessagingConfigurationException exception)
        {
            throw CliException.Configuration(exception.Message);
        }
    }

    /// <summary>
    /// Opens a connection to any node of <c>RabbitMq:Uri</c> and <c>RabbitMq:Hosts</c> (no automatic recovery: a verb that
    /// loses the broker stops and says so).
    /// </summary>
    public async Task<IConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        var endpoint = Endpoint();
        IReadOnlyList<BrokerNode> nodes;
        try
        {
            nodes = RabbitMqClusterSettings.ReadNodes(configuration, endpoint);
        }
        catch (MessagingConfigurationException exception)
        {
            throw CliException.Configuration(exception.Message);
        }

        try
        {
            return await RabbitMqConnections.OpenAsync(
                endpoint, nodes, "syncworker-operations", recover: false, TimeSpan.FromSeconds(10), cancellationToken);
        }
        catch (Exception exception) when (exception is RabbitMQ.Client.Exceptions.BrokerUnreachableException or IOException)
        {
            var reason = exception;
            while (reason.InnerException is not null)
            {
                reason = reason.InnerException;
            }

            throw new CliException(
                $"Could not connect to RabbitMQ at {endpoint}{(nodes.Count > 1 ? " or any of " + string.Join(", ", nodes.Skip(1)) : "")} " +
                $"({reason.Message}). Check {RabbitMqUriKey} (and {RabbitMqClusterSettings.HostsKey}) and that the broker is running.",
                exception);
        }
    }

    /// <summary>Writes <paramref name="document"/> as the only content of standard output.</summary>
    public void WriteJson<T>(T document)
    {
        var writer = Console.Profile.Out.Writer;
        writer.Write(JsonSerializer.Serialize(document, JsonOptions));
        writer.Write('\n');
        writer.Flush();
    }

    /// <summary>An informational line: to standard output, or to standard error when standard output carries JSON.</summary>
    public void Note(string text, bool json)
    {
        if (json)
        {
            Error.WriteLine(text);
        }
        else
        {
            Console.WriteLine(text);
        }
    }
}
