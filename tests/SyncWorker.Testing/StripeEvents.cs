using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace SyncWorker.Testing;

/// <summary>Event fixtures (copies of ../shared/stripe/events) and signing for tests.</summary>
public static class StripeEvents
{
    /// <summary>The folder holding the copied fixtures in the test output.</summary>
    public static string FixturesDirectory => Path.Combine(AppContext.BaseDirectory, "Fixtures");

    /// <summary>The exact bytes of <c>Fixtures/events/{name}</c>.</summary>
    public static byte[] Bytes(string name) => File.ReadAllBytes(Path.Combine(FixturesDirectory, "events", name));

    /// <summary>The fixture's text (UTF-8).</summary>
    public static string Text(string name) => Encoding.UTF8.GetString(Bytes(name));

    /// <summary>
    /// The fixture with its event id replaced (the first <c>"id": "evt_…"</c> is the event's own id in every fixture)
    /// and, optionally, its livemode and type. Byte-level formatting stays as in the file.
    /// </summary>
    public static string WithId(string name, string eventId, bool? livemode = null, string? type = null)
    {
        var text = Text(name);
        var start = text.IndexOf("\"id\": \"evt_", StringComparison.Ordinal);
        var end = text.IndexOf('"', start + 7);
        text = string.Concat(text.AsSpan(0, start), "\"id\": \"", eventId, text.AsSpan(end));
        if (livemode is { } live)
        {
            // The envelope's livemode is the last one in these fixtures (data.object's comes first).
            var at = text.LastIndexOf("\"livemode\": ", StringComparison.Ordinal);
            var valueEnd = text.IndexOfAny([',', '\n'], at);
            text = string.Concat(text.AsSpan(0, at), "\"livemode\": ", live ? "true" : "false", text.AsSpan(valueEnd));
        }

        if (type is not null)
        {
            var at = text.LastIndexOf("\"type\": \"", StringComparison.Ordinal);
            var valueEnd = text.IndexOf('"', at + 9);
            text = string.Concat(text.AsSpan(0, at), "\"type\": \"", type, text.AsSpan(valueEnd));
        }

        return text;
    }

    /// <summary>A fresh unique event id.</summary>
    public static string NewEventId() => "evt_test" + Guid.NewGuid().ToString("N")[..20];

    /// <summary>
    /// A <c>Stripe-Signature</c> header for <paramref name="body"/>, computed here independently of the code under
    /// test (HMAC-SHA256 over <c>t.body</c>, lowercase hex), with one <c>v1</c> per secret.
    /// </summary>
    public static string SignatureHeader(byte[] body, long timestamp, params string[] secrets)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(secrets);
        var prefix = Encoding.UTF8.GetBytes(timestamp.ToString(CultureInfo.InvariantCulture) + ".");
        var signed = new byte[prefix.Length + body.Length];
        prefix.CopyTo(signed, 0);
        body.CopyTo(signed, prefix.Length);
        var parts = new List<string> { "t=" + timestamp.ToString(CultureInfo.InvariantCulture) };
        foreach (var secret in secrets)
        {
            var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed);
            parts.Add("v1=" + Convert.ToHexStringLower(mac));
        }

        return string.Join(',', parts);
    }
}
