using System.Collections;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace SyncWorker.Tests.Logging;

/// <summary>
/// Everything the worker logs, at every level and in every category: each entry's formatted message, its state and scope
/// key/values, its exception, and the line the configured console formatter (simple or json) writes for it.
/// </summary>
internal sealed class CapturedLogs
{
    private readonly ConcurrentQueue<CapturedEntry> _entries = new();

    /// <summary>The console formatter the app's configuration selected (set when the first entry is written).</summary>
    public string? FormatterName { get; set; }

    public IReadOnlyList<CapturedEntry> Entries => [.. _entries];

    public void Add(CapturedEntry entry) => _entries.Enqueue(entry);

    /// <summary>
    /// <c>Logging:LogLevel</c> settings that open every category to Trace, the framework's included. The one category
    /// they leave alone is <c>System.Net.Http.HttpClient</c>: appsettings.json caps it on purpose (see LOGGING.md), and
    /// the test proves the cap is needed and in place.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string?> EverythingAtTrace = new Dictionary<string, string?>
    {
        ["Logging:LogLevel:Default"] = "Trace",
        ["Logging:LogLevel:Microsoft"] = "Trace",
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace",
        ["Logging:LogLevel:Microsoft.Extensions"] = "Trace",
        ["Logging:LogLevel:MassTransit"] = "Trace",
        ["Logging:LogLevel:Polly"] = "Trace",
        ["Logging:LogLevel:System"] = "Trace",
        ["Logging:LogLevel:System.Net.Http"] = "Trace",
        ["Logging:LogLevel:SyncWorker"] = "Trace",
    };

    /// <summary>
    /// Adds the capturing provider, through the configure callback of <see cref="WorkerHost.StartAsync"/>: it runs after
    /// WorkerHost cleared the default providers, so this one stays. Levels come from configuration, as in production.
    /// </summary>
    public void AddTo(WebApplicationBuilder builder) =>
        builder.Services.AddSingleton<ILoggerProvider>(services => new CapturingLoggerProvider(
            this,
            services.GetServices<ConsoleFormatter>().ToList(),
            services.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>()));
}

/// <summary>One log entry, rendered.</summary>
internal sealed record CapturedEntry(
    string Category,
    LogLevel Level,
    EventId EventId,
    string Message,
    IReadOnlyList<KeyValuePair<string, string>> State,
    IReadOnlyList<CapturedScope> Scopes,
    string? Exception,
    string Formatted)
{
    /// <summary>Every rendering of the entry, for searching: message, state, scopes, exception and the formatter's line.</summary>
    public string Text { get; } = Render(Category, Message, State, Scopes, Exception, Formatted);

    /// <summary>The value of <paramref name="key"/> in the innermost scope that has it, or null.</summary>
    public string? ScopeValue(string key) =>
        Scopes.Reverse().SelectMany(scope => scope.Values).Where(pair => pair.Key == key).Select(pair => pair.Value).FirstOrDefault();

    private static string Render(string category, string message, IReadOnlyList<KeyValuePair<string, string>> state,
        IReadOnlyList<CapturedScope> scopes, string? exception, string formatted)
    {
        var text = new StringBuilder().Append(category).Append('\n').Append(message).Append('\n');
        foreach (var (key, value) in state)
        {
            text.Append(key).Append('=').Append(value).Append('\n');
        }

        foreach (var scope in scopes)
        {
            text.Append("scope ").Append(scope.Text).Append('\n');
            foreach (var (key, value) in scope.Values)
            {
                text.Append(key).Append('=').Append(value).Append('\n');
            }
        }

        text.Append(exception).Append('\n').Append(formatted).Append('\n');
        // The JSON formatter escapes characters such as '+' (\u002B): search its strings unescaped as well.
        foreach (var line in formatted.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.TrimStart().StartsWith('{'))
            {
                try
                {
                    using var json = JsonDocument.Parse(line);
                    AppendStrings(json.RootElement, text);
                }
                catch (JsonException)
                {
                    // Not JSON (the simple formatter): already searched as written.
                }
            }
        }

        return text.ToString();
    }

    private static void AppendStrings(JsonElement element, StringBuilder text)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    text.Append(property.Name).Append('\n');
                    AppendStrings(property.Value, text);
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    AppendStrings(item, text);
                }

                break;
            case JsonValueKind.String:
                text.Append(element.GetString()).Append('\n');
                break;
            default:
                text.Append(element.GetRawText()).Append('\n');
                break;
        }
    }
}

/// <summary>One scope around an entry: its text (what the simple formatter writes) and its key/values.</summary>
internal sealed record CapturedScope(string Text, IReadOnlyList<KeyValuePair<string, string>> Values);

/// <summary>Writes every entry to a <see cref="CapturedLogs"/>.</summary>
internal sealed class CapturingLoggerProvider(
    CapturedLogs sink,
    IReadOnlyList<ConsoleFormatter> formatters,
    IOptionsMonitor<ConsoleLoggerOptions> consoleOptions) : ILoggerProvider, ISupportExternalScope
{
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public ILogger CreateLogger(string categoryName) => new CapturingLogger(categoryName, this);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
    }

    private void Write<TState>(string category, LogLevel level, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var scopes = new List<CapturedScope>();
        _scopes.ForEachScope((scope, list) => list.Add(new CapturedScope(scope?.ToString() ?? "", Pairs(scope))), scopes);

        var name = consoleOptions.CurrentValue.FormatterName ?? ConsoleFormatterNames.Simple;
        sink.FormatterName = name;
        var console = formatters.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase))
            ?? throw new InvalidOperationException($"No console formatter named '{name}' is registered.");
        using var line = new StringWriter(CultureInfo.InvariantCulture);
        console.Write(new LogEntry<TState>(level, category, eventId, state, exception, formatter), _scopes, line);

        sink.Add(new CapturedEntry(
            category,
            level,
            eventId,
            formatter(state, exception),
            Pairs(state),
            scopes,
            exception?.ToString(),
            line.ToString()));
    }

    private static List<KeyValuePair<string, string>> Pairs(object? state) =>
        state is IEnumerable<KeyValuePair<string, object?>> pairs
            ? [.. pairs.Select(pair => KeyValuePair.Create(pair.Key, Value(pair.Value)))]
            : [];

    /// <summary>Any value as text; bytes as UTF-8, base64 and hex, so no encoding hides a secret.</summary>
    private static string Value(object? value) => value switch
    {
        null => "",
        string text => text,
        byte[] bytes => string.Join(' ', Encoding.UTF8.GetString(bytes), Convert.ToBase64String(bytes), Convert.ToHexString(bytes)),
        IEnumerable<KeyValuePair<string, object?>> pairs => string.Join(' ', pairs.Select(pair => pair.Key + "=" + Value(pair.Value))),
        IEnumerable items => string.Join(' ', items.Cast<object?>().Select(Value)),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private sealed class CapturingLogger(string category, CapturingLoggerProvider provider) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => provider._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                provider.Write(category, logLevel, eventId, state, exception, formatter);
            }
        }
    }
}
