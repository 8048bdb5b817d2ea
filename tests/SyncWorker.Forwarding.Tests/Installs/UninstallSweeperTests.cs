using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using SyncWorker.Forwarding.Installs;
using SyncWorker.Store.Installs;

namespace SyncWorker.Forwarding.Tests.Installs;

/// <summary>
/// When <see cref="UninstallSweeper"/> sweeps, and for whom: at once for an uninstall this forwarder applies, then every
/// uninstalled account on its clock (a <see cref="FakeTimeProvider"/>), again soon after a failed round. The broker side
/// is a stand-in that records each round.
/// </summary>
public sealed class UninstallSweeperTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Created = new(2026, 11, 1, 9, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task An_uninstall_is_swept_at_once_for_that_account_and_every_uninstalled_account_on_each_interval()
    {
        var time = new FakeTimeProvider(Start);
        var requests = new UninstallSweepRequests();
        var installs = new InstallState(new NoRegistry(), time, NullLogger<InstallState>.Instance, requests);
        var sweep = new RecordingSweep();
        using var sweeper = new UninstallSweeper(requests, installs, sweep, time, NullLogger<UninstallSweeper>.Instance);
        installs.Apply(Uninstall("acct_old", livemode: true));
        await sweeper.StartAsync(CancellationToken.None);

        Assert.That(await sweep.NextAsync(), Is.EquivalentTo(new[] { ("acct_old", true) }), "the uninstall applied before start");

        installs.Apply(Uninstall("acct_new", livemode: false));
        Assert.That(await sweep.NextAsync(), Is.EquivalentTo(new[] { ("acct_new", false) }), "only the account that just uninstalled");

        // An install is not a reason to sweep.
        installs.Apply(Uninstall("acct_back", livemode: true) with { Status = InstallStatus.Installed });

        time.Advance(UninstallSweeper.FirstRoundDelay);
        Assert.That(await sweep.NextAsync(), Is.EquivalentTo(new[] { ("acct_old", true), ("acct_new", false) }), "every uninstalled account");

        time.Advance(UninstallSweeper.Interval);
        Assert.That(await sweep.NextAsync(), Is.EquivalentTo(new[] { ("acct_old", true), ("acct_new", false) }), "again an interval later");

        await sweeper.StopAsync(CancellationToken.None);
        Assert.That(sweep.Rounds, Is.EqualTo(4), "no other round");
    }

    [Test]
    public async Task A_round_that_fails_is_logged_and_run_again_after_the_retry_delay_without_stopping_the_service()
    {
        var time = new FakeTimeProvider(Start);
        var requests = new UninstallSweepRequests();
        var installs = new InstallState(new NoRegistry(), time, NullLogger<InstallState>.Instance, requests);
        var sweep = new RecordingSweep { Failures = 2 };
        using var sweeper = new UninstallSweeper(requests, installs, sweep, time, NullLogger<UninstallSweeper>.Instance);
        await sweeper.StartAsync(CancellationToken.None);

        installs.Apply(Uninstall("acct_gone", livemode: true));
        Assert.That(await sweep.NextAsync(), Is.EquivalentTo(new[] { ("acct_gone", true) }), "tried at once; the broker is down");

        time.Advance(UninstallSweeper.RetryDelay);
        Assert.That(await sweep.NextAsync(), Is.EquivalentTo(new[] { ("acct_gone", true) }), "tried again; still down");

        time.Advance(UninstallSweeper.RetryDelay);
        Assert.That(await sweep.NextAsync(), Is.EquivalentTo(new[] { ("acct_gone", true) }), "and again, now with success");
        Assert.That(sweeper.ExecuteTask!.IsCompleted, Is.False, "the service keeps running");

        await sweeper.StopAsync(CancellationToken.None);
        Assert.That(sweep.Rounds, Is.EqualTo(3));
    }

    [Test]
    public async Task A_request_for_an_account_installed_again_before_its_round_is_dropped()
    {
        var time = new FakeTimeProvider(Start);
        var requests = new UninstallSweepRequests();
        var installs = new InstallState(new NoRegistry(), time, NullLogger<InstallState>.Instance, requests);
        var sweep = new RecordingSweep();
        using var sweeper = new UninstallSweeper(requests, installs, sweep, time, NullLogger<UninstallSweeper>.Instance);
        installs.Apply(Uninstall("acct_back", livemode: true));
        installs.Apply(Uninstall("acct_back", livemode: true) with { Status = InstallStatus.Installed });
        installs.Apply(Uninstall("acct_gone", livemode: true));
        await sweeper.StartAsync(CancellationToken.None);

        Assert.That(await sweep.NextAsync(), Is.EquivalentTo(new[] { ("acct_gone", true) }));
        await sweeper.StopAsync(CancellationToken.None);
    }

    private static InstallChange Uninstall(string account, bool livemode) =>
        new(account, livemode, InstallStatus.Uninstalled, null, null, "evt_" + account, Created);

    /// <summary>Records each round's accounts; the first <see cref="Failures"/> rounds throw as an unreachable broker does.</summary>
    private sealed class RecordingSweep : IUninstalledDeadLetterSweep
    {
        private readonly Channel<IReadOnlySet<(string Account, bool Livemode)>> _rounds = Channel.CreateUnbounded<IReadOnlySet<(string Account, bool Livemode)>>();
        private int _count;

        public int Failures { get; set; }

        public int Rounds => Volatile.Read(ref _count);

        public Task<SweepResult> SweepAsync(IReadOnlySet<(string Account, bool Livemode)> accounts, CancellationToken cancellationToken)
        {
            var round = Interlocked.Increment(ref _count);
            _rounds.Writer.TryWrite(accounts.ToHashSet());
            return round <= Failures
                ? Task.FromException<SweepResult>(new IOException("connection refused"))
                : Task.FromResult(new SweepResult(accounts.Count, Incomplete: false));
        }

        /// <summary>The next round's accounts, waiting for it up to a deadline.</summary>
        public async Task<IReadOnlySet<(string Account, bool Livemode)>> NextAsync() =>
            await _rounds.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>A registry never read here: the copy changes only by <see cref="InstallState.Apply"/>.</summary>
    private sealed class NoRegistry : IInstallRegistry
    {
        public Task<bool> ApplyAsync(InstallChange change, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<InstallRecord?> GetAsync(string account, bool livemode, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<InstallRecord>> ListAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<(string Account, bool Livemode)>> UninstalledAsync(CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
