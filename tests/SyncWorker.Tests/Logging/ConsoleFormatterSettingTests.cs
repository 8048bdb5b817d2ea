using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using SyncWorker.Hosting;
using SyncWorker.Messaging;

namespace SyncWorker.Tests.Logging;

/// <summary><c>Logging:Console:FormatterName</c> and the formatter options SyncWorker insists on.</summary>
public sealed class ConsoleFormatterSettingTests
{
    [TestCase(null, "simple")]
    [TestCase("", "simple")]
    [TestCase("simple", "simple")]
    [TestCase("json", "json")]
    [TestCase(" JSON ", "json")]
    public void The_formatter_is_simple_by_default_or_json(string? configured, string expected)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { [LoggingExtensions.FormatterNameKey] = configured })
            .Build();

        Assert.That(LoggingExtensions.FormatterName(configuration), Is.EqualTo(expected));
    }

    [Test]
    public void An_unknown_formatter_stops_the_start_naming_the_key()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { [LoggingExtensions.FormatterNameKey] = "xml" })
            .Build();

        var error = Assert.Throws<MessagingConfigurationException>(() => LoggingExtensions.FormatterName(configuration));
        Assert.That(error!.Message, Does.Contain("Logging:Console:FormatterName").And.Contain("'xml'").And.Contain("json"));
    }

    [Test]
    public void Both_formatters_write_scopes_even_when_configuration_turns_them_off_and_json_stamps_utc_iso_times()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [LoggingExtensions.FormatterNameKey] = "Json",
            ["Logging:Console:FormatterOptions:IncludeScopes"] = "false",
            ["Logging:Console:FormatterOptions:UseUtcTimestamp"] = "false",
        });
        builder.AddSyncWorkerLogging();
        using var app = builder.Build();
        var services = app.Services;

        var json = services.GetRequiredService<IOptionsMonitor<JsonConsoleFormatterOptions>>().CurrentValue;
        Assert.Multiple(() =>
        {
            Assert.That(services.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>().CurrentValue.FormatterName, Is.EqualTo(ConsoleFormatterNames.Json));
            Assert.That(services.GetRequiredService<IOptionsMonitor<SimpleConsoleFormatterOptions>>().CurrentValue.IncludeScopes, Is.True);
            Assert.That(json.IncludeScopes, Is.True);
            Assert.That(json.UseUtcTimestamp, Is.True);
            Assert.That(new DateTimeOffset(2026, 7, 29, 13, 5, 9, 42, TimeSpan.Zero).ToString(json.TimestampFormat, System.Globalization.CultureInfo.InvariantCulture),
                Is.EqualTo("2026-07-29T13:05:09.042Z"));
        });
    }
}
