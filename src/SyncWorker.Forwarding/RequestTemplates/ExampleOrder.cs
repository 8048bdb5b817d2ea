using System.Text;

namespace SyncWorker.Forwarding.RequestTemplates;

/// <summary>
/// The example order of <c>Orders/ORDER-DOCUMENT.md</c> (kept equal to the mapper's output by
/// <c>OrderDocumentExampleTests</c>) and the paid <c>checkout.session.completed</c> event it is built from: what templates
/// are rendered against at start and what <c>targets preview</c> shows without <c>--event</c>.
/// </summary>
public static class ExampleOrder
{
    private const string BeginMarker = "<!-- example:begin -->";
    private const string EndMarker = "<!-- example:end -->";

    private static readonly Lazy<byte[]> Order = new(() =>
    {
        var text = Resource("SyncWorker.Forwarding.Orders.ORDER-DOCUMENT.md");
        var begin = text.IndexOf(BeginMarker, StringComparison.Ordinal);
        var end = text.IndexOf(EndMarker, StringComparison.Ordinal);
        var block = text[(begin + BeginMarker.Length)..end];
        var json = block[(block.IndexOf('{', StringComparison.Ordinal))..(block.LastIndexOf('}') + 1)];
        return Encoding.UTF8.GetBytes(json);
    });

    private static readonly Lazy<byte[]> Event = new(() => Encoding.UTF8.GetBytes(Resource("SyncWorker.Forwarding.RequestTemplates.example-event.json")));

    /// <summary>The example order document (UTF-8 JSON).</summary>
    public static ReadOnlyMemory<byte> OrderDocument => Order.Value;

    /// <summary>The example Stripe event, the paid <c>checkout.session.completed</c> the example order is built from.</summary>
    public static ReadOnlyMemory<byte> StripeEvent => Event.Value;

    /// <summary>What a target of <paramref name="format"/> (<c>order</c> or <c>event</c>) is sent without a template.</summary>
    public static ReadOnlyMemory<byte> For(string format) => format == Targets.TargetOptions.EventFormat ? StripeEvent : OrderDocument;

    private static string Resource(string name)
    {
        using var stream = typeof(ExampleOrder).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"The resource {name} is missing from {typeof(ExampleOrder).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }
}
