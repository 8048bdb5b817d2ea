using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SyncWorker.Testing;

namespace SyncWorker.LoadHarness;

/// <summary>
/// A live-mode <c>checkout.session.completed</c> of an exact size: Stripe's fixture (trimmed to its essential fields for
/// sizes below the fixture's ~4.5 KB), padded with a <c>metadata.padding</c> string, with a fixed-length placeholder id
/// that each event overwrites in place.
/// </summary>
internal sealed class EventTemplate
{
    /// <summary>The event type; the repository manifest permits it (checkout_session_read).</summary>
    public const string EventType = "checkout.session.completed";

    /// <summary>Every harness event id starts with this, so a target finds the id with a byte search.</summary>
    public const string IdPrefix = "evt_lh";

    // evt_lh + 3-digit phase tag + '_' + 9-digit index: 19 characters, always.
    private const string Placeholder = "evt_lh000_000000000";

    // What an order consumer reads from a session; the rest of the fixture goes when a small event is asked for.
    private static readonly HashSet<string> EssentialSessionFields = new(StringComparer.Ordinal)
    {
        "id", "object", "amount_total", "currency", "customer", "livemode", "metadata", "mode", "payment_status", "status", "created",
    };

    private readonly byte[] _bytes;
    private readonly int _idOffset;

    private EventTemplate(byte[] bytes, int idOffset)
    {
        _bytes = bytes;
        _idOffset = idOffset;
    }

    public int Size => _bytes.Length;

    public static EventTemplate Create(int sizeBytes)
    {
        var root = JsonNode.Parse(StripeEvents.Text("checkout.session.completed.json"))!.AsObject();
        root["id"] = Placeholder;
        root["livemode"] = true;
        root["type"] = EventType;
        var session = root["data"]!["object"]!.AsObject();
        session["livemode"] = true;
        var metadata = new JsonObject { ["order_ref"] = "lh-bench", ["padding"] = "" };
        session["metadata"] = metadata;
        var options = new JsonSerializerOptions { WriteIndented = true };
        if (Encoding.UTF8.GetByteCount(root.ToJsonString(options)) > sizeBytes)
        {
            foreach (var name in session.Select(p => p.Key).Where(k => !EssentialSessionFields.Contains(k)).ToList())
            {
                session.Remove(name);
            }
        }

        var unpadded = Encoding.UTF8.GetByteCount(root.ToJsonString(options));
        if (unpadded > sizeBytes)
        {
            throw new InvalidOperationException($"The smallest event is {unpadded} bytes; {sizeBytes} was asked for.");
        }

        metadata["padding"] = new string('x', sizeBytes - unpadded);
        var bytes = Encoding.UTF8.GetBytes(root.ToJsonString(options));
        var idOffset = bytes.AsSpan().IndexOf(Encoding.ASCII.GetBytes(Placeholder));
        if (bytes.Length != sizeBytes || idOffset < 0 || idOffset > 64)
        {
            throw new InvalidOperationException($"Event template came out at {bytes.Length} bytes with the id at {idOffset}.");
        }

        return new EventTemplate(bytes, idOffset);
    }

    public static string EventId(int tag, int index) =>
        string.Create(CultureInfo.InvariantCulture, $"{IdPrefix}{tag:D3}_{index:D9}");

    /// <summary>
    /// <paramref name="count"/> distinct events of phase <paramref name="tag"/>, each with its <c>Stripe-Signature</c>
    /// (signed now with <paramref name="secret"/>, as Stripe would), built before any timing starts.
    /// </summary>
    public EventSet Build(int tag, int count, string secret)
    {
        var bodies = new byte[count][];
        var signatures = new string[count];
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var prefix = Encoding.ASCII.GetBytes(timestamp + ".");
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(secret));
        Span<byte> mac = stackalloc byte[32];
        for (var i = 0; i < count; i++)
        {
            var body = (byte[])_bytes.Clone();
            Encoding.ASCII.GetBytes(EventId(tag, i), body.AsSpan(_idOffset));
            hmac.AppendData(prefix);
            hmac.AppendData(body);
            hmac.GetHashAndReset(mac);
            bodies[i] = body;
            signatures[i] = "t=" + timestamp + ",v1=" + Convert.ToHexStringLower(mac);
        }

        return new EventSet(tag, bodies, signatures);
    }

    /// <summary>Reads the index of a harness event id at the start of <paramref name="head"/> (-1 when absent or of another phase).</summary>
    public static int IndexOf(ReadOnlySpan<byte> head, int tag)
    {
        var at = head.IndexOf("evt_lh"u8);
        if (at < 0 || head.Length < at + Placeholder.Length)
        {
            return -1;
        }

        var id = head.Slice(at + IdPrefix.Length, Placeholder.Length - IdPrefix.Length);
        var foundTag = (id[0] - '0') * 100 + (id[1] - '0') * 10 + (id[2] - '0');
        if (foundTag != tag)
        {
            return -1;
        }

        var index = 0;
        foreach (var digit in id[4..])
        {
            if (digit is < (byte)'0' or > (byte)'9')
            {
                return -1;
            }

            index = index * 10 + (digit - '0');
        }

        return index;
    }
}

/// <summary>Pre-signed events of one phase.</summary>
internal sealed record EventSet(int Tag, byte[][] Bodies, string[] Signatures)
{
    public int Count => Bodies.Length;
}
