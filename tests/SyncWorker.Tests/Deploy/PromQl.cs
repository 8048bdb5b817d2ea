using System.Text;

namespace SyncWorker.Tests.Deploy;

/// <summary>A label matcher of a selector: <c>label op "value"</c>.</summary>
internal sealed record LabelMatcher(string Label, string Operator, string Value);

/// <summary>A metric selector: a metric name and its matchers (<c>name{label="value",…}</c>).</summary>
internal sealed record MetricSelector(string Metric, IReadOnlyList<LabelMatcher> Matchers);

/// <summary>What an expression refers to: metrics, functions and aggregations called, labels grouped or matched on.</summary>
internal sealed record PromQlReferences(
    IReadOnlyList<MetricSelector> Selectors,
    IReadOnlyList<string> Functions,
    IReadOnlyList<string> GroupingLabels);

/// <summary>
/// A small PromQL reader, enough to list what the dashboard's and the alert rules' expressions refer to: metric names
/// (every identifier that is not a keyword, an aggregation or a function call), their label matchers, the functions
/// called and the labels of <c>by</c>/<c>without</c>/<c>on</c>/<c>ignoring</c>/<c>group_left</c>/<c>group_right</c>.
/// Strings, ranges (<c>[5m]</c>, <c>[1h:1m]</c>), numbers and durations and Grafana variables (<c>$target</c>,
/// <c>${target}</c>, <c>$__rate_interval</c>) are skipped. It checks bracket balance and throws on what it cannot read,
/// so an expression it misreads fails the test instead of passing it.
/// </summary>
internal static class PromQl
{
    /// <summary>Binary-operator and modifier keywords.</summary>
    public static readonly IReadOnlySet<string> Keywords = new HashSet<string>(StringComparer.Ordinal)
    {
        "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "atan2",
    };

    /// <summary>Aggregation operators (<c>sum by (x) (…)</c> as well as <c>sum(…) by (x)</c>).</summary>
    public static readonly IReadOnlySet<string> Aggregations = new HashSet<string>(StringComparer.Ordinal)
    {
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile",
        "limitk", "limit_ratio",
    };

    /// <summary>Prometheus's functions (https://prometheus.io/docs/prometheus/latest/querying/functions/).</summary>
    public static readonly IReadOnlySet<string> Functions = new HashSet<string>(StringComparer.Ordinal)
    {
        "abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "day_of_month",
        "day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp", "floor", "histogram_avg",
        "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev", "histogram_stdvar",
        "histogram_sum", "holt_winters", "double_exponential_smoothing", "hour", "idelta", "increase", "irate",
        "label_join", "label_replace", "ln", "log2", "log10", "minute", "month", "predict_linear", "rate", "resets",
        "round", "scalar", "sgn", "sort", "sort_desc", "sort_by_label", "sort_by_label_desc", "sqrt", "time",
        "timestamp", "vector", "year", "avg_over_time", "min_over_time", "max_over_time", "sum_over_time",
        "count_over_time", "quantile_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time",
        "present_over_time", "mad_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "cos", "cosh", "sin",
        "sinh", "tan", "tanh", "deg", "rad", "pi",
    };

    private static readonly HashSet<string> GroupingKeywords = new(StringComparer.Ordinal)
    {
        "by", "without", "on", "ignoring", "group_left", "group_right",
    };

    /// <summary>Reads <paramref name="expression"/>; throws <see cref="FormatException"/> on what it cannot read.</summary>
    public static PromQlReferences Read(string expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        var tokens = Tokenize(expression);
        var selectors = new List<MetricSelector>();
        var functions = new List<string>();
        var grouping = new List<string>();
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            if (token.Kind != TokenKind.Identifier)
            {
                if (token.Kind == TokenKind.Matchers)
                {
                    throw new FormatException($"A label matcher without a metric name in: {expression}");
                }

                continue;
            }

            var next = i + 1 < tokens.Count ? tokens[i + 1] : null;
            if (GroupingKeywords.Contains(token.Text))
            {
                if (next is { Kind: TokenKind.Punctuation, Text: "(" })
                {
                    var j = i + 2;
                    for (; j < tokens.Count && tokens[j].Text != ")"; j++)
                    {
                        if (tokens[j].Kind == TokenKind.Identifier)
                        {
                            grouping.Add(tokens[j].Text);
                        }
                        else if (tokens[j].Text != ",")
                        {
                            throw new FormatException($"Unexpected '{tokens[j].Text}' in the label list of '{token.Text}' in: {expression}");
                        }
                    }

                    i = j;
                }

                continue;
            }

            if (Keywords.Contains(token.Text))
            {
                continue;
            }

            if (Aggregations.Contains(token.Text) && next is { Kind: TokenKind.Identifier } or { Text: "(" })
            {
                functions.Add(token.Text);
                continue;
            }

            if (next is { Kind: TokenKind.Punctuation, Text: "(" })
            {
                functions.Add(token.Text);
                continue;
            }

            var matchers = next is { Kind: TokenKind.Matchers } ? ReadMatchers(next.Text, expression) : [];
            selectors.Add(new MetricSelector(token.Text, matchers));
            if (next is { Kind: TokenKind.Matchers })
            {
                i++;
            }
        }

