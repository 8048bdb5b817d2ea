using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SyncWorker.Contracts;

/// <summary>
/// JSON text held as its UTF-8 bytes: a Stripe event exactly as Stripe signed it, or an order document. That is the form
/// it arrives in and the form it is posted in, so it is never turned into UTF-16 text on the way (an 8 KB event would take
/// 16 KB as a string, each time). In JSON messages it is written and read as a JSON string (<c>"payload": "{…}"</c>), as
/// the string it replaces was, so messages of earlier versions are read and earlier versions read these.
/// </summary>
[JsonConverter(typeof(JsonBytesConverter))]
public sealed class JsonBytes : IEquatable<JsonBytes>
{
    private readonly ReadOnlyMemory<byte> _utf8;

    /// <summary>The JSON made of <paramref name="utf8"/>, which the caller no longer changes (it is not copied).</summary>
    public JsonBytes(ReadOnlyMemory<byte> utf8) => _utf8 = utf8;

    /// <summary>Nothing (a delivery whose body is its order document carries no event payload).</summary>
    public static JsonBytes Empty { get; } = new(ReadOnlyMemory<byte>.Empty);

    /// <summary>The UTF-8 bytes.</summary>
    public ReadOnlyMemory<byte> Utf8 => _utf8;

    /// <summary>Length in bytes.</summary>
    public int Length => _utf8.Length;

    /// <summary>The JSON text <paramref name="json"/>, encoded to UTF-8.</summary>
    public static JsonBytes FromString(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        return new JsonBytes(Encoding.UTF8.GetBytes(json));
    }

    /// <summary>Text from a string (tests, fixtures, tools): encoded once to UTF-8.</summary>
    public static implicit operator JsonBytes(string json) => FromString(json);

    /// <summary>The JSON as text (decodes the bytes: for tools and tests, not the delivery path).</summary>
    public override string ToString() => Encoding.UTF8.GetString(_utf8.Span);

    /// <inheritdoc />
    public bool Equals(JsonBytes? other) => other is not null && _utf8.Span.SequenceEqual(other._utf8.Span);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is JsonBytes other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_utf8.Span);
        return hash.ToHashCode();
    }
}

/// <summary>
/// Writes a <see cref="JsonBytes"/> as a JSON string and reads a JSON string straight into UTF-8 bytes
/// (<see cref="Utf8JsonReader.CopyString(Span{byte})"/> unescapes without going through UTF-16).
/// </summary>
public sealed class JsonBytesConverter : JsonConverter<JsonBytes>
{
    /// <inheritdoc />
    public override JsonBytes? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException($"JSON carried in a message is a JSON string, not {reader.TokenType}.");
        }

        var length = reader.HasValueSequence ? checked((int)reader.ValueSequence.Length) : reader.ValueSpan.Length;
        if (!reader.ValueIsEscaped)
        {
            var exact = new byte[length];
            reader.CopyString(exact);
            return new JsonBytes(exact);
        }

        // Unescaping never makes the value longer than its escaped form: unescape into a pooled buffer, keep the exact bytes.
        var rented = System.Buffers.ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var written = reader.CopyString(rented);
            return new JsonBytes(rented.AsSpan(0, written).ToArray());
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, JsonBytes value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        writer.WriteStringValue(value.Utf8.Span);
    }
}
