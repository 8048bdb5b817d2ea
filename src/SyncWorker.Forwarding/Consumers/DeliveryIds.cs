using System.Security.Cryptography;
using System.Text;

namespace SyncWorker.Forwarding.Consumers;

/// <summary>
/// The Standard Webhooks <c>webhook-id</c> (also sent as <c>Idempotency-Key</c>) of a delivery: a hash of target, subject
/// (the order id, or the event id for raw events) and action. Retries, replays and duplicate Stripe events of the same
/// logical delivery therefore carry the same id, and the target can drop repeats; two targets never share one.
/// </summary>
public static class DeliveryIds
{
    /// <summary><c>msg_</c> + 32 lower-case hex characters.</summary>
    public static string For(string target, string subject, string action)
    {
        ArgumentException.ThrowIfNullOrEmpty(target);
        ArgumentException.ThrowIfNullOrEmpty(subject);
        ArgumentException.ThrowIfNullOrEmpty(action);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{target}\n{subject}\n{action}"));
        return "msg_" + Convert.ToHexStringLower(hash.AsSpan(0, 16));
    }
}
