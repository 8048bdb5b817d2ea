using MassTransit;

namespace SyncWorker.Forwarding.Consumers;

/// <summary>Transport-specific send settings, kept in one place.</summary>
internal static class TransportSettings
{
    /// <summary>
    /// On RabbitMQ, a send no queue takes is returned by the broker and fails the send (instead of vanishing); the
    /// dispatcher then does not acknowledge the intake message. Other transports ignore this.
    /// </summary>
    public static void MakeMandatory(SendContext context)
    {
        if (context is RabbitMqSendContext rabbit)
        {
            rabbit.Mandatory = true;
        }
    }
}
