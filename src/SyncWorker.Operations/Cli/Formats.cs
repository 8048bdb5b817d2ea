using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace SyncWorker.Operations.Cli;

/// <summary>Small text formats for tables.</summary>
internal static class Formats
{
    /// <summary>A table cell shown literally (values from the broker are never parsed as markup).</summary>
    public static IRenderable Cell(string? value) => new Text(value ?? "-");

    public static IRenderable Cell(long? value) => Cell(value?.ToString(CultureInfo.InvariantCulture));

    public static string Time(DateTimeOffset? time) =>
        time?.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) ?? "-";

    /// <summary>An age such as <c>3d 4h</c>, <c>2h 5m</c>, <c>4m 10s</c> or <c>12s</c>.</summary>
    public static string Age(TimeSpan? age)
    {
        if (age is not { } value)
        {
            return "-";
        }

        if (value < TimeSpan.Zero)
        {
            value = TimeSpan.Zero;
        }

        return value switch
        {
            { TotalDays: >= 1 } => $"{(int)value.TotalDays}d {value.Hours}h",
            { TotalHours: >= 1 } => $"{value.Hours}h {value.Minutes}m",
            { TotalMinutes: >= 1 } => $"{value.Minutes}m {value.Seconds}s",
            _ => $"{value.Seconds}s",
        };
    }

    public static string Plural(long count, string singular, string plural) =>
        count.ToString(CultureInfo.InvariantCulture) + " " + (count == 1 ? singular : plural);

    public static string Escape(string text) => Markup.Escape(text);
}
