using System.Globalization;
using Microsoft.Extensions.Configuration;
using SyncWorker.Contracts;
using SyncWorker.Operations.Cli;

namespace SyncWorker.Operations.Status;

/// <summary>One configured target as <c>status</c> needs it: its name, what the worker's configuration says of it, and the
/// delays of its redelivery schedule (which name its delay queues).</summary>
/// <param name="Name"><c>Fulfillment:Targets:N:Name</c>.</param>
/// <param name="Mode"><c>Fulfillment:Targets:N:Mode</c> (<c>live</c> or <c>test</c>); null when not set.</param>
/// <param name="Format"><c>Fulfillment:Targets:N:Format</c>; <c>order</c> when not set, as the worker defaults it.</param>
/// <param name="DelaysSeconds">The distinct delays of its schedule, rounded to whole seconds as the forwarder rounds them.</param>
/// <param name="Jitter">Its <c>Redelivery:Jitter</c>: with the delays, which delay queues its deliveries can wait in.</param>
internal sealed record StatusTarget(string Name, string? Mode, string Format, IReadOnlyList<long> DelaysSeconds, double Jitter = 0.2)
{
    /// <summary>The shared delay queues the forwarder can use for this target (<see cref="Topology.DelayQueues"/>).</summary>
    public IEnumerable<string> DelayQueues() => Topology.DelayQueues([.. DelaysSeconds], Jitter);

    /// <summary>
    /// The per-target delay queues earlier versions may have left for this target (<see cref="Topology.TargetDelayQueues"/>),
    /// whose messages still come back to it.
    /// </summary>
    public IEnumerable<string> EarlierDelayQueues() => Topology.TargetDelayQueues(Name, [.. DelaysSeconds], Jitter);
}

/// <summary>
/// The configuration <c>status</c> reads: the targets (with their redelivery schedules), the worker base URLs
/// (<c>--worker</c>, else <c>Status:Workers:N</c>) and the bearer token of their admin endpoint (<c>Admin:Token</c>).
/// </summary>
/// <remarks>Not a record, so that no generated <c>ToString</c> can print the token.</remarks>
internal sealed class StatusSettings
{
    /// <summary>The configuration section listing worker base URLs: <c>Status:Workers:0</c>, <c>Status:Workers:1</c>, …</summary>
    public const string WorkersSection = "Status:Workers";

    /// <summary>The configuration key of the admin endpoints' bearer token, the same key the worker reads.</summary>
    public const string TokenKey = "Admin:Token";

    /// <summary>
    /// The forwarder's default redelivery schedule, when <c>Fulfillment:Targets:N:Redelivery:DelaysSeconds</c> is not set
    /// (shared with the forward stage through the contracts).
    /// </summary>
    public static readonly IReadOnlyList<double> DefaultDelaysSeconds = SyncWorker.Contracts.Topology.DefaultRedeliveryDelaysSeconds;

    /// <summary>The worker's default <c>Format</c> (<c>TargetOptions.OrderFormat</c>).</summary>
    public const string DefaultFormat = "order";

    private readonly string? _token;

    private StatusSettings(IReadOnlyList<StatusTarget> targets, IReadOnlyList<Uri> workers, string? token)
    {
        Targets = targets;
        Workers = workers;
        _token = token;
    }

    public IReadOnlyList<StatusTarget> Targets { get; }

    /// <summary>Worker base URLs, each ending in <c>/</c>, without duplicates; empty when none is configured.</summary>
    public IReadOnlyList<Uri> Workers { get; }

    /// <summary>The token (set whenever <see cref="Workers"/> is not empty). Never printed.</summary>
    public string Token => _token ?? throw new InvalidOperationException($"{TokenKey} is not set.");

    /// <summary>
    /// Reads and checks the settings: a malformed <c>--worker</c> is a usage error (exit 2); missing targets, a malformed
    /// <c>Status:Workers:N</c> or delay, or workers without <c>Admin:Token</c> a configuration error (exit 78).
    /// </summary>
    public static StatusSettings Read(CliSession session, IConfiguration configuration, IReadOnlyList<string> workerOptions)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(workerOptions);

        var workers = workerOptions.Count > 0
            ? workerOptions.Select(text => ParseWorker(text, "--worker", CliException.Usage)).ToList()
            : configuration.GetSection(WorkersSection).GetChildren()
                .Where(child => !string.IsNullOrWhiteSpace(child.Value))
                .Select(child => ParseWorker(child.Value!, $"{WorkersSection}:{child.Key}", CliException.Configuration))
                .ToList();
        workers = workers.Distinct().ToList();