        return new PromQlReferences(selectors, functions, grouping);
    }

    private enum TokenKind
    {
        Identifier,
        Matchers,
        Punctuation,
    }

    private sealed record Token(TokenKind Kind, string Text);

    private static List<Token> Tokenize(string expression)
    {
        var tokens = new List<Token>();
        var depth = 0;
        var i = 0;
        while (i < expression.Length)
        {
            var c = expression[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
            }
            else if (c == '#')
            {
                // A comment runs to the end of the line.
                while (i < expression.Length && expression[i] != '\n')
                {
                    i++;
                }
            }
            else if (c is '"' or '\'' or '`')
            {
                i = SkipString(expression, i);
            }
            else if (c == '$')
            {
                i = SkipVariable(expression, i);
            }
            else if (c == '{')
            {
                var end = ClosingIndex(expression, i, '{', '}');
                tokens.Add(new Token(TokenKind.Matchers, expression[(i + 1)..end]));
                i = end + 1;
            }
            else if (c == '[')
            {
                i = ClosingIndex(expression, i, '[', ']') + 1;
            }
            else if (char.IsAsciiLetter(c) || c is '_' or ':')
            {
                var start = i;
                while (i < expression.Length && (char.IsAsciiLetterOrDigit(expression[i]) || expression[i] is '_' or ':'))
                {
                    i++;
                }

                tokens.Add(new Token(TokenKind.Identifier, expression[start..i]));
            }
            else if (char.IsAsciiDigit(c) || (c == '.' && i + 1 < expression.Length && char.IsAsciiDigit(expression[i + 1])))
            {
                // Numbers, including 1e-3, 0x1F and durations such as 5m or 1h30m.
                i++;
                while (i < expression.Length && (char.IsAsciiLetterOrDigit(expression[i]) || expression[i] == '.'
                    || (expression[i] is '-' or '+' && expression[i - 1] is 'e' or 'E')))
                {
                    i++;
                }
            }
            else if (c is '(' or ')')
            {
                depth += c == '(' ? 1 : -1;
                if (depth < 0)
                {
                    throw new FormatException($"Unbalanced ')' at {i} in: {expression}");
                }

                tokens.Add(new Token(TokenKind.Punctuation, c.ToString()));
                i++;
            }
            else if ("+-*/%^=!<>,".Contains(c, StringComparison.Ordinal))
            {
                tokens.Add(new Token(TokenKind.Punctuation, c.ToString()));
                i++;
            }
            else
            {
                throw new FormatException($"Unexpected '{c}' at {i} in: {expression}");
            }
        }

        if (depth != 0)
        {
            throw new FormatException($"Unbalanced '(' in: {expression}");
        }

        return tokens;
    }

    private static List<LabelMatcher> ReadMatchers(string text, string expression)
    {
        var matchers = new List<LabelMatcher>();
        var i = 0;
        while (true)
        {
            while (i < text.Length && (char.IsWhiteSpace(text[i]) || text[i] == ','))
            {
                i++;
            }

            if (i >= text.Length)
            {
                return matchers;
            }

            var start = i;
            while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_'))
            {
                i++;
            }

            var label = text[start..i];
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }

            var operatorStart = i;
            while (i < text.Length && text[i] is '=' or '!' or '~')
            {
                i++;
            }

            var op = text[operatorStart..i];
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }

            if (label.Length == 0 || op is not ("=" or "!=" or "=~" or "!~") || i >= text.Length || text[i] is not ('"' or '\'' or '`'))
            {
                throw new FormatException($"Cannot read the label matchers {{{text}}} in: {expression}");
            }

            var end = SkipString(text, i);
            matchers.Add(new LabelMatcher(label, op, Unquote(text[i..end])));
            i = end;
        }
    }

    private static string Unquote(string quoted)
    {
        var inner = quoted[1..^1];
        if (quoted[0] == '`')
        {
            return inner;
        }

        var builder = new StringBuilder();
        for (var i = 0; i < inner.Length; i++)
        {
            builder.Append(inner[i] == '\\' && i + 1 < inner.Length ? inner[++i] : inner[i]);
        }

        return builder.ToString();
    }

    private static int SkipString(string text, int start)
    {
        var quote = text[start];
        for (var i = start + 1; i < text.Length; i++)
        {
            if (text[i] == '\\' && quote != '`')
            {
                i++;
            }
            else if (text[i] == quote)
            {
                return i + 1;
            }
        }

        throw new FormatException($"Unterminated string at {start} in: {text}");
    }

    private static int SkipVariable(string text, int start)
    {
        var i = start + 1;
        if (i < text.Length && text[i] == '{')
        {
            return ClosingIndex(text, i, '{', '}') + 1;
        }

        while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_'))
        {
            i++;
        }

        return i;
    }

    private static int ClosingIndex(string text, int start, char open, char close)
    {
        for (var i = start + 1; i < text.Length; i++)
        {
            if (text[i] is '"' or '\'' or '`')
            {
                i = SkipString(text, i) - 1;
            }
            else if (text[i] == close)
            {
                return i;
            }
            else if (text[i] == open)
            {
                throw new FormatException($"Nested '{open}' at {i} in: {text}");
            }
        }

        throw new FormatException($"Unbalanced '{open}' at {start} in: {text}");
    }
}
