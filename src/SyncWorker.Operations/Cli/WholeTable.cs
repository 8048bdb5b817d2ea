using Spectre.Console;
using Spectre.Console.Rendering;

namespace SyncWorker.Operations.Cli;

/// <summary>
/// A table whose identifier columns (<see cref="Identifier"/>) are never wrapped, cropped or shortened, whatever the width
/// it is given: it takes at least the width its longest words need, even when that is wider than the terminal (which then
/// folds the long lines itself, leaving each identifier whole in the text). Other columns wrap as usual.
/// </summary>
internal sealed class WholeTable(Table table) : Renderable
{
    /// <summary>Wide enough to measure any table's natural width.</summary>
    private const int Unbounded = 1 << 20;

    /// <summary>A column of identifiers (event, delivery, account, target, queue, URL): no wrapping.</summary>
    public static TableColumn Identifier(string header) => new TableColumn(header).NoWrap();

    protected override Measurement Measure(RenderOptions options, int maxWidth)
    {
        var natural = ((IRenderable)table).Measure(options, Unbounded);
        return new Measurement(natural.Min, Math.Max(natural.Min, Math.Min(natural.Max, Math.Max(maxWidth, natural.Min))));
    }

    protected override IEnumerable<Segment> Render(RenderOptions options, int maxWidth)
    {
        // The table's minimum is the sum of each column's longest word (plus borders): at that width Spectre shrinks only
        // the wrappable columns, so no identifier is broken.
        var minimum = ((IRenderable)table).Measure(options, Unbounded).Min;
        return ((IRenderable)table).Render(options, Math.Max(maxWidth, minimum));
    }
}
