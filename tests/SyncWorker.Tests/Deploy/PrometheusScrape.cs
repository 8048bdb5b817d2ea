using System.Globalization;
using System.Text;

namespace SyncWorker.Tests.Deploy;

/// <summary>One sample line of the Prometheus text format: <c>name{label="value",…} value</c>.</summary>
internal sealed record ScrapedSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>A parsed <c>GET /metrics</c> answer (Prometheus text exposition format 0.0.4).</summary>
internal sealed class PrometheusScrape
{
    private PrometheusScrape(string text, IReadOnlyList<ScrapedSample> samples)
    {
        Text = text;
        Samples = samples;
        Names = samples.Select(sample => sample.Name).ToHashSet(StringComparer.Ordinal);
    }

    public string Text { get; }

    public IReadOnlyList<ScrapedSample> Samples { get; }

    /// <summary>Every sample name, histogram series included as exposed (<c>_bucket</c>, <c>_sum</c>, <c>_count</c>).</summary>
    public IReadOnlySet<string> Names { get; }

    public IEnumerable<ScrapedSample> Of(string name) => Samples.Where(sample => sample.Name == name);

    /// <summary>The value of the first sample of <paramref name="name"/> with all the given labels, if any.</summary>
    public double? Value(string name, params (string Label, string Value)[] labels) =>
        Of(name).FirstOrDefault(sample => labels.All(l => sample.Labels.TryGetValue(l.Label, out var v) && v == l.Value))?.Value;

    public static PrometheusScrape Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var samples = new List<ScrapedSample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            samples.Add(ParseSample(line));
        }

        return new PrometheusScrape(text, samples);
    }

    private static ScrapedSample ParseSample(string line)
    {
        var i = 0;
        while (i < line.Length && line[i] != '{' && line[i] != ' ')
        {
            i++;
        }

        var name = line[..i];
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (line[i] != '}')
            {
                var equals = line.IndexOf('=', i);
                var label = line[i..equals].Trim(',', ' ');
                if (line[equals + 1] != '"')
                {
                    throw new FormatException($"Cannot read the labels of: {line}");
                }

                var value = new StringBuilder();
                var j = equals + 2;
                for (; line[j] != '"'; j++)
                {
                    if (line[j] == '\\')
                    {
                        j++;
                        value.Append(line[j] == 'n' ? '\n' : line[j]);
                    }
                    else
                    {
                        value.Append(line[j]);
                    }
                }

                labels[label] = value.ToString();
                i = j + 1;
                if (line[i] == ',')
                {
                    i++;
                }
            }

            i++;
        }

        var fields = line[i..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var number = fields[0] switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            "NaN" => double.NaN,
            var other => double.Parse(other, NumberStyles.Float, CultureInfo.InvariantCulture),
        };
        return new ScrapedSample(name, labels, number);
    }
}
