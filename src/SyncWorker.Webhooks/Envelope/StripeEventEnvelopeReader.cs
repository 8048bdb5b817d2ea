using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;

namespace SyncWorker.Webhooks.Envelope;

/// <summary>
/// Reads the routing fields of a Stripe snapshot event (<see cref="StripeEventEnvelope"/>) in one
/// forward pass of a <see cref="Utf8JsonReader"/> over the raw body. Every other value is skipped
/// with <see cref="Utf8JsonReader.Skip"/>: no <see cref="JsonDocument"/> is built and the event is
/// never deserialised, so payload size and unknown fields cost only a scan.
/// </summary>
/// <remarks>
/// <para>The whole body must be one well-formed JSON object (a leading UTF-8 byte-order mark is tolerated).</para>
/// <para>
/// Duplicate keys are refused for the fields read here (top level: <c>id</c>, <c>object</c>,
/// <c>type</c>, <c>account</c>, <c>livemode</c>, <c>api_version</c>, <c>created</c>, <c>data</c>;
/// <c>data.object</c>; <c>data.object.object</c> and <c>data.object.id</c>). Stripe never sends them,
/// and parsers disagree on which duplicate wins, so accepting one would let the routing seen here
/// differ from what a downstream parser sees. Duplicates of other keys are not looked for.
/// </para>
/// <para>When several fields are wrong, the error names the first in this order: <c>object</c>,
/// <c>id</c>, <c>type</c>, <c>created</c>, <c>livemode</c>, <c>account</c>, <c>api_version</c>,
/// <c>data</c>, <c>data.object</c>, <c>data.object.object</c>, <c>data.object.id</c>.</para>
/// </remarks>
public static class StripeEventEnvelopeReader
{
    private const string OneJsonObject = "Stripe sends each event as one UTF-8 JSON object with \"object\": \"event\".";
    private const int MaxEchoedLength = 40;

    /// <summary>
    /// Reads the envelope of <paramref name="utf8Json"/>. On failure, <paramref name="error"/> is a
    /// sentence for the <c>detail</c> of a 400 problem body; it never quotes payload data beyond a
    /// short <c>object</c> value.
    /// </summary>
    public static bool TryRead(
        ReadOnlySpan<byte> utf8Json,
        [NotNullWhen(true)] out StripeEventEnvelope? envelope,
        [NotNullWhen(false)] out string? error)
    {
        envelope = null;
        if (utf8Json.StartsWith("\uFEFF"u8))
        {
            utf8Json = utf8Json[3..];
        }

        var fields = new Fields();
        try
        {
            var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
            error = ReadTopLevel(ref reader, ref fields);
        }
        catch (JsonException ex)
        {
            error = string.Create(
                CultureInfo.InvariantCulture,
                $"The request body is not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1} of that line). {OneJsonObject}");
        }
        catch (InvalidOperationException)
        {
            // Thrown by GetString for a string that is not valid UTF-8 / UTF-16.
            error = $"The request body contains a string that is not valid UTF-8. {OneJsonObject}";
        }

        error ??= fields.Validate();
        if (error is not null)
        {
            return false;
        }

        envelope = new StripeEventEnvelope(
            fields.Id!,
            fields.Type!,
            fields.Account,
            fields.Livemode!.Value,
            fields.ApiVersion,
            fields.Created!.Value,
            fields.ObjectType!,
            fields.ObjectId);
        return true;
    }

