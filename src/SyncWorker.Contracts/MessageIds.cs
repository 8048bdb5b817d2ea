using System.Security.Cryptography;
using System.Text;

namespace SyncWorker.Contracts;

/// <summary>
/// Transport message ids derived from Stripe ids. RabbitMQ and MassTransit carry a GUID message id;
/// Stripe's ids are strings, so the id is a name-based UUID (RFC 9562 version 5, SHA-1) of the Stripe
/// event id: the same event always gets the same message id, whichever instance received it.
/// </summary>
public static class MessageIds
{
    // A fixed namespace for SyncWorker's Stripe event ids (a random UUID, chosen once).
    private static readonly Guid StripeEventNamespace = new("6f0c39d4-3c0e-4f3b-9d8e-5a4a2f1c7b21");

    // Another fixed namespace, for deliveries to targets (see FulfillmentDelivery.DeliveryId).
    private static readonly Guid DeliveryNamespace = new("0b8f6a52-9d4e-4c1a-8f3e-2d7c5b9a1e64");

    /// <summary>The message id for a Stripe event id.</summary>
    public static Guid ForStripeEvent(string eventId)
    {
        ArgumentException.ThrowIfNullOrEmpty(eventId);
        return NameBased(StripeEventNamespace, eventId);
    }

    /// <summary>The message id for a delivery id: repeats of one delivery carry one message id.</summary>
    public static Guid ForDelivery(string deliveryId)
    {
        ArgumentException.ThrowIfNullOrEmpty(deliveryId);
        return NameBased(DeliveryNamespace, deliveryId);
    }

    private static Guid NameBased(Guid @namespace, string name)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name);
        var input = new byte[16 + nameBytes.Length];
        @namespace.TryWriteBytes(input, bigEndian: true, out _);
        nameBytes.CopyTo(input, 16);
#pragma warning disable CA5350 // SHA-1 is what RFC 9562 specifies for version-5 UUIDs; this is an identifier, not security.
        var hash = SHA1.HashData(input);
#pragma warning restore CA5350
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true);
    }
}
