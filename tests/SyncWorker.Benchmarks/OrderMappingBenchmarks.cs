using BenchmarkDotNet.Attributes;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Orders;

namespace SyncWorker.Benchmarks;

/// <summary>
/// The forwarder's order step: <c>OrderDocumentMapper.Map</c> from the queued event and its line items, and the
/// document serialized as it is sent (<c>OrderDocument.ToJsonBytes</c>), as <c>TargetDeliveryConsumer</c> does.
/// One line item per 2 KiB of event (at least one).
/// </summary>
[MemoryDiagnoser]
public class OrderMappingBenchmarks
{
    private StripeEventReceived _event = null!;
    private IReadOnlyList<OrderLineItem> _lineItems = [];

    /// <summary>The event size in KiB.</summary>
    [Params(1, 8, 64)]
    public int SizeKB { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _event = Payloads.Received(Payloads.CheckoutSessionCompleted(SizeKB * 1024));
        _lineItems = Payloads.LineItems(Math.Max(1, SizeKB / 2));
        if (MapAndSerialize().Length == 0)
        {
            throw new InvalidOperationException("Empty order document.");
        }
    }

    /// <summary>The document only.</summary>
    [Benchmark(Baseline = true)]
    public OrderDocument Map() => OrderDocumentMapper.Map(_event, _lineItems);

    /// <summary>The document and its body bytes, as the delivery consumer builds them.</summary>
    [Benchmark]
    public byte[] MapAndSerialize() => OrderDocumentMapper.Map(_event, _lineItems).ToJsonBytes();
}
