using SyncWorker.Forwarding.RequestTemplates;
using SyncWorker.Testing;

namespace SyncWorker.Forwarding.Tests.RequestTemplates;

/// <summary>
/// The example event embedded in SyncWorker.Forwarding (<c>RequestTemplates/example-event.json</c>, what templates are
/// checked against) is a copy of the tests' paid fixture, which the example order of ORDER-DOCUMENT.md is built from.
/// </summary>
[TestFixture]
public sealed class ExampleEventCopyTests
{
    [Test]
    public void The_embedded_example_event_is_the_paid_fixture()
    {
        var fixture = StripeEvents.Text("checkout.session.completed.json").ReplaceLineEndings("\n");
        var embedded = System.Text.Encoding.UTF8.GetString(ExampleOrder.StripeEvent.Span).ReplaceLineEndings("\n");
        Assert.That(embedded, Is.EqualTo(fixture),
            "src/SyncWorker.Forwarding/RequestTemplates/example-event.json must stay a copy of tests/SyncWorker.Testing/Fixtures/events/checkout.session.completed.json: copy the fixture over it");
    }
}
