using System.Text;
using BenchmarkDotNet.Attributes;
using StandardWebhooks;
using SyncWorker.Forwarding.Delivery;

namespace SyncWorker.Benchmarks;

/// <summary>
/// Outgoing Standard Webhooks signing of one delivery body (an event of the given size, as <c>Format: event</c>
/// targets get it): SyncWorker's <c>StandardWebhookSigner</c> against the <c>StandardWebhooks</c> package.
/// </summary>
[MemoryDiagnoser]
public class SigningBenchmarks
{
    private readonly long _timestamp = 1_790_000_000;
    private byte[] _body = [];
    private string _bodyText = string.Empty;
    private StandardWebhookSigner _signer = null!;
    private StandardWebhook _reference = null!;

    /// <summary>The body size in KiB.</summary>
    [Params(1, 8, 64)]
    public int SizeKB { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _body = Payloads.CheckoutSessionCompleted(SizeKB * 1024);
        _bodyText = Encoding.UTF8.GetString(_body);
        _signer = new StandardWebhookSigner(Payloads.TargetSecret);
        _reference = new StandardWebhook(Payloads.TargetSecret);
        if (SyncWorkerSigner() != StandardWebhooksPackage())
        {
            throw new InvalidOperationException("The two signers disagree.");
        }
    }

    /// <summary>The package's <c>Sign</c>, which takes the body as a string (given here already decoded).</summary>
    [Benchmark(Baseline = true)]
    public string StandardWebhooksPackage() =>
        _reference.Sign(Payloads.WebhookId, DateTimeOffset.FromUnixTimeSeconds(_timestamp), _bodyText);

    /// <summary>SyncWorker's signer over the body bytes as sent.</summary>
    [Benchmark]
    public string SyncWorkerSigner() => _signer.Sign(Payloads.WebhookId, _timestamp, _body);
}
