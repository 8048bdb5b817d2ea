using System.Threading.Channels;

namespace SyncWorker.Forwarding.Installs;

/// <summary>
/// The accounts (and modes) whose dead letters <see cref="UninstallSweeper"/> should sweep now: <see cref="InstallState"/>
/// asks when this forwarder applies an uninstall; the sweeper takes the requests. Unbounded: a request is a pair of
/// strings, and the sweeper takes them all each round.
/// </summary>
public sealed class UninstallSweepRequests
{
    private readonly Channel<(string Account, bool Livemode)> _requests =
        Channel.CreateUnbounded<(string Account, bool Livemode)>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>Asks for a sweep of <paramref name="account"/>'s dead letters in that mode.</summary>
    public void Request(string account, bool livemode)
    {
        ArgumentException.ThrowIfNullOrEmpty(account);
        _requests.Writer.TryWrite((account, livemode));
    }

    /// <summary>
    /// Waits until a request is there or <paramref name="timeout"/> (on <paramref name="time"/>) has passed; true when one
    /// is there.
    /// </summary>
    public async Task<bool> WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(time);
        if (_requests.Reader.TryPeek(out _))
        {
            return true;
        }

        if (timeout <= TimeSpan.Zero)
        {
            return false;
        }

        using var timer = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timer.Token, cancellationToken);
        try
        {
            return await _requests.Reader.WaitToReadAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Takes every request waiting now.</summary>
    public void TakeAll(ISet<(string Account, bool Livemode)> into)
    {
        ArgumentNullException.ThrowIfNull(into);
        while (_requests.Reader.TryRead(out var request))
        {
            into.Add(request);
        }
    }
}
