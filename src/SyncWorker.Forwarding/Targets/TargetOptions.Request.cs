namespace SyncWorker.Forwarding.Targets;

/// <summary>
/// The request a target gets, for a partner's REST API taken as it is: a body rendered from a Liquid template, a method
/// and a templated path suffix. Left unset, a target gets the order document (or the event) POSTed to its <c>Url</c>.
/// See <see cref="RequestTemplates.TargetRequestBuilder"/>.
/// </summary>
public sealed partial class TargetOptions
{
    /// <summary>The methods a target may be sent with (<c>Method</c>).</summary>
    public static readonly IReadOnlyList<string> Methods = ["POST", "PUT", "PATCH"];

    /// <summary>
    /// <c>Template</c>: an inline Liquid template of the request body, rendered with <c>order</c> (the order document;
    /// Format order) or <c>event</c> (the Stripe event; Format event). With a JSON <c>ContentType</c> every value written
    /// is JSON-escaped; <c>{{ value | json }}</c> writes a value as a JSON literal (quotes, <c>null</c>, objects). Default:
    /// none (the document or event as it is). Not together with <see cref="TemplatePath"/>.
    /// </summary>
    public string? Template { get; set; }

    /// <summary>
    /// <c>TemplatePath</c>: a file holding the body template (configuration file only; the admin API takes
    /// <see cref="Template"/>). A relative path is resolved under <c>Templates:Directory</c>. Default: none.
    /// </summary>
    public string? TemplatePath { get; set; }

    /// <summary>
    /// <c>ContentType</c>: the request's media type. Default <c>application/json</c>. A JSON type (<c>application/json</c>,
    /// <c>*/*+json</c>) escapes template values for JSON, and the rendered body must be valid JSON.
    /// </summary>
    public string? ContentType { get; set; }

    /// <summary><c>Method</c>: <c>POST</c> (default), <c>PUT</c> or <c>PATCH</c>.</summary>
    public string? Method { get; set; }

    /// <summary>
    /// <c>Path</c>: a Liquid template appended to <c>Url</c>, such as <c>/orders/{{ order.order_id }}</c>; values are
    /// URL-escaped. The URL it makes must still be allowed by the manifest's connect-src. Default: none.
    /// </summary>
    public string? Path { get; set; }
}

/// <summary>Configuration section <c>Templates</c>: where <c>Fulfillment:Targets:N:TemplatePath</c> files are found.</summary>
public sealed class TargetTemplatesOptions
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Templates";

    /// <summary>
    /// <c>Directory</c>: the folder a relative <c>TemplatePath</c> is resolved under; itself relative to the app's folder
    /// (<see cref="AppContext.BaseDirectory"/>) unless absolute. Default <c>templates</c>.
    /// </summary>
    public string Directory { get; set; } = "templates";

    /// <summary>The full path of <see cref="Directory"/>.</summary>
    public string FullDirectory => System.IO.Path.GetFullPath(string.IsNullOrWhiteSpace(Directory) ? "templates" : Directory, AppContext.BaseDirectory);
}
