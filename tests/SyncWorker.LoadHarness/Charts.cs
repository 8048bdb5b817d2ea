using System.Globalization;
using System.Net;
using System.Text;

namespace SyncWorker.LoadHarness;

/// <summary>One bar series of a panel: a name, a colour and a value per category (null = not measured, ∞ = never completed).</summary>
internal sealed record Series(string Name, string Color, IReadOnlyList<double?> Values);

/// <summary>A grouped bar chart: categories along x, one bar per series in each, an optional goal line.</summary>
internal sealed record Panel(string Title, string Unit, IReadOnlyList<string> Categories, IReadOnlyList<Series> Series, double? Goal = null, string? GoalLabel = null);

/// <summary>Hand-written SVG: small multiples of grouped bar charts, from the run's own results.</summary>
internal static class Charts
{
    public const string Ceiling = "#7f7f7f";
    public const string SyncWorker = "#1f77b4";
    public const string ReceiverOnly = "#9ecae1";
    public const string Tutorial = "#ff7f0e";
    public const string P50 = "#6baed6";
    public const string P99 = "#2171b5";
    public const string P999 = "#08306b";

    private const int PanelWidth = 400;
    private const int PanelHeight = 300;
    private const int Left = 58;
    private const int Right = 12;
    private const int Top = 40;
    private const int Bottom = 70;

    public static string Figure(string title, string subtitle, IReadOnlyList<Panel> panels)
    {
        var width = PanelWidth * panels.Count;
        var height = PanelHeight + 50;
        var svg = new StringBuilder();
        svg.Append(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">\n"));
        svg.Append(Inv($"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n"));
        svg.Append(Inv($"<text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">{Escape(title)}</text>\n"));
        svg.Append(Inv($"<text x=\"10\" y=\"38\" fill=\"#555\">{Escape(subtitle)}</text>\n"));
        for (var i = 0; i < panels.Count; i++)
        {
            DrawPanel(svg, panels[i], i * PanelWidth, 50);
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static void DrawPanel(StringBuilder svg, Panel panel, int x0, int y0)
    {
        var plotWidth = PanelWidth - Left - Right;
        var plotHeight = PanelHeight - Top - Bottom;
        var finite = panel.Series.SelectMany(s => s.Values).Where(v => v is { } d && double.IsFinite(d)).Select(v => v!.Value).ToList();
        var max = NiceMax(Math.Max(finite.DefaultIfEmpty(0).Max(), panel.Goal ?? 0) * 1.1);
        var px = x0 + Left;
        var py = y0 + Top;
        double Y(double value) => py + plotHeight - Math.Min(value, max) / max * plotHeight;

        svg.Append(Inv($"<text x=\"{x0 + PanelWidth / 2}\" y=\"{y0 + 16}\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">{Escape(panel.Title)}</text>\n"));
        svg.Append(Inv($"<text x=\"{x0 + 14}\" y=\"{py + plotHeight / 2}\" text-anchor=\"middle\" transform=\"rotate(-90 {x0 + 14} {py + plotHeight / 2})\" fill=\"#555\">{Escape(panel.Unit)}</text>\n"));
        for (var tick = 0; tick <= 5; tick++)
        {
            var value = max * tick / 5;
            var y = Y(value);
            svg.Append(Inv($"<line x1=\"{px}\" y1=\"{y:F1}\" x2=\"{px + plotWidth}\" y2=\"{y:F1}\" stroke=\"#e5e5e5\"/>\n"));
            svg.Append(Inv($"<text x=\"{px - 4}\" y=\"{y + 4:F1}\" text-anchor=\"end\" fill=\"#555\">{Format(value)}</text>\n"));
        }

        var groups = panel.Categories.Count;
        var groupWidth = (double)plotWidth / groups;
        var barWidth = Math.Min(34, groupWidth * 0.8 / Math.Max(1, panel.Series.Count));
        for (var c = 0; c < groups; c++)
        {
            var groupLeft = px + c * groupWidth + (groupWidth - barWidth * panel.Series.Count) / 2;
            for (var s = 0; s < panel.Series.Count; s++)
            {
                var value = c < panel.Series[s].Values.Count ? panel.Series[s].Values[c] : null;
                if (value is null)
                {
                    continue;
                }

                var x = groupLeft + s * barWidth;
                var infinite = !double.IsFinite(value.Value);
                var top = infinite ? py : Y(value.Value);
                var fill = panel.Series[s].Color;
                svg.Append(Inv($"<rect x=\"{x:F1}\" y=\"{top:F1}\" width=\"{barWidth - 2:F1}\" height=\"{py + plotHeight - top:F1}\" fill=\"{fill}\"{(infinite ? " fill-opacity=\"0.35\"" : "")}/>\n"));
                var label = infinite ? "∞" : value.Value > max ? Format(value.Value) + "↑" : Format(value.Value);
                svg.Append(Inv($"<text x=\"{x + (barWidth - 2) / 2:F1}\" y=\"{Math.Max(py + 10, top - 3):F1}\" text-anchor=\"middle\" font-size=\"9\">{label}</text>\n"));
            }

            svg.Append(Inv($"<text x=\"{px + c * groupWidth + groupWidth / 2:F1}\" y=\"{py + plotHeight + 14}\" text-anchor=\"middle\">{Escape(panel.Categories[c])}</text>\n"));
        }

        svg.Append(Inv($"<line x1=\"{px}\" y1=\"{py + plotHeight}\" x2=\"{px + plotWidth}\" y2=\"{py + plotHeight}\" stroke=\"#333\"/>\n"));
        if (panel.Goal is { } goal)
        {
            var y = Y(goal);
            svg.Append(Inv($"<line x1=\"{px}\" y1=\"{y:F1}\" x2=\"{px + plotWidth}\" y2=\"{y:F1}\" stroke=\"#d62728\" stroke-dasharray=\"5,3\"/>\n"));
            svg.Append(Inv($"<text x=\"{px + plotWidth}\" y=\"{y - 3:F1}\" text-anchor=\"end\" fill=\"#d62728\">{Escape(panel.GoalLabel ?? "goal")}</text>\n"));
        }

        // Legend, below the categories.
        var legendX = (double)x0 + 10;
        var legendY = py + plotHeight + 32;
        foreach (var series in panel.Series)
        {
            if (legendX + 12 + series.Name.Length * 6 > x0 + PanelWidth)
            {
                legendX = x0 + 10;
                legendY += 14;
            }

            svg.Append(Inv($"<rect x=\"{legendX:F1}\" y=\"{legendY - 9}\" width=\"10\" height=\"10\" fill=\"{series.Color}\"/>\n"));
            svg.Append(Inv($"<text x=\"{legendX + 13:F1}\" y=\"{legendY}\">{Escape(series.Name)}</text>\n"));
            legendX += 24 + series.Name.Length * 6;
        }
    }

    private static double NiceMax(double value)
    {
        if (value <= 0)
        {
            return 1;
        }

        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (var step in new[] { 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10 })
        {
            if (step * magnitude >= value)
            {
                return step * magnitude;
            }
        }

        return 10 * magnitude;
    }

    private static string Format(double value) => value switch
    {
        >= 10000 => (value / 1000).ToString("0.#", CultureInfo.InvariantCulture) + "k",
        >= 100 => value.ToString("0", CultureInfo.InvariantCulture),
        >= 10 => value.ToString("0.#", CultureInfo.InvariantCulture),
        _ => value.ToString("0.##", CultureInfo.InvariantCulture),
    };

    private static string Escape(string text) => WebUtility.HtmlEncode(text);

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
