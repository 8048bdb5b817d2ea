using System.Security.Cryptography;
using System.Text;
using BenchmarkDotNet.Attributes;
using Stripe;
using SyncWorker.Webhooks.Envelope;
using SyncWorker.Webhooks.Signatures;

namespace SyncWorker.Benchmarks;

/// <summary>
/// The receive path per request: SyncWorker's signature verification plus envelope read (the two calls
/// <c>StripeWebhookReceiver</c> makes on the body), against Stripe.net and against a bare HMAC-SHA256 (the floor).
/// </summary>
[MemoryDiagnoser]
public class ReceiveBenchmarks
{
    private const long Tolerance = 300;

    private byte[] _body = [];
    private string _json = string.Empty;
    private string _header = string.Empty;
    private byte[] _signedPayload = [];
    private byte[] _key = [];
    private string _v1 = string.Empty;
    private StripeSignatureVerifier _verifier = null!;

    /// <summary>The event size in KiB.</summary>
    [Params(1, 8, 64)]
    public int SizeKB { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _body = Payloads.CheckoutSessionCompleted(SizeKB * 1024);
        _json = Encoding.UTF8.GetString(_body);

        // Signed now: Stripe.net checks the tolerance against the real clock, as SyncWorker's verifier does here.
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        _header = Payloads.SignatureHeader(_body, timestamp);
        _signedPayload = Payloads.SignedPayload(_body, timestamp);
        _key = Encoding.UTF8.GetBytes(Payloads.StripeSecret);
        _v1 = _header[(_header.IndexOf("v1=", StringComparison.Ordinal) + 3)..];

        // As the receiver is registered: one secret, Stripe's default tolerance, the system clock.
        _verifier = new StripeSignatureVerifier([new WebhookSecret(Payloads.StripeSecret, TestOnly: false)], TimeSpan.FromSeconds(Tolerance), TimeProvider.System);

        // Every contender must accept the event, or the comparison is meaningless.
        if (!BareHmac() || SyncWorkerVerifyAndEnvelope().Type != "checkout.session.completed" || StripeNetConstructEvent().Type != "checkout.session.completed")
        {
            throw new InvalidOperationException("A contender refused the benchmark event.");
        }

        StripeNetValidateSignature();
    }

    /// <summary>The floor: one HMAC-SHA256 over the ready-made <c>"{t}." + body</c> bytes and a comparison with the header's v1.</summary>
    [Benchmark(Baseline = true)]
    public bool BareHmac()
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_key, _signedPayload, mac);
        Span<byte> expected = stackalloc byte[32];
        Convert.FromHexString(_v1, expected, out _, out _);
        return CryptographicOperations.FixedTimeEquals(mac, expected);
    }

    /// <summary>What the receiver runs on every request: <c>StripeSignatureVerifier.Verify</c> then <c>StripeEventEnvelopeReader.TryRead</c>.</summary>
    [Benchmark]
    public StripeEventEnvelope SyncWorkerVerifyAndEnvelope()
    {
        var check = _verifier.Verify(_body, _header);
        if (check.Outcome != SignatureOutcome.Valid)
        {
            throw new InvalidOperationException(check.Problem);
        }

        return StripeEventEnvelopeReader.TryRead(_body, out var envelope, out var error)
            ? envelope
            : throw new InvalidOperationException(error);
    }

    /// <summary>The signature half alone (for profiling).</summary>
    [Benchmark]
    public SignatureCheck SyncWorkerVerifyOnly() => _verifier.Verify(_body, _header);

    /// <summary>The envelope half alone (for profiling).</summary>
    [Benchmark]
    public StripeEventEnvelope? SyncWorkerEnvelopeOnly() =>
        StripeEventEnvelopeReader.TryRead(_body, out var envelope, out _) ? envelope : null;

    /// <summary>Stripe.net verifying and deserializing the whole event (given the body already decoded to a string).</summary>
    [Benchmark]
    public Event StripeNetConstructEvent() =>
        EventUtility.ConstructEvent(_json, _header, Payloads.StripeSecret, Tolerance, throwOnApiVersionMismatch: false);

    /// <summary>Stripe.net verifying only (given the body already decoded to a string).</summary>
    [Benchmark]
    public void StripeNetValidateSignature() =>
        EventUtility.ValidateSignature(_json, _header, Payloads.StripeSecret, Tolerance);
}
