using Microsoft.Extensions.Logging.Console;
using SyncWorker.Messaging;

namespace SyncWorker.Hosting;

/// <summary>
/// Console logging: the formatter is chosen with <c>Logging:Console:FormatterName</c>, <c>simple</c> (default, for people)
/// or <c>json</c> (one JSON object per line, for log collectors). Both always write scopes, which carry the event id,
/// account, target, delivery and redelivery of each line; the JSON formatter stamps every line with a UTC ISO 8601 time.
/// See LOGGING.md next to this file.
/// </summary>
public static class LoggingExtensions
{
    /// <summary>Configuration key of the console formatter.</summary>
    public const string FormatterNameKey = "Logging:Console:FormatterName";

    /// <summary>Configuration key of the JSON formatter's timestamp format.</summary>
    public const string TimestampFormatKey = "Logging:Console:FormatterOptions:TimestampFormat";

    /// <summary>The JSON formatter's default timestamp: ISO 8601, UTC, milliseconds.</summary>
    public const string IsoUtcTimestampFormat = "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fff'Z'";

    /// <summary>
    /// Checks <c>Logging:Console:FormatterName</c> now (the console logger would silently fall back to <c>simple</c> on an
    /// unknown name) and makes both formatters include scopes; the JSON formatter writes UTC timestamps,
    /// <see cref="IsoUtcTimestampFormat"/> unless <c>Logging:Console:FormatterOptions:TimestampFormat</c> is set.
    /// </summary>
    /// <exception cref="MessagingConfigurationException">The formatter name is neither <c>simple</c> nor <c>json</c>.</exception>
    public static IHostApplicationBuilder AddSyncWorkerLogging(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var formatter = FormatterName(builder.Configuration);
        var timestampFormat = builder.Configuration[TimestampFormatKey] is { Length: > 0 } configured ? configured : IsoUtcTimestampFormat;

        // These run after the console logger's own binding of Logging:Console, so they win over it.
        builder.Services.Configure<ConsoleLoggerOptions>(options => options.FormatterName = formatter);
        builder.Services.Configure<SimpleConsoleFormatterOptions>(options => options.IncludeScopes = true);
        builder.Services.Configure<JsonConsoleFormatterOptions>(options =>
        {
            options.IncludeScopes = true;
            options.UseUtcTimestamp = true;
            options.TimestampFormat = timestampFormat;
        });
        return builder;
    }

    /// <summary>The configured formatter, <see cref="ConsoleFormatterNames.Simple"/> when none is set.</summary>
    /// <exception cref="MessagingConfigurationException">The name is neither <c>simple</c> nor <c>json</c>.</exception>
    public static string FormatterName(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var text = configuration[FormatterNameKey]?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            return ConsoleFormatterNames.Simple;
        }

        return text.ToUpperInvariant() switch
        {
            "SIMPLE" => ConsoleFormatterNames.Simple,
            "JSON" => ConsoleFormatterNames.Json,
            _ => throw new MessagingConfigurationException(
                $"{FormatterNameKey} is '{text}'; use simple (default, readable) or json (one JSON object per line, for log collectors)."),
        };
    }
}
