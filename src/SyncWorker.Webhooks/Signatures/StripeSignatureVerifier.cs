using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;

namespace SyncWorker.Webhooks.Signatures;

/// <summary>
/// Verifies the <c>Stripe-Signature</c> header of a webhook delivery against the raw body, with the
/// same rules and order as Stripe.net's <c>EventUtility.ValidateSignature</c>: the signature first,
/// then the timestamp tolerance. Thread-safe; register one instance as a singleton.
/// </summary>
/// <remarks>
/// <para>
/// Header format: comma-separated <c>key=value</c> items (whitespace around items is ignored);
/// <c>t=&lt;Unix seconds&gt;</c> exactly once; one or more <c>v1=&lt;64 hex&gt;</c> (one per active
/// secret during a secret roll). Every other scheme, such as the <c>v0</c> Stripe adds to test
/// events, is ignored, so a header cannot downgrade the check to a weaker scheme.
/// </para>
/// <para>
/// A <c>v1</c> value that is not 64 hexadecimal characters is treated as non-matching when at least
/// one other <c>v1</c> is well-formed, and makes the header <see cref="SignatureOutcome.MalformedHeader"/>
/// when none is. Hex digits may be either case.
/// </para>
/// <para>
/// The signed message is the ASCII decimal form of the parsed <c>t</c>, a dot and the body bytes;
/// the body is never converted to a string. Every configured secret's HMAC is computed and compared
/// with every well-formed <c>v1</c> in constant time, with no early exit, so the response time does
/// not tell which secret (if any) matched.
/// </para>
/// </remarks>
public sealed class StripeSignatureVerifier
{
    private const int StackSecrets = 8;

    private static readonly SearchValues<char> HexDigits = SearchValues.Create("0123456789abcdefABCDEF");

    private readonly WebhookSecret[] _secrets;
    private readonly byte[][] _keys;

    // One keyed HMAC per secret and thread, reused (GetHashAndReset leaves it keyed and empty): creating one per
    // request costs a native OpenSSL context, a finalizable handle and the key setup, about a tenth of the HMAC of an
    // 8 KiB body. Verify never awaits, so a thread's instances are never used by two requests at once. The cache
    // belongs to the verifier whose _keys it was made for (the process has one; another one replaces it).
    [ThreadStatic]
    private static byte[][]? t_hmacKeys;

    [ThreadStatic]
    private static IncrementalHash?[]? t_hmacs;

    private readonly TimeSpan _tolerance;
    private readonly TimeProvider _timeProvider;

    /// <param name="secrets">
    /// The accepted signing secrets: at least one, none empty or blank. Their key bytes are computed once, here.
    /// </param>
    /// <param name="tolerance">
    /// How far <c>t</c> may be from now, in either direction (stale or future); Stripe's libraries
    /// default to 5 minutes. <see cref="TimeSpan.Zero"/> switches the timestamp check off, as in
    /// Stripe's libraries; SyncWorker's options validation forbids it, because it allows replays.
    /// </param>
    /// <param name="timeProvider">The clock; tests pass a <c>FakeTimeProvider</c>.</param>
    public StripeSignatureVerifier(IReadOnlyList<WebhookSecret> secrets, TimeSpan tolerance, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentOutOfRangeException.ThrowIfLessThan(tolerance, TimeSpan.Zero);
        if (secrets.Count == 0)
        {
            throw new ArgumentException("At least one webhook secret is required.", nameof(secrets));
        }

        _secrets = new WebhookSecret[secrets.Count];
        _keys = new byte[secrets.Count][];
        for (int i = 0; i < secrets.Count; i++)
        {
            WebhookSecret secret = secrets[i]
                ?? throw new ArgumentException($"Webhook secret #{i + 1} is null.", nameof(secrets));
            if (string.IsNullOrWhiteSpace(secret.Secret))
            {
                throw new ArgumentException($"Webhook secret #{i + 1} is empty.", nameof(secrets));
            }

            _secrets[i] = secret;
            _keys[i] = StripeSignature.KeyBytes(secret.Secret, nameof(secrets));
        }

        _tolerance = tolerance;
        _timeProvider = timeProvider;
    }

