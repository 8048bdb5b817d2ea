using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace SyncWorker.Webhooks.Signatures;

/// <summary>
/// Stripe's webhook signing scheme (https://docs.stripe.com/webhooks, "Verify webhook signatures
/// manually"): <c>v1 = hex(HMAC-SHA256(key: UTF-8 bytes of the whole secret, message: "{t}." + raw body))</c>.
/// Used by tests and developer tools to sign events; production code verifies with
/// <see cref="StripeSignatureVerifier"/>.
/// </summary>
public static class StripeSignature
{
    /// <summary>Bytes in a v1 signature (HMAC-SHA256).</summary>
    internal const int SignatureSize = 32;

    /// <summary>Hex characters in a v1 signature.</summary>
    internal const int SignatureHexLength = SignatureSize * 2;

    /// <summary>Largest accepted <c>t</c>: 9999-12-31T23:59:59Z, so time arithmetic cannot overflow.</summary>
    internal const long MaxTimestamp = 253_402_300_799;

    // "9223372036854775807" is 19 digits; one more for the dot.
    private const int MaxPrefixLength = 20;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// The v1 signature of <paramref name="body"/> at <paramref name="timestamp"/>, as lowercase hex
    /// (what Stripe puts after <c>v1=</c>, and what Stripe.net's <c>EventUtility.ComputeSignature</c> returns).
    /// </summary>
    /// <param name="secret">The endpoint secret, <c>whsec_</c> prefix included.</param>
    /// <param name="timestamp">Unix seconds, the header's <c>t</c>.</param>
    /// <param name="body">The raw request body bytes.</param>
    public static string Compute(string secret, long timestamp, ReadOnlySpan<byte> body)
    {
        byte[] key = KeyBytes(secret, nameof(secret));
        ArgumentOutOfRangeException.ThrowIfNegative(timestamp);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(timestamp, MaxTimestamp);
        Span<byte> mac = stackalloc byte[SignatureSize];
        ComputeMac(key, timestamp, body, mac);
        return Convert.ToHexStringLower(mac);
    }

    /// <summary>
    /// A <c>Stripe-Signature</c> header value: <c>t={timestamp}</c> followed by one <c>v1=…</c> per
    /// signature, in order (several during a secret roll). The signatures are not checked, so tests
    /// can build deliberately broken headers.
    /// </summary>
    public static string Header(long timestamp, params string[] v1Signatures)
    {
        ArgumentNullException.ThrowIfNull(v1Signatures);
        var header = new StringBuilder(12 + (v1Signatures.Length * (4 + SignatureHexLength)));
        header.Append("t=").Append(timestamp.ToString(CultureInfo.InvariantCulture));
        foreach (string signature in v1Signatures)
        {
            ArgumentNullException.ThrowIfNull(signature, nameof(v1Signatures));
            header.Append(",v1=").Append(signature);
        }

        return header.ToString();
    }

    /// <summary>
    /// The UTF-8 bytes of <paramref name="secret"/>, refusing text that cannot be encoded losslessly
    /// (as Stripe.net does) so a broken secret fails loudly instead of silently never matching.
    /// </summary>
    internal static byte[] KeyBytes(string secret, string paramName)
    {
        ArgumentException.ThrowIfNullOrEmpty(secret, paramName);
        try
        {
            return StrictUtf8.GetBytes(secret);
        }
        catch (EncoderFallbackException)
        {
            // Do not include the secret or the exception (whose message can quote characters of it).
            throw new ArgumentException("The webhook secret is not valid UTF-16 text (it contains an unpaired surrogate).", paramName);
        }
    }

    /// <summary>HMAC-SHA256 of <c>"{timestamp}." + body</c> into <paramref name="destination"/> (32 bytes), without copying the body.</summary>
    internal static void ComputeMac(ReadOnlySpan<byte> key, long timestamp, ReadOnlySpan<byte> body, Span<byte> destination)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        ComputeMac(hmac, timestamp, body, destination);
    }

    /// <summary>
    /// HMAC-SHA256 of <c>"{timestamp}." + body</c> into <paramref name="destination"/> (32 bytes) with a keyed
    /// <paramref name="hmac"/> that holds no data yet; it is reset afterwards, so the caller can reuse it.
    /// </summary>
    internal static void ComputeMac(IncrementalHash hmac, long timestamp, ReadOnlySpan<byte> body, Span<byte> destination)
    {
        Span<byte> prefix = stackalloc byte[MaxPrefixLength];
        if (!timestamp.TryFormat(prefix, out int written, default, CultureInfo.InvariantCulture) || written >= prefix.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(timestamp));
        }

        prefix[written++] = (byte)'.';
        hmac.AppendData(prefix[..written]);
        hmac.AppendData(body);
        hmac.GetHashAndReset(destination);
    }
}
