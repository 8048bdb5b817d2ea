using System.Globalization;
using MassTransit;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;

namespace SyncWorker.Forwarding.Consumers;

/// <summary>
/// Adds why a delivery failed to the message moved to the target's dead-letter (<c>_error</c>) queue, as headers an
/// operator (and the replay tooling) can read without parsing exception text: <c>SyncWorker-Failure-Reason</c>,
/// <c>-Status</c> (last HTTP status), <c>-Attempts</c>, <c>-Permanent</c> and <c>SyncWorker-Failed-At</c>. MassTransit's
/// own <c>MT-Fault-*</c> headers are kept.
/// </summary>
public sealed class DeadLetterReasonFilter(TimeProvider timeProvider) : IFilter<ExceptionReceiveContext>
{
    /// <inheritdoc />
    public Task Send(ExceptionReceiveContext context, IPipe<ExceptionReceiveContext> next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var headers = context.ExceptionHeaders;
        var failure = Find(context.Exception);
        headers.Set(DeliveryHeaders.FailureReason, failure?.Message ?? $"{context.Exception.GetType().Name}: {context.Exception.Message}");
        headers.Set(DeliveryHeaders.FailedAt, timeProvider.GetUtcNow().ToString("O", CultureInfo.InvariantCulture));
        if (failure is not null)
        {
            headers.Set(DeliveryHeaders.FailurePermanent, failure.IsPermanent ? "true" : "false");
            headers.Set(DeliveryHeaders.FailureAttempts, failure.Attempts.ToString(CultureInfo.InvariantCulture));
            if (failure.StatusCode is { } status)
            {
                headers.Set(DeliveryHeaders.FailureStatus, status.ToString(CultureInfo.InvariantCulture));
            }
        }

        return next.Send(context);
    }

    /// <inheritdoc />
    public void Probe(ProbeContext context) => context.CreateFilterScope("syncworker-dead-letter-reason");

    private static DeliveryFailedException? Find(Exception? exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is DeliveryFailedException failure)
            {
                return failure;
            }
        }

        return null;
    }
}