    /// <summary>Checks <paramref name="header"/> (the <c>Stripe-Signature</c> value, or null when absent) against the raw <paramref name="body"/>.</summary>
    public SignatureCheck Verify(ReadOnlySpan<byte> body, string? header)
    {
        if (string.IsNullOrWhiteSpace(header))
        {
            return SignatureCheck.Failed(SignatureOutcome.MissingHeader, 0, Problems.MissingHeader);
        }

        ReadOnlySpan<char> text = header.AsSpan().Trim();

        // Pass 1: validate the format, find t, count the v1 items. No secret is involved yet.
        long timestamp = 0;
        bool hasTimestamp = false;
        int v1Count = 0;
        int wellFormedV1Count = 0;
        int position = 0;
        foreach (Range range in text.Split(','))
        {
            position++;
            ReadOnlySpan<char> item = text[range].Trim();
            int equals = item.IndexOf('=');
            if (item.IsEmpty)
            {
                return Malformed(timestamp, string.Create(CultureInfo.InvariantCulture, $"item {position} is empty"));
            }

            if (equals <= 0)
            {
                return Malformed(timestamp, string.Create(CultureInfo.InvariantCulture, $"item {position} is not a key=value pair"));
            }

            ReadOnlySpan<char> key = item[..equals];
            ReadOnlySpan<char> value = item[(equals + 1)..];
            if (key.SequenceEqual("t"))
            {
                if (hasTimestamp)
                {
                    return Malformed(timestamp, "t appears more than once");
                }

                if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out timestamp)
                    || timestamp > StripeSignature.MaxTimestamp)
                {
                    return Malformed(0, "t is not a whole number of Unix seconds");
                }

                hasTimestamp = true;
            }
            else if (key.SequenceEqual("v1"))
            {
                v1Count++;
                if (IsSignatureHex(value))
                {
                    wellFormedV1Count++;
                }
            }