        var names = session.ConfiguredTargets();
        var sections = configuration.GetSection(CliSession.TargetsSection).GetChildren().ToList();
        var targets = names.Select(name => ReadTarget(name, sections.First(s => string.Equals(s["Name"]?.Trim(), name, StringComparison.Ordinal))))
            .ToList();

        string? token = null;
        if (workers.Count > 0)
        {
            token = configuration[TokenKey];
            if (string.IsNullOrEmpty(token))
            {
                throw CliException.Configuration(
                    $"{TokenKey} is not set. status asks each worker's GET /admin/status with it as a bearer token: set {TokenKey} " +
                    "(environment variable Admin__Token) to the same value the workers run with.");
            }

            if (!IsHeaderSafe(token))
            {
                throw CliException.Configuration(
                    $"{TokenKey} holds spaces, control or non-ASCII characters, which an HTTP Authorization header cannot carry: " +
                    "use a random printable value such as the output of `openssl rand -base64 32`, on the workers and here.");
            }
        }

        return new StatusSettings(targets, workers, token);
    }

    /// <summary>Whether <paramref name="token"/> can travel in an HTTP Authorization header: printable ASCII, no space.</summary>
    internal static bool IsHeaderSafe(string token) => !token.Any(c => c <= ' ' || c > '~');

    /// <summary>A worker's URL as shown: scheme, host, port and path, never user info.</summary>
    public static string Display(Uri worker)
    {
        ArgumentNullException.ThrowIfNull(worker);
        return worker.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped).TrimEnd('/');
    }

    private static StatusTarget ReadTarget(string name, IConfigurationSection section)
    {
        var delays = section.GetSection("Redelivery:DelaysSeconds");
        var entries = delays.GetChildren().Where(child => child.Value is not null).ToList();
        IEnumerable<double> seconds = DefaultDelaysSeconds;
        if (entries.Count > 0)
        {
            seconds = entries.Select(entry =>
                double.TryParse(entry.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
                    ? value
                    : throw CliException.Configuration(
                        $"{delays.Path}:{entry.Key} is '{entry.Value}', not a number of seconds. Fix it as the worker needs it too."));
        }

        var jitterText = section["Redelivery:Jitter"];
        var jitter = 0.2;
        if (!string.IsNullOrEmpty(jitterText)
            && !(double.TryParse(jitterText, NumberStyles.Float, CultureInfo.InvariantCulture, out jitter) && jitter is >= 0 and <= 0.5))
        {
            throw CliException.Configuration(
                $"{section.Path}:Redelivery:Jitter is '{jitterText}', not a share between 0 and 0.5. Fix it as the worker needs it too.");
        }

        return new StatusTarget(
            name,
            NullIfEmpty(section["Mode"]),
            NullIfEmpty(section["Format"]) ?? DefaultFormat,
            seconds.Select(value => (long)Math.Round(value)).Distinct().ToList(),
            jitter);
    }

    /// <summary>A worker's base URL (http or https, no query), ending in <c>/</c>, without user info; <paramref name="problem"/> otherwise.</summary>
    internal static Uri ParseWorker(string text, string source, Func<string, CliException> problem)
    {
        var trimmed = text.Trim();
        if (!Uri.TryCreate(trimmed, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || !string.IsNullOrEmpty(uri.Query)
            || !string.IsNullOrEmpty(uri.Fragment))
        {
            throw problem(
                $"{source} takes a worker's base URL such as http://10.0.0.5:8080 (http or https, no query); " +
                $"'{Redact(trimmed)}' is not one.");
        }

        var builder = new UriBuilder(uri) { UserName = string.Empty, Password = string.Empty };
        if (!builder.Path.EndsWith('/'))
        {
            builder.Path += "/";
        }

        return builder.Uri;
    }

    /// <summary>Text as shown in a message: anything before an <c>@</c> of the authority is dropped (it could be a password).</summary>
    private static string Redact(string text)
    {
        var at = text.IndexOf('@', StringComparison.Ordinal);
        var schemeEnd = text.IndexOf("://", StringComparison.Ordinal);
        return at > 0 && schemeEnd >= 0 && at > schemeEnd ? text[..(schemeEnd + 3)] + "***" + text[at..] : text;
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
