using Microsoft.Extensions.Time.Testing;
using SyncWorker.Forwarding.Consumers;

namespace SyncWorker.Forwarding.Tests.Consumers;

/// <summary>What a forwarder knows of a target's pauses: only what it saw, per target.</summary>
[TestFixture]
public sealed class TargetPauseHistoryTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 2, 9, 0, 0, TimeSpan.Zero);

    [Test]
    public void Only_the_part_of_a_window_inside_a_seen_pause_counts()
    {
        var time = new FakeTimeProvider(Start);
        var history = new TargetPauseHistory(time);
        history.Observe("wms", paused: false);
        time.Advance(TimeSpan.FromHours(1));
        history.Observe("wms", paused: true);   // paused from 10:00
        time.Advance(TimeSpan.FromHours(2));
        history.Observe("wms", paused: true);   // still paused: nothing changes
        time.Advance(TimeSpan.FromHours(1));
        history.Observe("wms", paused: false);  // resumed at 13:00
        time.Advance(TimeSpan.FromHours(1));

        Assert.Multiple(() =>
        {
            Assert.That(history.PausedBetween("wms", Start, time.GetUtcNow()), Is.EqualTo(TimeSpan.FromHours(3)));
            Assert.That(history.PausedBetween("wms", Start + TimeSpan.FromHours(2), Start + TimeSpan.FromHours(12)), Is.EqualTo(TimeSpan.FromHours(2)));
            Assert.That(history.PausedBetween("wms", Start + TimeSpan.FromHours(4), time.GetUtcNow()), Is.EqualTo(TimeSpan.Zero));
            Assert.That(history.PausedBetween("other", Start, time.GetUtcNow()), Is.EqualTo(TimeSpan.Zero), "another target was never paused");
        });
    }

    [Test]
    public void A_pause_still_going_on_counts_up_to_now()
    {
        var time = new FakeTimeProvider(Start);
        var history = new TargetPauseHistory(time);
        history.Observe("wms", paused: true);
        time.Advance(TimeSpan.FromMinutes(30));

        Assert.That(history.PausedBetween("wms", Start - TimeSpan.FromHours(1), time.GetUtcNow()), Is.EqualTo(TimeSpan.FromMinutes(30)),
            "the time before this process first saw the pause is not known to it");
    }
}
