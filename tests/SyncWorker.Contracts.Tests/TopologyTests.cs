using SyncWorker.Contracts;

namespace SyncWorker.Contracts.Tests;

/// <summary>The delay queues a target's durable retries can use: names and waits.</summary>
[TestFixture]
public sealed class TopologyTests
{
    [TestCase(5, 0.2, new long[] { 4, 5, 6 })]
    [TestCase(300, 0.2, new long[] { 240, 300, 360 })]
    [TestCase(43200, 0.2, new long[] { 34560, 43200, 51840 })]
    [TestCase(1, 0.2, new long[] { 1 })]
    [TestCase(2, 0.2, new long[] { 2 })]
    [TestCase(10, 0.5, new long[] { 5, 10, 15 })]
    [TestCase(60, 0, new long[] { 60 })]
    public void A_step_waits_one_of_at_most_three_whole_second_waits(long delay, double jitter, long[] expected) =>
        Assert.That(Topology.RedeliveryWaits(delay, jitter), Is.EqualTo(expected));

    [TestCase(0.2, 1)]
    [TestCase(1, 1)]
    [TestCase(2.5, 3)]
    [TestCase(5, 6)]
    [TestCase(7, 8)]
    [TestCase(20, 24)]
    [TestCase(60, 64)]
    [TestCase(120, 128)]
    [TestCase(600, 768)]
    [TestCase(3600, 4096)]
    [TestCase(4097, 6144)]
    public void A_Retry_After_is_rounded_up_to_a_power_of_two_or_one_and_a_half_times_one(double asked, long wait)
    {
        Assert.That(Topology.RetryAfterWait(asked), Is.EqualTo(wait));
        Assert.That(wait, Is.GreaterThanOrEqualTo(asked).And.LessThanOrEqualTo(Math.Max(1, asked * 1.5)));
    }

    [Test]
    public void Every_Retry_After_wait_up_to_a_bound_is_listed_once_in_order()
    {
        var waits = Topology.RetryAfterWaits(600);

        Assert.That(waits, Is.EqualTo(new long[] { 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768 }));
        Assert.That(Enumerable.Range(1, 600).Select(seconds => Topology.RetryAfterWait(seconds)).Distinct(), Is.SubsetOf(waits));
    }

    [Test]
    public void The_delay_queues_of_a_schedule_are_shared_one_per_step_wait_and_Retry_After_wait()
    {
        var queues = Topology.DelayQueues([2, 3600], 0.2).ToList();

        Assert.That(queues, Does.Contain("syncworker.wait.2s"));
        Assert.That(queues, Does.Contain("syncworker.wait.2880s").And.Contain("syncworker.wait.3600s").And.Contain("syncworker.wait.4320s"));
        Assert.That(queues, Does.Contain("syncworker.wait.768s"), "a Retry-After of 600 s");
        Assert.That(queues, Does.Contain("syncworker.wait.4096s"), "the longest Retry-After wait within the 3602 s total, rounded up");
        Assert.That(queues, Is.Unique);
        Assert.That(queues.Where(q => !q.StartsWith(Topology.DelayQueuePrefix, StringComparison.Ordinal)), Is.Empty, "no target's name in any of them");
        Assert.That(Topology.DelayQueue(5), Does.Not.StartWith(Topology.TargetQueuePrefix), "never taken for a target queue");
    }

    [Test]
    public void The_delay_queues_earlier_versions_left_for_a_target_are_its_own_wait_and_delay_queues()
    {
        var queues = Topology.TargetDelayQueues("wms", [2, 3600], 0.2).ToList();

        Assert.That(queues, Does.Contain("syncworker.target.wms.wait.2s"));
        Assert.That(queues, Does.Contain("syncworker.target.wms.wait.2880s").And.Contain("syncworker.target.wms.wait.3600s").And.Contain("syncworker.target.wms.wait.4320s"));
        Assert.That(queues, Does.Contain("syncworker.target.wms.wait.768s"), "a Retry-After of 600 s");
        Assert.That(queues, Does.Contain("syncworker.target.wms.wait.4096s"));
        Assert.That(queues.TakeLast(2), Is.EqualTo(new[] { "syncworker.target.wms.delay.2s", "syncworker.target.wms.delay.3600s" }));
        Assert.That(queues, Has.Count.EqualTo(Topology.DelayQueues([2, 3600], 0.2).Count() + 2), "one per shared queue's wait, and the oldest names");
        Assert.That(queues, Is.Unique);
    }
}
