namespace SyncWorker.Store;

/// <summary>
/// Waiting for the store instead of failing: work that throws <see cref="StoreUnavailableException"/> is tried again
/// after <see cref="FirstWait"/>, doubling up to <see cref="MaxWait"/>, until it succeeds or the caller is cancelled. Used
/// where failing would dead-letter or redeliver something for a store outage (the forward stage's ledger calls, the
/// dispatcher's install events).
/// </summary>
public static class StoreWaits
{
    /// <summary>The first wait after an outage was met.</summary>
    public static readonly TimeSpan FirstWait = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest wait between two tries.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Runs <paramref name="work"/> until the store answers. <paramref name="waiting"/> is told once, at the first outage
    /// met (with its message); <paramref name="back"/> once the work succeeded after it.
    /// </summary>
    public static async Task<T> WhileUnavailableAsync<T>(
        Func<CancellationToken, Task<T>> work, TimeProvider time, Action<string>? waiting, Action? back, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        ArgumentNullException.ThrowIfNull(time);
        var wait = FirstWait;
        var told = false;
        while (true)
        {
            try
            {
                var result = await work(cancellationToken).ConfigureAwait(false);
                if (told)
                {
                    back?.Invoke();
                }

                return result;
            }
            catch (StoreUnavailableException exception) when (!cancellationToken.IsCancellationRequested)
            {
                if (!told)
                {
                    waiting?.Invoke(exception.Message);
                    told = true;
                }
            }

            await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
            wait = TimeSpan.FromTicks(Math.Min(MaxWait.Ticks, wait.Ticks * 2));
        }
    }
}
