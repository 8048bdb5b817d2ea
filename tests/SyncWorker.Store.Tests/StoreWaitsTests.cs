namespace SyncWorker.Store.Tests;

public sealed class StoreWaitsTests
{
    [Test]
    public async Task Work_is_tried_again_while_the_store_is_unavailable_and_the_outage_is_told_once_and_its_end()
    {
        var tries = 0;
        var waiting = new List<string>();
        var back = 0;

        var result = await StoreWaits.WhileUnavailableAsync(
            _ => ++tries < 3 ? Task.FromException<int>(new StoreUnavailableException("connection refused")) : Task.FromResult(42),
            TimeProvider.System,
            waiting.Add,
            () => back++,
            CancellationToken.None);

        Assert.That((result, tries, back), Is.EqualTo((42, 3, 1)));
        Assert.That(waiting, Is.EqualTo(new[] { "connection refused" }));
    }

    [Test]
    public void Another_failure_is_not_waited_for_and_cancellation_ends_the_wait()
    {
        Assert.ThrowsAsync<InvalidOperationException>(() => StoreWaits.WhileUnavailableAsync<int>(
            _ => throw new InvalidOperationException("a bug"), TimeProvider.System, null, null, CancellationToken.None));

        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        Assert.That(async () => await StoreWaits.WhileUnavailableAsync<int>(
            _ => Task.FromException<int>(new StoreUnavailableException("down")), TimeProvider.System, null, null, cancel.Token),
            Throws.InstanceOf<OperationCanceledException>());
    }
}
