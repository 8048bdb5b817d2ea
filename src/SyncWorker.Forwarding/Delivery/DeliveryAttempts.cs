using System.Net;

namespace SyncWorker.Forwarding.Delivery;

/// <summary>
/// Per-request state shared by <see cref="HttpTargetSender"/> and <see cref="StandardWebhookHandler"/>, carried in
/// <see cref="HttpRequestMessage.Options"/>: what to sign, and what the attempts saw (for the report and the failure
/// message). Attempts of one request run one after another, never at once.
/// </summary>
internal sealed class DeliveryAttempts(TargetDelivery delivery)
{
    /// <summary>The <see cref="HttpRequestMessage.Options"/> key.</summary>
    public static readonly HttpRequestOptionsKey<DeliveryAttempts> Key = new("SyncWorker.Delivery.Attempts");

    private int _count;

    public TargetDelivery Delivery { get; } = delivery;

    /// <summary>Attempts that reached the inner handler (an open circuit stops one before it does).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>The status of the last answer, or <see langword="null"/> when the last attempt got none.</summary>
    public HttpStatusCode? LastStatus { get; private set; }

    /// <summary>What the last attempt threw instead of answering, if it did.</summary>
    public Exception? LastException { get; private set; }

    public void Begin() => Interlocked.Increment(ref _count);

    public void Answered(HttpResponseMessage response)
    {
        LastStatus = response.StatusCode;
        LastException = null;
    }

    public void Threw(Exception exception)
    {
        LastStatus = null;
        LastException = exception;
    }
}
