using SyncWorker.Forwarding.Consumers;

namespace SyncWorker.Forwarding.Tests.Consumers;

[TestFixture]
public sealed class DeliveryIdsTests
{
    [Test]
    public void The_id_is_msg_and_the_first_16_bytes_of_the_sha256_of_target_subject_and_action()
    {
        // Computed independently: python3 -c 'import hashlib; print("msg_" + hashlib.sha256(
        //     b"warehouse\ncs_test_a1b2c3\norder.paid").hexdigest()[:32])'
        Assert.That(DeliveryIds.For("warehouse", "cs_test_a1b2c3", "order.paid"), Is.EqualTo("msg_ee3c5ae51b05eb810a6d82b340c0f4b9"));
    }

    [Test]
    public void The_same_delivery_always_gets_the_same_id()
    {
        var first = DeliveryIds.For("warehouse", "cs_test_a1b2c3", "order.paid");
        var second = DeliveryIds.For(new string("warehouse".ToCharArray()), "cs_test_a1b2c3", "order.paid");

        Assert.That(second, Is.EqualTo(first));
        Assert.That(first, Does.Match("^msg_[0-9a-f]{32}$"));
    }

    [TestCase("archive", "cs_test_a1b2c3", "order.paid", TestName = "another target")]
    [TestCase("warehouse", "cs_test_a1b2c4", "order.paid", TestName = "another subject")]
    [TestCase("warehouse", "cs_test_a1b2c3", "checkout.session.completed", TestName = "another action")]
    [TestCase("Warehouse", "cs_test_a1b2c3", "order.paid", TestName = "another case")]
    public void Another_target_subject_or_action_gets_another_id(string target, string subject, string action)
    {
        Assert.That(DeliveryIds.For(target, subject, action), Is.Not.EqualTo(DeliveryIds.For("warehouse", "cs_test_a1b2c3", "order.paid")));
    }

    [Test]
    public void Fields_do_not_run_into_each_other()
    {
        Assert.That(DeliveryIds.For("ware", "house" + "cs_1", "order.paid"), Is.Not.EqualTo(DeliveryIds.For("warehouse", "cs_1", "order.paid")));
    }

    [TestCase("", "cs_test_a1b2c3", "order.paid")]
    [TestCase("warehouse", "", "order.paid")]
    [TestCase("warehouse", "cs_test_a1b2c3", "")]
    public void An_empty_part_is_refused(string target, string subject, string action)
    {
        Assert.That(() => DeliveryIds.For(target, subject, action), Throws.InstanceOf<ArgumentException>());
    }
}
