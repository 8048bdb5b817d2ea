using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Fluid.Values;
using Microsoft.Extensions.Options;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Manifest;

namespace SyncWorker.Forwarding.RequestTemplates;

/// <summary>The request a delivery becomes: method, URL, body and its media type (headers are set per attempt).</summary>
/// <param name="Method">POST, PUT or PATCH.</param>
/// <param name="Url">The target's <c>Url</c> with its rendered <c>Path</c>.</param>
/// <param name="Body">The bytes sent and signed.</param>
/// <param name="ContentType">The <c>Content-Type</c>.</param>
public sealed record TargetRequest(HttpMethod Method, Uri Url, ReadOnlyMemory<byte> Body, string ContentType);

/// <summary>
/// The one place a delivery becomes an HTTP request, for the sender and for <c>targets preview</c> alike: the body (the
/// order document or event as it is, or the target's <c>Template</c>/<c>TemplatePath</c> rendered with it), the method,
/// the URL (<c>Url</c> and the rendered <c>Path</c>, checked against the manifest's connect-src) and the content type.
/// Templates are parsed once per target. A template that fails, a JSON body that is not valid JSON or a URL the manifest
/// does not allow is a permanent <see cref="DeliveryFailedException"/> (dead-lettered, not retried) naming the target and
/// the position.
/// </summary>
public sealed class TargetRequestBuilder
{
    private readonly ConditionalWeakTable<TargetOptions, Plan> _plans = [];
    private readonly TargetTemplatesOptions _templates;
    private readonly ConnectSrcPolicy? _connectSrc;

    /// <summary>Created by dependency injection; without a manifest no URL is checked (tests).</summary>
    public TargetRequestBuilder(IOptions<TargetTemplatesOptions> templates, AppManifest? manifest = null)
    {
        ArgumentNullException.ThrowIfNull(templates);
        _templates = templates.Value;
        _connectSrc = manifest is null ? null : new ConnectSrcPolicy(manifest);
    }

    /// <summary>
    /// Builds the request of <paramref name="delivery"/> to <paramref name="target"/>; <see cref="TargetDelivery.Body"/> is
    /// what the target's format gives (the order document, or the event).
    /// </summary>
    /// <exception cref="DeliveryFailedException">Permanent: the template fails, the body is not valid JSON, or the URL is not allowed.</exception>
    public TargetRequest Build(TargetOptions target, TargetDelivery delivery)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(delivery);
        Plan plan;
        try
        {
            plan = _plans.GetValue(target, options => Plan.Compile(options, _templates));
        }
        catch (TargetTemplateException exception)
        {
            throw Permanent($"Target '{target.Name}' has a template that does not parse ({exception.Message}), so {delivery.Description} was not sent: correct it.");
        }

