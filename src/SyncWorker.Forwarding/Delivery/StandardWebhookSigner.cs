using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace SyncWorker.Forwarding.Delivery;

/// <summary>
/// Signs deliveries as the Standard Webhooks specification defines (https://www.standardwebhooks.com):
/// <c>webhook-signature: v1,{base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}"))}</c>, keyed with the
/// bytes that the secret <c>whsec_{base64}</c> encodes. Targets verify it with any Standard Webhooks library.
/// Thread-safe. The key never leaves the instance; <see cref="object.ToString"/> shows nothing of it.
/// </summary>
public sealed class StandardWebhookSigner
{
    /// <summary>The prefix of a Standard Webhooks secret.</summary>
    public const string SecretPrefix = "whsec_";

    /// <summary>Smallest key the specification allows (192 bits).</summary>
    public const int MinKeyBytes = 24;

    /// <summary>Largest key the specification allows (512 bits).</summary>
    public const int MaxKeyBytes = 64;

    private const int MacBytes = 32;

    // "9223372036854775807" is 19 digits, plus the two dots around it.
    private const int MaxTimestampPartLength = 21;

    private readonly byte[] _key;

    /// <summary>Creates a signer for <paramref name="secret"/> (<c>whsec_</c> and base64 of 24 to 64 bytes).</summary>
    /// <exception cref="ArgumentException">The secret is not a valid Standard Webhooks secret; the message does not quote it.</exception>
    public StandardWebhookSigner(string secret)
    {
        if (!TryParseSecret(secret, out byte[]? key, out string? error))
        {
            throw new ArgumentException($"The signing secret {error}", nameof(secret));
        }

        _key = key;
    }

    /// <summary>
    /// Decodes a Standard Webhooks secret. On failure <paramref name="error"/> is the predicate of a configuration
    /// message, to be written after the key's name (for example <c>"must start with 'whsec_' …"</c>). It never
    /// quotes the value or any part of it.
    /// </summary>
    /// <param name="value">The secret as configured.</param>
    /// <param name="key">The HMAC key bytes, when valid.</param>
    /// <param name="error">Why the value is refused, when invalid.</param>
    public static bool TryParseSecret(
        [NotNullWhen(true)] string? value,
        [NotNullWhen(true)] out byte[]? key,
        [NotNullWhen(false)] out string? error)
    {
        key = null;
        const string Expected = "whsec_ followed by the base64 of 24 to 64 random bytes (for example the output of `openssl rand -base64 32` after 'whsec_')";
        if (string.IsNullOrWhiteSpace(value))
        {
            error = $"is empty: set the target's signing secret, {Expected}.";
            return false;
        }

        if (!value.StartsWith(SecretPrefix, StringComparison.Ordinal))
        {
            error = $"must start with 'whsec_': a Standard Webhooks secret is {Expected}.";
            return false;
        }

        string encoded = value[SecretPrefix.Length..];
        var buffer = new byte[(encoded.Length * 3 / 4) + 3];
        if (encoded.Length == 0 || !Convert.TryFromBase64String(encoded, buffer, out int length))
        {
            error = $"is not valid base64 after 'whsec_': a Standard Webhooks secret is {Expected}.";
            return false;
        }

        if (length is < MinKeyBytes or > MaxKeyBytes)
        {
            error = string.Create(
                CultureInfo.InvariantCulture,
                $"decodes to {length} bytes; the key must be {MinKeyBytes} to {MaxKeyBytes} bytes: a Standard Webhooks secret is {Expected}.");
            return false;
        }

        key = buffer[..length];
        error = null;
        return true;
    }

    /// <summary>
    /// The <c>webhook-signature</c> value for one attempt: <c>v1,</c> and the base64 HMAC-SHA256 of
    /// <c>"{webhookId}.{timestamp}."</c> followed by the body bytes as they are sent (never re-encoded).
    /// </summary>
    /// <param name="webhookId">The <c>webhook-id</c> header value.</param>
    /// <param name="timestamp">The <c>webhook-timestamp</c> header value, Unix seconds.</param>
    /// <param name="body">The exact request body bytes.</param>
    public string Sign(string webhookId, long timestamp, ReadOnlySpan<byte> body)
    {
        ArgumentException.ThrowIfNullOrEmpty(webhookId);
        ArgumentOutOfRangeException.ThrowIfNegative(timestamp);

        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _key);
        hmac.AppendData(Encoding.UTF8.GetBytes(webhookId));

        Span<byte> timestampPart = stackalloc byte[MaxTimestampPartLength];
        timestampPart[0] = (byte)'.';
        if (!timestamp.TryFormat(timestampPart[1..], out int written, default, CultureInfo.InvariantCulture))
        {
            throw new ArgumentOutOfRangeException(nameof(timestamp));
        }

        timestampPart[written + 1] = (byte)'.';
        hmac.AppendData(timestampPart[..(written + 2)]);
        hmac.AppendData(body);

        Span<byte> mac = stackalloc byte[MacBytes];
        hmac.GetHashAndReset(mac);
        return "v1," + Convert.ToBase64String(mac);
    }
}