    private static string? ReadTopLevel(ref Utf8JsonReader reader, ref Fields fields)
    {
        if (!reader.Read())
        {
            return $"The request body is empty. {OneJsonObject}";
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return $"The request body is a JSON {Describe(reader.TokenType)}, not an object. {OneJsonObject}";
        }

        TopKeys seen = TopKeys.None;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            TopKeys key = ClassifyTopLevel(ref reader);
            if (key != TopKeys.None)
            {
                if ((seen & key) != 0)
                {
                    return Duplicate(TopLevelName(key));
                }

                seen |= key;
            }

            switch (key)
            {
                case TopKeys.Id:
                    fields.IdState = ReadString(ref reader, out fields.Id);
                    break;
                case TopKeys.Object:
                    fields.ObjectState = ReadString(ref reader, out fields.Object);
                    break;
                case TopKeys.Type:
                    fields.TypeState = ReadString(ref reader, out fields.Type);
                    break;
                case TopKeys.Account:
                    fields.AccountState = ReadString(ref reader, out fields.Account);
                    break;
                case TopKeys.ApiVersion:
                    fields.ApiVersionState = ReadString(ref reader, out fields.ApiVersion);
                    break;
                case TopKeys.Livemode:
                    reader.Read();
                    fields.Livemode = reader.TokenType switch
                    {
                        JsonTokenType.True => true,
                        JsonTokenType.False => false,
                        _ => null,
                    };
                    SkipContainer(ref reader);
                    break;
                case TopKeys.Created:
                    reader.Read();
                    fields.Created = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long created) ? created : null;
                    SkipContainer(ref reader);
                    break;
                case TopKeys.Data:
                    reader.Read();
                    fields.DataIsObject = reader.TokenType == JsonTokenType.StartObject;
                    if (fields.DataIsObject)
                    {
                        string? dataError = ReadData(ref reader, ref fields);
                        if (dataError is not null)
                        {
                            return dataError;
                        }
                    }
                    else
                    {
                        SkipContainer(ref reader);
                    }

                    break;
                default:
                    reader.Skip();
                    break;
            }
        }

        // The reader refuses trailing content after the root object by throwing on the next Read.
        return reader.TokenType == JsonTokenType.EndObject && !reader.Read()
            ? null
            : $"The request body is not one JSON object. {OneJsonObject}";
    }

    private static string? ReadData(ref Utf8JsonReader reader, ref Fields fields)
    {
        bool seenObject = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (!reader.ValueTextEquals("object"u8))
            {
                reader.Skip();
                continue;
            }

            if (seenObject)
            {
                return Duplicate("data.object");
            }

            seenObject = true;
            reader.Read();
            fields.DataObjectState = reader.TokenType switch
            {
                JsonTokenType.StartObject => FieldState.Present,
                JsonTokenType.Null => FieldState.Null,
                _ => FieldState.WrongType,
            };
            if (fields.DataObjectState != FieldState.Present)
            {
                SkipContainer(ref reader);
                continue;
            }

            string? error = ReadDataObject(ref reader, ref fields);
            if (error is not null)
            {
                return error;
            }
        }

        return null;
    }

    private static string? ReadDataObject(ref Utf8JsonReader reader, ref Fields fields)
    {
        bool seenObject = false;
        bool seenId = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("object"u8))
            {
                if (seenObject)
                {
                    return Duplicate("data.object.object");
                }

                seenObject = true;
                fields.ObjectTypeState = ReadString(ref reader, out fields.ObjectType);
            }
            else if (reader.ValueTextEquals("id"u8))
            {
                if (seenId)
                {
                    return Duplicate("data.object.id");
                }

                seenId = true;
                fields.ObjectIdState = ReadString(ref reader, out fields.ObjectId);
            }
            else
            {
                reader.Skip();
            }
        }

        return null;
    }

    /// <summary>Moves from a property name to its value and reads it if it is a string.</summary>
    private static FieldState ReadString(ref Utf8JsonReader reader, out string? value)
    {
        reader.Read();
        value = null;
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                value = reader.GetString();
                return FieldState.Present;
            case JsonTokenType.Null:
                return FieldState.Null;
            default:
                SkipContainer(ref reader);
                return FieldState.WrongType;
        }
    }

    /// <summary>On a value token: skips the rest of it when it is an object or array.</summary>
    private static void SkipContainer(ref Utf8JsonReader reader)
    {
        if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
        {
            reader.Skip();
        }
    }

    private static TopKeys ClassifyTopLevel(ref Utf8JsonReader reader) =>
        reader.ValueTextEquals("id"u8) ? TopKeys.Id
        : reader.ValueTextEquals("object"u8) ? TopKeys.Object
        : reader.ValueTextEquals("type"u8) ? TopKeys.Type
        : reader.ValueTextEquals("account"u8) ? TopKeys.Account
        : reader.ValueTextEquals("livemode"u8) ? TopKeys.Livemode
        : reader.ValueTextEquals("api_version"u8) ? TopKeys.ApiVersion
        : reader.ValueTextEquals("created"u8) ? TopKeys.Created
        : reader.ValueTextEquals("data"u8) ? TopKeys.Data
        : TopKeys.None;

    private static string TopLevelName(TopKeys key) => key switch
    {
        TopKeys.Id => "id",
        TopKeys.Object => "object",
        TopKeys.Type => "type",
        TopKeys.Account => "account",
        TopKeys.Livemode => "livemode",
        TopKeys.ApiVersion => "api_version",
        TopKeys.Created => "created",
        _ => "data",
    };

    private static string Duplicate(string key) =>
        $"The event has the key \"{key}\" more than once. Stripe never sends duplicate keys, and they are refused because JSON parsers disagree on which one wins.";

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.StartArray => "array",
        JsonTokenType.String => "string",
        JsonTokenType.Number => "number",
        JsonTokenType.True or JsonTokenType.False => "boolean",
        JsonTokenType.Null => "null",
        _ => "value",
    };

    private enum FieldState
    {
        Missing,
        Present,
        Null,
        WrongType,
    }

    [Flags]
    private enum TopKeys
    {
        None = 0,
        Id = 1,
        Object = 2,
        Type = 4,
        Account = 8,
        Livemode = 16,
        ApiVersion = 32,
        Created = 64,
        Data = 128,
    }

    /// <summary>What the single pass found; validated afterwards in a fixed order.</summary>
    private struct Fields
    {
        public string? Id;
        public FieldState IdState;
        public string? Object;
        public FieldState ObjectState;
        public string? Type;
        public FieldState TypeState;
        public string? Account;
        public FieldState AccountState;
        public string? ApiVersion;
        public FieldState ApiVersionState;
        public bool? Livemode;
        public long? Created;
        public bool DataIsObject;
        public FieldState DataObjectState;
        public string? ObjectType;
        public FieldState ObjectTypeState;
        public string? ObjectId;
        public FieldState ObjectIdState;

        public readonly string? Validate()
        {
            if (ObjectState != FieldState.Present)
            {
                return $"The body has no \"object\" string field. {OneJsonObject}";
            }

            if (Object == "v2.core.event")
            {
                return "The body is a thin event notification (\"object\": \"v2.core.event\"), which carries only a reference to the changed object. "
                    + "SyncWorker needs snapshot events, which carry the full object in data.object: "
                    + "send v1 (snapshot) events to this endpoint, and configure thin events on another destination if they are needed.";
            }

            if (Object != "event")
            {
                string shown = Object!.Length > MaxEchoedLength ? Object[..MaxEchoedLength] + "…" : Object;
                return $"The body's \"object\" is \"{shown}\", not \"event\": this endpoint accepts only Stripe webhook events, not API responses or other objects.";
            }

            if (IdState != FieldState.Present || string.IsNullOrEmpty(Id))
            {
                return "The event has no \"id\" string; Stripe event ids start with evt_.";
            }

            if (!Id.StartsWith("evt_", StringComparison.Ordinal))
            {
                return "The event's \"id\" does not start with evt_, so it is not a Stripe event id.";
            }

            if (TypeState != FieldState.Present || string.IsNullOrEmpty(Type))
            {
                return "The event has no \"type\" (or it is empty), so it cannot be routed.";
            }

            if (Created is null)
            {
                return "The event's \"created\" is missing or not an integer number of Unix seconds.";
            }

            if (Livemode is null)
            {
                return "The event's \"livemode\" is missing or not true/false.";
            }

            if (AccountState == FieldState.WrongType)
            {
                return "The event's \"account\" is neither a string nor null.";
            }

            if (ApiVersionState == FieldState.WrongType)
            {
                return "The event's \"api_version\" is neither a string nor null.";
            }

            if (!DataIsObject)
            {
                return "The event has no \"data\" object; snapshot events carry the object they describe in data.object.";
            }

            if (DataObjectState != FieldState.Present)
            {
                return "The event's data.object is missing or not a JSON object; snapshot events carry the object they describe there.";
            }

            if (ObjectTypeState != FieldState.Present || string.IsNullOrEmpty(ObjectType))
            {
                return "The event's data.object has no \"object\" string naming its type.";
            }

            if (ObjectIdState == FieldState.WrongType)
            {
                return "The event's data.object.id is neither a string nor null.";
            }

            return null;
        }
    }
}