        try
        {
            return plan.Render(target, delivery.Body, _connectSrc);
        }
        catch (RequestRenderException exception)
        {
            throw Permanent($"Target '{target.Name}': {exception.Message}; {delivery.Description} was not sent (not retried: the same input fails the same way).");
        }
    }

    /// <summary>The HTTP message of <paramref name="request"/>, before the signing handler adds its headers on each attempt.</summary>
    public static HttpRequestMessage CreateMessage(TargetRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var content = new ReadOnlyMemoryContent(request.Body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(request.ContentType);
        return new HttpRequestMessage(request.Method, request.Url) { Content = content };
    }

    /// <summary>True for <c>application/json</c> and <c>…+json</c> media types.</summary>
    public static bool IsJson(string contentType)
    {
        ArgumentNullException.ThrowIfNull(contentType);
        if (!MediaTypeHeaderValue.TryParse(contentType, out var media) || media.MediaType is null)
        {
            return false;
        }

        return string.Equals(media.MediaType, StandardWebhookHandler.JsonMediaType, StringComparison.OrdinalIgnoreCase)
            || media.MediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase);
    }

    private static DeliveryFailedException Permanent(string message) =>
        new(message, isPermanent: true, attempts: 0, statusCode: null);

    /// <summary>A target's compiled request settings.</summary>
    internal sealed class Plan
    {
        private Plan(Uri url, HttpMethod method, string contentType, TargetTemplate? body, string? bodySource, TargetTemplate? path)
        {
            Url = url;
            Method = method;
            ContentType = contentType;
            IsJson = IsJson(contentType);
            Body = body;
            BodySource = bodySource;
            Path = path;
        }

        /// <summary>The target's <c>Url</c>, parsed once.</summary>
        public Uri Url { get; }

        public HttpMethod Method { get; }

        public string ContentType { get; }

        public TargetTemplate? Body { get; }

        /// <summary><c>Template</c>, or the file of <c>TemplatePath</c>.</summary>
        public string? BodySource { get; }

        public TargetTemplate? Path { get; }

        /// <summary>True for a JSON media type (read once, not per delivery).</summary>
        public bool IsJson { get; }

        /// <summary>Reads and parses the target's templates.</summary>
        /// <exception cref="TargetTemplateException">A template does not parse (the message names which).</exception>
        /// <exception cref="IOException">The <c>TemplatePath</c> file cannot be read.</exception>
        public static Plan Compile(TargetOptions target, TargetTemplatesOptions templates)
        {
            var method = new HttpMethod(string.IsNullOrWhiteSpace(target.Method) ? "POST" : target.Method.Trim().ToUpperInvariant());
            var contentType = string.IsNullOrWhiteSpace(target.ContentType) ? StandardWebhookHandler.JsonMediaType : target.ContentType.Trim();
            TargetTemplate? body = null;
            string? source = null;
            if (!string.IsNullOrEmpty(target.Template))
            {
                source = "Template";
                body = ParseNamed(target.Template, "the body template (Template)");
            }
            else if (!string.IsNullOrWhiteSpace(target.TemplatePath))
            {
                source = ResolvePath(target.TemplatePath, templates);
                body = ParseNamed(File.ReadAllText(source, Encoding.UTF8), $"the body template {source}");
            }

            var path = string.IsNullOrEmpty(target.Path) ? null : ParseNamed(target.Path, "the Path template");
            return new Plan(new Uri(target.Url, UriKind.Absolute), method, contentType, body, source, path);
        }

        /// <summary>The full path of a <c>TemplatePath</c>: as it is when absolute, else under <c>Templates:Directory</c>.</summary>
        public static string ResolvePath(string templatePath, TargetTemplatesOptions templates) =>
            System.IO.Path.IsPathRooted(templatePath) ? templatePath : System.IO.Path.GetFullPath(templatePath, templates.FullDirectory);

        /// <exception cref="RequestRenderException">What went wrong, without the target's name.</exception>
        public TargetRequest Render(TargetOptions target, ReadOnlyMemory<byte> input, ConnectSrcPolicy? connectSrc)
        {
            var url = Url;
            if (Body is null && Path is null)
            {
                // Nothing rendered: Url itself was checked against connect-src at start (or by the admin API), and the
                // manifest does not change while the process runs.
                return new TargetRequest(Method, url, input, ContentType);
            }

            var model = Model(target, input);
            var body = input;
            if (Body is not null)
            {
                var text = RenderOne(Body, model, IsJson ? TargetTemplate.JsonEncoder : Fluid.NullEncoder.Default, $"the body template ({BodySource})");
                body = Encoding.UTF8.GetBytes(text);
                if (IsJson)
                {
                    RequireJson(body, BodySource!);
                }
            }

            if (Path is not null)
            {
                var suffix = RenderOne(Path, model, TargetTemplate.PathEncoder, "the Path template");
                var joined = target.Url.EndsWith('/') && suffix.StartsWith('/') ? target.Url + suffix[1..] : target.Url + suffix;
                if (!Uri.TryCreate(joined, UriKind.Absolute, out var rendered) || rendered.Authority != url.Authority || rendered.Scheme != url.Scheme)
                {
                    throw new RequestRenderException(
                        $"its Path '{target.Path}' did not make a URL on {url.GetLeftPart(UriPartial.Authority)}; a Path must start with / or ? and add to Url's path only");
                }

                url = rendered;
            }

            return Allowed(new TargetRequest(Method, url, body, ContentType), target, connectSrc);
        }

        private static TargetRequest Allowed(TargetRequest request, TargetOptions target, ConnectSrcPolicy? connectSrc)
        {
            if (connectSrc is not null && !connectSrc.Allows(request.Url))
            {
                throw new RequestRenderException(
                    $"the URL made from Url and Path '{target.Path}' (on {request.Url.GetLeftPart(UriPartial.Authority)}) is not allowed by the manifest's " +
                    "connect-src: list the URL's folder (ending in '/') in ui_extension.content_security_policy.connect-src, or correct Path");
            }

            return request;
        }

        private static Dictionary<string, FluidValue> Model(TargetOptions target, ReadOnlyMemory<byte> input)
        {
            FluidValue value;
            try
            {
                using var document = JsonDocument.Parse(input);
                value = TargetTemplate.ToFluidValue(document.RootElement);
            }
            catch (JsonException exception)
            {
                throw new RequestRenderException($"the input of its template is not JSON ({exception.Message})");
            }

            var isEvent = target.Format == TargetOptions.EventFormat;
            return new Dictionary<string, FluidValue>(StringComparer.Ordinal)
            {
                ["order"] = isEvent ? NilValue.Instance : value,
                ["event"] = isEvent ? value : NilValue.Instance,
            };
        }

        private static string RenderOne(TargetTemplate template, Dictionary<string, FluidValue> model, TextEncoder encoder, string which)
        {
            try
            {
                return template.Render(model, encoder);
            }
            catch (TargetTemplateException exception)
            {
                throw new RequestRenderException($"{which} failed to render {exception.Message}");
            }
        }

        private static void RequireJson(ReadOnlyMemory<byte> body, string source)
        {
            try
            {
                using var _ = JsonDocument.Parse(body);
            }
            catch (JsonException exception)
            {
                // JSON's positions are 0-based lines and bytes; the rendered text's line and byte are given 1-based.
                var line = (exception.LineNumber ?? 0) + 1;
                var column = (exception.BytePositionInLine ?? 0) + 1;
                throw new RequestRenderException(
                    $"the body rendered from {source} is not valid JSON at line {line}, column {column} of the output " +
                    "(write values inside quotes, \"{{ x }}\", or as literals with {{ x | json }})");
            }
        }

        private static TargetTemplate ParseNamed(string text, string which)
        {
            try
            {
                return TargetTemplate.Parse(text);
            }
            catch (TargetTemplateException exception)
            {
                throw new TargetTemplateException(exception.Problem, exception.Position, exception, which);
            }
        }
    }

    /// <summary>A delivery's request cannot be built; the message does not name the target.</summary>
    internal sealed class RequestRenderException(string message) : Exception(message);
}
