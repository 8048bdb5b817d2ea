using System.Text;
using System.Text.Json;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Consumers;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Forwarding.Targets;

namespace SyncWorker.Forwarding.RequestTemplates;

/// <summary>
/// What <c>targets preview</c> prints: the request a target would get, built by <see cref="TargetRequestBuilder"/> and
/// signed by the same code as the signing handler, without sending it. Secrets (extra header values, the signature) show
/// their last four characters only.
/// </summary>
public static class TargetRequestPreview
{
    /// <summary>
    /// The input a target of <paramref name="target"/>'s format gets for <paramref name="file"/>: the example order (or event)
    /// when null; for an order target, a file holding an order document is taken as it is, and a Stripe event is mapped to
    /// one without line items (a preview does not call Stripe), which <paramref name="note"/> says.
    /// </summary>
    public static ReadOnlyMemory<byte> Input(TargetOptions target, byte[]? file, out string? note)
    {
        ArgumentNullException.ThrowIfNull(target);
        note = null;
        if (file is null)
        {
            note = target.Format == TargetOptions.EventFormat
                ? "input: the example event (src/SyncWorker.Forwarding/RequestTemplates/example-event.json)"
                : "input: the example order of src/SyncWorker.Forwarding/Orders/ORDER-DOCUMENT.md";
            return ExampleOrder.For(target.Format);
        }

        using var document = JsonDocument.Parse(file);
        var root = document.RootElement;
        var kind = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("object", out var value) ? value.GetString() : null;
        if (target.Format == TargetOptions.EventFormat || kind == OrderDocument.ObjectName)
        {
            return file;
        }

        if (kind != "event")
        {
            throw new JsonException("the file is neither a Stripe event (\"object\": \"event\") nor an order document (\"object\": \"syncworker.order\").");
        }

        note = "input: the order document mapped from the event, without line items (a preview does not call Stripe)";
        var dataObject = root.GetProperty("data").GetProperty("object");
        var evt = new StripeEventReceived(
            root.GetProperty("id").GetString()!,
            root.GetProperty("type").GetString()!,
            root.TryGetProperty("account", out var account) && account.ValueKind == JsonValueKind.String ? account.GetString() : null,
            root.TryGetProperty("livemode", out var livemode) && livemode.ValueKind == JsonValueKind.True,
            root.TryGetProperty("api_version", out var version) ? version.GetString() : null,
            DateTimeOffset.FromUnixTimeSeconds(root.TryGetProperty("created", out var created) ? created.GetInt64() : 0),
            dataObject.TryGetProperty("object", out var type) ? type.GetString() ?? "" : "",
            dataObject.TryGetProperty("id", out var id) ? id.GetString() : null,
            DateTimeOffset.UnixEpoch,
            Encoding.UTF8.GetString(file));
        return OrderDocumentMapper.Map(evt, []).ToJsonBytes();
    }

    /// <summary>The request as text: the request line, the headers (secrets masked), a blank line and the body.</summary>
    /// <exception cref="DeliveryFailedException">The request cannot be built (as a delivery would fail).</exception>
    public static string Render(TargetRequestBuilder builder, TargetOptions target, ReadOnlyMemory<byte> input, DateTimeOffset now) =>
        Build(builder, target, input, now).ToText();

    /// <summary>
    /// The request <paramref name="target"/> would get for <paramref name="input"/>: method, URL, headers (the signature and
    /// the values of <c>Headers</c> masked to their last four characters) and body. Not the <c>Authorization</c> header
    /// <c>Auth</c> adds: no token is fetched.
    /// </summary>
    /// <exception cref="DeliveryFailedException">The request cannot be built (as a delivery would fail).</exception>
    public static PreviewedRequest Build(TargetRequestBuilder builder, TargetOptions target, ReadOnlyMemory<byte> input, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(target);
        var (subject, action) = SubjectOf(target, input);
        var webhookId = DeliveryIds.For(target.Name, subject, action);
        var delivery = new TargetDelivery(webhookId, webhookId, input, $"preview of {subject} ({action})");
        var built = builder.Build(target, delivery);
        delivery = delivery with { Body = built.Body };
        using var request = TargetRequestBuilder.CreateMessage(built);
        StandardWebhookHandler.ApplyHeaders(
            request, delivery, now, new StandardWebhookSigner(target.SigningSecret), (target.Headers ?? []).ToArray());

        var secrets = new HashSet<string>((target.Headers ?? []).Keys, StringComparer.OrdinalIgnoreCase) { StandardWebhookHandler.WebhookSignatureHeader };
        var headers = request.Headers.Concat(request.Content!.Headers)
            .Select(header => (header.Key, Value: string.Join(", ", header.Value)))
            .Select(header => new PreviewedHeader(header.Key, secrets.Contains(header.Key) ? Mask(header.Value) : header.Value))
            .ToList();
        return new PreviewedRequest(request.Method.Method, request.RequestUri!.AbsoluteUri, headers, Encoding.UTF8.GetString(built.Body.Span));
    }

    /// <summary>The last four characters behind an ellipsis; nothing of a value shorter than 12.</summary>
    internal static string Mask(string value) => value.Length >= 12 ? "…" + value[^4..] : "…";

    private static (string Subject, string Action) SubjectOf(TargetOptions target, ReadOnlyMemory<byte> input)
    {
        using var document = JsonDocument.Parse(input);
        var root = document.RootElement;
        string? Text(string name) => root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
        return target.Format == TargetOptions.EventFormat
            ? (Text("id") ?? "evt_preview", Text("type") ?? "event")
            : (Text("order_id") ?? "cs_preview", Text("action") ?? OrderEventClassifier.PaidAction);
    }
}

/// <summary>A header of a previewed request; a secret's value shows its last four characters only.</summary>
/// <param name="Name">The header's name.</param>
/// <param name="Value">Its value, masked when it is a secret.</param>
public sealed record PreviewedHeader(string Name, string Value);

/// <summary>A request as <see cref="TargetRequestPreview.Build"/> makes it, not sent.</summary>
/// <param name="Method">POST, PUT or PATCH.</param>
/// <param name="Url">The URL, its path rendered.</param>
/// <param name="Headers">The headers in the order they are sent, secrets masked.</param>
/// <param name="Body">The body as text (UTF-8).</param>
public sealed record PreviewedRequest(string Method, string Url, IReadOnlyList<PreviewedHeader> Headers, string Body)
{
    /// <summary>The request line, the headers, a blank line and the body.</summary>
    public string ToText()
    {
        var text = new StringBuilder();
        text.Append(Method).Append(' ').Append(Url).Append('\n');
        foreach (var header in Headers)
        {
            text.Append(header.Name).Append(": ").Append(header.Value).Append('\n');
        }

        return text.Append('\n').Append(Body).ToString();
    }
}
