using System.Net.Http.Headers;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Manifest;

namespace SyncWorker.Forwarding.RequestTemplates;

/// <summary>
/// Start-up (and admin API) checks of a target's request settings: <c>Method</c>, <c>ContentType</c>, <c>Template</c> or
/// <c>TemplatePath</c> (the file found and parsed) and <c>Path</c>; the templates are rendered against the example order
/// (<see cref="ExampleOrder"/>; the example event for Format event), the JSON body checked, and the URL the path makes
/// checked against the manifest's connect-src. Each message names the key, the file and the line and column.
/// </summary>
public static class TargetRequestValidation
{
    /// <summary>In a message about a template that does not parse.</summary>
    private const string DoesNotParse = "has a template that does not parse";

    /// <summary>In a message about a template that fails with the example order (a render error, invalid JSON, a URL not allowed).</summary>
    private const string FailsWithExample = "fails with the example order";

    /// <summary>
    /// True when <paramref name="message"/> (one of <see cref="Validate"/>'s) says a template is broken: it does not parse,
    /// or fails with the example order; the admin API answers those with 422 rather than 400.
    /// </summary>
    public static bool IsBrokenTemplate(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return message.Contains(DoesNotParse, StringComparison.Ordinal) || message.Contains(FailsWithExample, StringComparison.Ordinal);
    }

    /// <summary>The messages for <paramref name="target"/>, whose configuration path is <paramref name="key"/>.</summary>
    public static IEnumerable<string> Validate(TargetOptions target, string key, string label, TargetTemplatesOptions templates, AppManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(templates);
        ArgumentNullException.ThrowIfNull(manifest);
        var errors = new List<string>();
        if (target.Method is not null && !TargetOptions.Methods.Contains(target.Method.Trim(), StringComparer.OrdinalIgnoreCase))
        {
            errors.Add($"{key}:Method must be POST (the default), PUT or PATCH; got '{target.Method}'.");
        }

        if (target.ContentType is not null && !MediaTypeHeaderValue.TryParse(target.ContentType, out _))
        {
            errors.Add($"{key}:ContentType '{target.ContentType}' is not a media type: use for example application/json (the default) or application/xml.");
        }

        if (!string.IsNullOrEmpty(target.Template) && !string.IsNullOrWhiteSpace(target.TemplatePath))
        {
            errors.Add($"{key}:Template and {key}:TemplatePath are both set: give the body template once, inline or as a file.");
        }

        if (!string.IsNullOrEmpty(target.Path) && !(target.Path.StartsWith('/') || target.Path.StartsWith('?')))
        {
            errors.Add($"{key}:Path must start with '/' or '?' (it is appended to Url); got '{target.Path}'.");
        }

        if (errors.Count > 0 || string.IsNullOrWhiteSpace(target.Url) || !Uri.TryCreate(target.Url, UriKind.Absolute, out _))
        {
            return errors;
        }

        TargetRequestBuilder.Plan plan;
        try
        {
            plan = TargetRequestBuilder.Plan.Compile(target, templates);
        }
        catch (TargetTemplateException exception)
        {
            var field = exception.Message.StartsWith("the Path template", StringComparison.Ordinal) ? "Path"
                : string.IsNullOrEmpty(target.Template) ? "TemplatePath" : "Template";
            errors.Add($"{key}:{field}: {label} {DoesNotParse}: {exception.Message}.");
            return errors;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            var file = TargetRequestBuilder.Plan.ResolvePath(target.TemplatePath!, templates);
            errors.Add(
                $"{key}:TemplatePath: {label}'s template file {file} cannot be read ({exception.GetType().Name}): a relative TemplatePath is " +
                $"resolved under Templates:Directory ({templates.FullDirectory}); correct the path or the directory.");
            return errors;
        }

        if (plan.Body is null && plan.Path is null)
        {
            return errors;
        }

        try
        {
            plan.Render(target, ExampleOrder.For(target.Format), new ConnectSrcPolicy(manifest));
        }
        catch (TargetRequestBuilder.RequestRenderException exception)
        {
            var field = exception.Message.Contains("Path", StringComparison.Ordinal) && !exception.Message.StartsWith("the body", StringComparison.Ordinal) ? "Path"
                : string.IsNullOrEmpty(target.Template) ? "TemplatePath" : "Template";
            errors.Add($"{key}:{field}: {label} {FailsWithExample} of ORDER-DOCUMENT.md: {exception.Message}.");
        }

        return errors;
    }
}
