namespace SyncWorker.Contracts.Tests;

public sealed class MessageIdsTests
{
    [Test]
    public void Message_id_is_the_rfc_9562_version_5_uuid_of_the_event_id_and_never_changes()
    {
        // Computed independently: python3 -c "import uuid; print(uuid.uuid5(uuid.UUID('6f0c39d4-3c0e-4f3b-9d8e-5a4a2f1c7b21'), 'evt_1Qx7ExampleCsCompleted01'))"
        // Consumers deduplicate on this id across deployments, so it must stay stable.
        Assert.That(MessageIds.ForStripeEvent("evt_1Qx7ExampleCsCompleted01"), Is.EqualTo(new Guid("7c6d3b71-9767-5871-b5e6-0563f926901a")));
    }

    [Test]
    public void Different_event_ids_give_different_message_ids()
    {
        var ids = Enumerable.Range(0, 10_000).Select(i => MessageIds.ForStripeEvent($"evt_{i}")).ToHashSet();

        Assert.That(ids, Has.Count.EqualTo(10_000));
    }

    [Test]
    public void Message_id_is_a_version_5_rfc_9562_uuid()
    {
        var text = MessageIds.ForStripeEvent("evt_abc").ToString();

        Assert.That(text[14], Is.EqualTo('5'), "version nibble");
        Assert.That(text[19], Is.AnyOf('8', '9', 'a', 'b'), "RFC variant");
    }

    [Test]
    public void Empty_event_id_is_refused()
    {
        Assert.Throws<ArgumentException>(() => MessageIds.ForStripeEvent(""));
    }
}
