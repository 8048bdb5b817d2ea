using System.Diagnostics;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace SyncWorker.LoadHarness;

/// <summary>One reading of the queues: seconds since the phase began, and ready messages of all of them.</summary>
internal sealed record DepthSample(double Seconds, long Total);

/// <summary>
/// Reads ready-message counts of chosen queues every 500 ms with passive declares on its own connection (cheap for the
/// broker, unlike starting rabbitmqctl, whose Erlang VM would cost more CPU than it measures).
/// </summary>
internal sealed class QueueSampler : IAsyncDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);
    private readonly IConnection _connection;
    private readonly IReadOnlyList<string> _queues;
    private readonly long _origin;
    private readonly List<DepthSample> _samples = [];
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private QueueSampler(IConnection connection, IReadOnlyList<string> queues, long origin)
    {
        _connection = connection;
        _queues = queues;
        _origin = origin;
        _loop = Task.Run(LoopAsync);
    }

    public static async Task<QueueSampler> StartAsync(Uri amqp, IReadOnlyList<string> queues, long origin)
    {
        var connection = await new ConnectionFactory { Uri = amqp, ClientProvidedName = "load-harness-sampler" }.CreateConnectionAsync();
        return new QueueSampler(connection, queues, origin);
    }

    public IReadOnlyList<DepthSample> Samples()
    {
        lock (_lock)
        {
            return [.. _samples];
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        await _connection.DisposeAsync();
        _stop.Dispose();
    }

    private async Task LoopAsync()
    {
        IChannel? channel = null;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                channel ??= await _connection.CreateChannelAsync();
                long total = 0;
                foreach (var queue in _queues)
                {
                    total += (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
                }

                lock (_lock)
                {
                    _samples.Add(new DepthSample(Stopwatch.GetElapsedTime(_origin).TotalSeconds, total));
                }
            }
            catch (Exception exception) when (exception is OperationInterruptedException or AlreadyClosedException)
            {
                // A queue not declared yet closes the channel: open another next time.
                channel = null;
            }

            try
            {
                await Task.Delay(Interval, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        if (channel is not null)
        {
            await channel.DisposeAsync();
        }
    }
}
