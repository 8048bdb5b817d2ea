using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace SyncWorker.Messaging.Broker;

public static class Channels
{
    /// <summary>
    /// Closes a channel, which makes the broker requeue every message still unacknowledged on it, in its original
    /// position. A channel the broker already closed has nothing left to requeue, so that is not an error.
    /// </summary>
    public static async Task CloseAndDisposeAsync(IChannel channel)
    {
        try
        {
            if (channel.IsOpen)
            {
                await channel.CloseAsync(CancellationToken.None);
            }
        }
        catch (Exception exception) when (exception is AlreadyClosedException or OperationInterruptedException or IOException)
        {
            // The broker or the connection closed it first; its unacknowledged messages are requeued either way.
        }
        finally
        {
            await channel.DisposeAsync();
        }
    }
}
