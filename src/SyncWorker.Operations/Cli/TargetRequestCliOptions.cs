using System.CommandLine;
using System.Text;
using System.Text.Json.Nodes;

namespace SyncWorker.Operations.Cli;

/// <summary>
/// The request options of <c>targets add</c> and <c>targets update</c>: <c>--template-file</c> (read here and sent inline
/// as the API's <c>template</c>), <c>--content-type</c>, <c>--method</c> and <c>--path</c>.
/// </summary>
internal sealed class TargetRequestCliOptions
{
    public Option<string?> TemplateFile { get; } = new("--template-file")
    {
        Description = "A file holding the Liquid template of the request body (rendered with order, or event for --format event); " +
            "read by this command and sent inline. The worker checks it against the example order and refuses a broken one (422, with the line and column).",
    };

    public Option<string?> ContentType { get; } = new("--content-type")
    {
        Description = "The request's media type (default application/json; a JSON type makes the rendered body be checked as JSON).",
    };

    public Option<string?> Method { get; } = new Option<string?>("--method")
    {
        Description = "The request's method: POST (default), PUT or PATCH.",
    }.AcceptOnlyFromAmong("POST", "PUT", "PATCH", "post", "put", "patch");

    public Option<string?> Path { get; } = new("--path")
    {
        Description = "A Liquid template appended to --url, starting with / or ?, e.g. '/orders/{{ order.order_id }}' (values URL-escaped).",
    };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { TemplateFile, ContentType, Method, Path })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>What was given; null when none of these options was.</summary>
    public TargetRequestArguments? Read(ParseResult result)
    {
        var given = new TargetRequestArguments
        {
            TemplateFile = result.GetValue(TemplateFile),
            ContentType = result.GetValue(ContentType),
            Method = result.GetValue(Method),
            Path = result.GetValue(Path),
        };
        return given.IsEmpty ? null : given;
    }
}

/// <summary>The request options given.</summary>
internal sealed class TargetRequestArguments
{
    public string? TemplateFile { get; init; }

    public string? ContentType { get; init; }

    public string? Method { get; init; }

    public string? Path { get; init; }

    public bool IsEmpty => new[] { TemplateFile, ContentType, Method, Path }.All(value => value is null);

    /// <summary>Adds the API's <c>template</c>, <c>contentType</c>, <c>method</c> and <c>path</c> to <paramref name="body"/>; an unreadable template file is a usage error.</summary>
    public void AddTo(JsonObject body)
    {
        if (TemplateFile is not null)
        {
            try
            {
                body["template"] = File.ReadAllText(TemplateFile, Encoding.UTF8);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                throw CliException.Usage($"--template-file '{TemplateFile}' cannot be read: {exception.Message}");
            }
        }

        if (ContentType is not null)
        {
            body["contentType"] = ContentType;
        }

        if (Method is not null)
        {
            body["method"] = Method.ToUpperInvariant();
        }

        if (Path is not null)
        {
            body["path"] = Path;
        }
    }
}
