using System.Net;

namespace SyncWorker.Forwarding.Delivery;

/// <summary>
/// Per-request state shared by <see cref="HttpTargetSender"/> and <see cref="StandardWebhookHandler"/>, carried in
/// <see cref="HttpRequestMessage.Options"/>: what to sign, and what the attempts saw (for the report, the failure
/// message and the ledger's attempt history). Attempts of one request run one after another, never at once.
/// </summary>
internal sealed class DeliveryAttempts(TargetDelivery delivery, TimeProvider time)
{
    /// <summary>The <see cref="HttpRequestMessage.Options"/> key.</summary>
    public static readonly HttpRequestOptionsKey<DeliveryAttempts> Key = new("SyncWorker.Delivery.Attempts");

    private readonly List<SentRequest> _sent = [];
    private int _count;
    private DateTimeOffset _startedAt;
    private long _startedTimestamp;

    public TargetDelivery Delivery { get; } = delivery;

    /// <summary>Attempts that reached the inner handler (an open circuit stops one before it does).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>The status of the last answer, or <see langword="null"/> when the last attempt got none.</summary>
    public HttpStatusCode? LastStatus { get; private set; }

    /// <summary>What the last attempt threw instead of answering, if it did.</summary>
    public Exception? LastException { get; private set; }

    /// <summary>Each attempt that reached the inner handler and ended, oldest first.</summary>
    public IReadOnlyList<SentRequest> Sent
    {
        get
        {
            lock (_sent)
            {
                return _sent.ToArray();
            }
        }
    }

    public void Begin()
    {
        Interlocked.Increment(ref _count);
        _startedAt = time.GetUtcNow();
        _startedTimestamp = time.GetTimestamp();
    }

    public void Answered(HttpResponseMessage response)
    {
        LastStatus = response.StatusCode;
        LastException = null;
        Add((int)response.StatusCode, errorClass: null);
    }

    public void Threw(Exception exception)
    {
        LastStatus = null;
        LastException = exception;
        Add(status: null, SentRequest.ErrorClassOf(exception));
    }

    private void Add(int? status, string? errorClass)
    {
        lock (_sent)
        {
            _sent.Add(new SentRequest(_startedAt, time.GetElapsedTime(_startedTimestamp), status, errorClass));
        }
    }
}
