using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using Fluid;
using Fluid.Filters;
using Fluid.Values;

namespace SyncWorker.Forwarding.RequestTemplates;

/// <summary>A place in a template: 1-based line and column.</summary>
/// <param name="Line">The line, from 1.</param>
/// <param name="Column">The column, from 1.</param>
public sealed record TemplatePosition(int Line, int Column)
{
    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"line {Line}, column {Column}");

    /// <summary>The position of character <paramref name="offset"/> of <paramref name="text"/>.</summary>
    public static TemplatePosition Of(string text, int offset)
    {
        ArgumentNullException.ThrowIfNull(text);
        int line = 1, column = 1;
        for (var i = 0; i < offset && i < text.Length; i++)
        {
            if (text[i] == '\n')
            {
                line++;
                column = 1;
            }
            else
            {
                column++;
            }
        }

        return new TemplatePosition(line, column);
    }
}

/// <summary>A template that does not parse or does not render; <see cref="Position"/> says where, when known.</summary>
public sealed class TargetTemplateException : Exception
{
    public TargetTemplateException()
    {
    }

    public TargetTemplateException(string message)
        : base(message)
    {
    }

    public TargetTemplateException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>
    /// A template error: "<paramref name="subject"/> at line L, column C: <paramref name="problem"/>" (each part when given).
    /// </summary>
    public TargetTemplateException(string problem, TemplatePosition? position, Exception? innerException = null, string? subject = null)
        : base(string.Join(": ", new[] { string.Join(" ", new[] { subject, position is null ? null : $"at {position}" }.Where(part => part is not null)), problem }.Where(part => part.Length > 0)), innerException)
    {
        Problem = problem;
        Position = position;
    }

    /// <summary>What is wrong, without the position.</summary>
    public string Problem { get; } = "";

    /// <summary>Where, when known.</summary>
    public TemplatePosition? Position { get; }
}

/// <summary>
/// A parsed Liquid template (Fluid) of a target's body or path. Rendering uses a sandbox: no file access
/// (<c>include</c>/<c>render</c> find nothing), unknown filters are errors, a step and output limit stop runaway loops.
/// Values written are escaped by the encoder given: <see cref="JsonEncoder"/> for JSON bodies, <see cref="UrlEncoder"/>
/// for paths. The <c>json</c> filter writes a value as a JSON literal (a quoted and escaped string, <c>null</c>, a number,
/// an object or array) that is not escaped again.
/// </summary>
public sealed partial class TargetTemplate
{
    /// <summary>
    /// Escapes what is written for the inside of a JSON string: quotes, backslashes and control characters; text outside
    /// ASCII is kept as it is (UTF-8), as the order document writes it. Not for HTML.
    /// </summary>
    public static readonly TextEncoder JsonEncoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    /// <summary>Escapes what is written into a URL path or query: everything but letters, digits and <c>-._~</c>-like safe characters.</summary>
    public static readonly TextEncoder PathEncoder = UrlEncoder.Default;

    /// <summary>Steps one render may take (loop iterations, statements).</summary>
    internal const int MaxSteps = 200_000;

    /// <summary>Characters one render may write.</summary>
    internal const int MaxOutputSize = 1024 * 1024;

    private static readonly FluidParser Parser = new();
    private static readonly TemplateOptions Options = CreateOptions();
    private readonly IFluidTemplate _template;

    private TargetTemplate(IFluidTemplate template, string text)
    {
        _template = template;
        Text = text;
    }

    /// <summary>The template's text.</summary>
    public string Text { get; }