            // Any other scheme (v0, a future v2, …) is ignored: downgrade protection.
        }

        if (!hasTimestamp)
        {
            return Malformed(0, "there is no t=<Unix seconds> item");
        }

        if (v1Count == 0)
        {
            return SignatureCheck.Failed(SignatureOutcome.NoV1Signature, timestamp, Problems.NoV1Signature);
        }

        if (wellFormedV1Count == 0)
        {
            return Malformed(timestamp, string.Create(
                CultureInfo.InvariantCulture,
                $"none of the {v1Count} v1 value(s) is {StripeSignature.SignatureHexLength} hexadecimal characters"));
        }

        // Pass 2: the expected MAC for every secret, all computed whatever the header holds.
        int secretCount = _keys.Length;
        Span<byte> expected = secretCount <= StackSecrets
            ? stackalloc byte[StackSecrets * StripeSignature.SignatureSize]
            : new byte[secretCount * StripeSignature.SignatureSize];
        Span<bool> matched = secretCount <= StackSecrets ? stackalloc bool[StackSecrets] : new bool[secretCount];
        matched.Clear();
        IncrementalHash?[] hmacs = ThreadHmacs();
        for (int i = 0; i < secretCount; i++)
        {
            IncrementalHash hmac = hmacs[i] ??= IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _keys[i]);
            try
            {
                StripeSignature.ComputeMac(hmac, timestamp, body, expected.Slice(i * StripeSignature.SignatureSize, StripeSignature.SignatureSize));
            }
            catch (Exception)
            {
                // It may hold part of a message now: never reuse it.
                hmacs[i] = null;
                hmac.Dispose();
                throw;
            }
        }

        // Pass 3: every well-formed v1 against every secret, in constant time, no early exit.
        Span<byte> candidate = stackalloc byte[StripeSignature.SignatureSize];
        foreach (Range range in text.Split(','))
        {
            ReadOnlySpan<char> item = text[range].Trim();
            int equals = item.IndexOf('=');
            if (!item[..equals].SequenceEqual("v1"))
            {
                continue;
            }

            ReadOnlySpan<char> value = item[(equals + 1)..];
            if (!IsSignatureHex(value)
                || Convert.FromHexString(value, candidate, out _, out _) != OperationStatus.Done)
            {
                continue;
            }

            for (int i = 0; i < secretCount; i++)
            {
                matched[i] |= CryptographicOperations.FixedTimeEquals(
                    candidate, expected.Slice(i * StripeSignature.SignatureSize, StripeSignature.SignatureSize));
            }
        }

        CryptographicOperations.ZeroMemory(expected);

        WebhookSecret? matchedSecret = null;
        for (int i = 0; i < secretCount; i++)
        {
            if (matched[i] && (matchedSecret is null || (matchedSecret.TestOnly && !_secrets[i].TestOnly)))
            {
                matchedSecret = _secrets[i];
            }
        }

        if (matchedSecret is null)
        {
            return SignatureCheck.Failed(SignatureOutcome.NoMatchingSignature, timestamp, Problems.NoMatchingSignature(wellFormedV1Count, v1Count - wellFormedV1Count));
        }

        // The signature is genuine; now the replay window (after the signature, as Stripe.net does).
        if (_tolerance > TimeSpan.Zero)
        {
            long now = _timeProvider.GetUtcNow().ToUnixTimeSeconds();
            long ageSeconds = now - timestamp;
            TimeSpan age = TimeSpan.FromSeconds(ageSeconds);
            if (age > _tolerance)
            {
                return SignatureCheck.Failed(SignatureOutcome.TimestampTooOld, timestamp, Problems.TooOld(ageSeconds, _tolerance));
            }

            if (-age > _tolerance)
            {
                return SignatureCheck.Failed(SignatureOutcome.TimestampInFuture, timestamp, Problems.InFuture(-ageSeconds, _tolerance));
            }
        }

        return SignatureCheck.Valid(timestamp, matchedSecret);
    }

    /// <summary>This thread's reusable HMAC instances for <see cref="_keys"/> (null entries are created on first use).</summary>
    private IncrementalHash?[] ThreadHmacs()
    {
        if (t_hmacs is null || !ReferenceEquals(t_hmacKeys, _keys))
        {
            if (t_hmacs is not null)
            {
                foreach (IncrementalHash? stale in t_hmacs)
                {
                    stale?.Dispose();
                }
            }

            t_hmacs = new IncrementalHash?[_keys.Length];
            t_hmacKeys = _keys;
        }

        return t_hmacs;
    }

    private static bool IsSignatureHex(ReadOnlySpan<char> value) =>
        value.Length == StripeSignature.SignatureHexLength && !value.ContainsAnyExcept(HexDigits);

    private static SignatureCheck Malformed(long timestamp, string reason) =>
        SignatureCheck.Failed(SignatureOutcome.MalformedHeader, timestamp, Problems.Malformed(reason));

    /// <summary>Problem sentences. None takes a secret or a signature as input, so none can echo one.</summary>
    private static class Problems
    {
        private const string ExpectedFormat =
            "Expected comma-separated key=value items, as Stripe sends them: t=<Unix seconds> once and one or more v1=<64 hexadecimal characters>.";

        public const string MissingHeader =
            "The Stripe-Signature header is missing or empty. Stripe signs every webhook delivery: send the request with the header Stripe generated for it "
            + "(for local tests, sign the exact body with the endpoint's whsec_ secret).";

        public const string NoV1Signature =
            "The Stripe-Signature header has no v1 signature. Other schemes such as v0 are ignored so that a request cannot downgrade the check; "
            + "send the header Stripe generated, which carries at least one v1=<signature>.";

        public static string Malformed(string reason) =>
            $"The Stripe-Signature header is malformed: {reason}. {ExpectedFormat}";

        public static string NoMatchingSignature(int wellFormed, int malformed) =>
            string.Create(
                CultureInfo.InvariantCulture,
                $"None of the {wellFormed} v1 signature(s) in the Stripe-Signature header matches the request body")
            + (malformed > 0 ? string.Create(CultureInfo.InvariantCulture, $" ({malformed} further v1 value(s) were not 64 hexadecimal characters)") : string.Empty)
            + ". Check that this endpoint's signing secret (whsec_…) for the event's mode (test or live) is configured, "
            + "and that the body reaches the endpoint byte-for-byte (not re-serialised, re-encoded or with changed whitespace).";

        public static string TooOld(long ageSeconds, TimeSpan tolerance) =>
            string.Create(
                CultureInfo.InvariantCulture,
                $"The Stripe-Signature timestamp is {ageSeconds} seconds old, beyond the tolerance of {tolerance.TotalSeconds} seconds. ")
            + "Stripe re-signs every delivery attempt, so this is a replayed or long-delayed request: check this server's clock (NTP) and resend the event from Stripe.";

        public static string InFuture(long aheadSeconds, TimeSpan tolerance) =>
            string.Create(
                CultureInfo.InvariantCulture,
                $"The Stripe-Signature timestamp is {aheadSeconds} seconds in the future, beyond the tolerance of {tolerance.TotalSeconds} seconds. ")
            + "Check this server's clock (NTP); it appears to be behind Stripe's.";
    }
}