    /// <summary>Parses <paramref name="text"/>.</summary>
    /// <exception cref="TargetTemplateException">It does not parse; the message has the line and column.</exception>
    public static TargetTemplate Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!Parser.TryParse(text, out IFluidTemplate? template, out string? error) || template is null)
        {
            var message = error ?? "the template does not parse";
            // Fluid's message: "{problem} at ({line}:{column})\nSource:\n{the line}"; the source line is left out.
            var match = ParsePosition().Match(message);
            if (match.Success)
            {
                var position = new TemplatePosition(
                    int.Parse(match.Groups["line"].Value, CultureInfo.InvariantCulture),
                    int.Parse(match.Groups["column"].Value, CultureInfo.InvariantCulture));
                throw new TargetTemplateException(message[..match.Index].Trim(), position);
            }

            throw new TargetTemplateException(message.Split('\n')[0].Trim(), (TemplatePosition?)null);
        }

        return new TargetTemplate(template, text);
    }

    /// <summary>Renders with <paramref name="model"/> (top-level names and their values) and <paramref name="encoder"/>.</summary>
    /// <exception cref="TargetTemplateException">Rendering failed; the position is that of the name in the error, when found.</exception>
    public string Render(IReadOnlyDictionary<string, FluidValue> model, TextEncoder encoder)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(encoder);
        var context = new TemplateContext(Options);
        foreach (var (name, value) in model)
        {
            context.SetValue(name, value);
        }

        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        try
        {
            _template.RenderAsync(writer, context, encoder).AsTask().GetAwaiter().GetResult();
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            throw new TargetTemplateException(exception.Message, Locate(exception.Message), exception);
        }

        return writer.ToString();
    }

    /// <summary>A JSON value as a template value: objects and arrays as Liquid hashes and arrays, <c>null</c> as nil.</summary>
    public static FluidValue ToFluidValue(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => DictionaryValue.Create(new FluidValueDictionaryFluidIndexable(
            element.EnumerateObject().ToDictionary(property => property.Name, property => ToFluidValue(property.Value), StringComparer.Ordinal))),
        JsonValueKind.Array => ArrayValue.Create(element.EnumerateArray().Select(ToFluidValue).ToArray()),
        JsonValueKind.String => StringValue.Create(element.GetString()!),
        JsonValueKind.Number => element.TryGetDecimal(out var number)
            ? NumberValue.Create(number)
            : NumberValue.Create(element.GetRawText()),
        JsonValueKind.True => BooleanValue.True,
        JsonValueKind.False => BooleanValue.False,
        _ => NilValue.Instance,
    };

    /// <summary>
    /// Fluid reports render errors without a position; the first quoted name in the error (an unknown filter or variable)
    /// is looked up in the text instead.
    /// </summary>
    private TemplatePosition? Locate(string message)
    {
        var quoted = QuotedName().Match(message);
        if (!quoted.Success)
        {
            return null;
        }

        var name = quoted.Groups[1].Value;
        var filter = Regex.Match(Text, @"\|\s*" + Regex.Escape(name) + @"\b", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        if (filter.Success)
        {
            return TemplatePosition.Of(Text, filter.Index + filter.Value.IndexOf(name, StringComparison.Ordinal));
        }

        var index = Text.IndexOf(name, StringComparison.Ordinal);
        return index < 0 ? null : TemplatePosition.Of(Text, index);
    }

    private static TemplateOptions CreateOptions() => new TemplateOptionsBuilder()
        .WithStrictFilters(true)
        .WithMaxSteps(MaxSteps)
        .WithMaxOutputSize(MaxOutputSize)
        .WithCultureInfo(CultureInfo.InvariantCulture)
        .WithTimeZone(TimeZoneInfo.Utc)
        .WithJsonSerializerOptions(new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping })
        .AddFilter("json", JsonLiteral)
        .Build();

    /// <summary><c>{{ value | json }}</c>: the value as a JSON literal, written as it is (not escaped again).</summary>
    private static async ValueTask<FluidValue> JsonLiteral(FluidValue input, FilterArguments arguments, TemplateContext context)
    {
        var json = await MiscFilters.Json(input, arguments, context);
        return StringValue.Create(json.ToStringValue(context), encode: false);
    }

    [GeneratedRegex(@"at \((?<line>\d+):(?<column>\d+)\)", RegexOptions.CultureInvariant)]
    private static partial Regex ParsePosition();

    [GeneratedRegex("'([^']+)'", RegexOptions.CultureInvariant)]
    private static partial Regex QuotedName();
}
