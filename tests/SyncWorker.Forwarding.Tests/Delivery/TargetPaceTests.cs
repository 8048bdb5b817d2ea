using System.Net;
using Microsoft.Extensions.DependencyInjection;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Targets;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;
using static SyncWorker.Forwarding.Tests.Delivery.DeliveryFixture;

namespace SyncWorker.Forwarding.Tests.Delivery;

/// <summary>
/// RateLimit and a 429's Retry-After, through the target's real HTTP client and a WireMock target, on a fake clock: the
/// tests count requests between steps of the clock, they do not time anything.
/// </summary>
[TestFixture]
public sealed class TargetPaceTests
{
    private WireMockServer _server = null!;

    [SetUp]
    public void StartServer() => _server = WireMockServer.Start();

    [TearDown]
    public void StopServer() => _server.Dispose();

    [Test]
    public async Task No_more_than_Burst_requests_pass_before_a_permit_is_added_and_every_waiting_delivery_is_delivered()
    {
        _server.Given(Request.Create().UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
        var time = FakeTimeNow();
        // One permit a second after a burst of 3; a 1 s attempt timeout, shorter than the waits: a wait that counted
        // against it would fail the later deliveries.
        await using var services = Services(time, Target(_server, t =>
        {
            t.RateLimit = new TargetRateLimitOptions { PerSecond = 1, Burst = 3 };
            t.TimeoutSeconds = 1;
        }));
        var sender = services.GetRequiredService<ITargetSender>();

        var sending = Enumerable.Range(1, 7)
            .Select(i => sender.SendAsync("wms", new TargetDelivery($"msg_{i}", $"idem_{i}", Body, $"order cs_{i} (order.paid)"), Deadline(30)))
            .ToArray();

        await WaitUntilAsync(() => sending.Count(s => s.IsCompleted) == 3, "the burst of 3 is delivered");
        await Task.Delay(200); // nothing is due: give a wrong limiter the chance to send more
        Assert.That(Requests(_server), Has.Length.EqualTo(3), "the burst, and not one request more before a permit is added");

        for (var expected = 4; expected <= 7; expected++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await WaitUntilAsync(() => sending.Count(s => s.IsCompleted) == expected, $"{expected} deliveries are done");
            await Task.Delay(100);
            Assert.That(Requests(_server), Has.Length.EqualTo(expected), "one more request per permit");
        }

        var reports = await Task.WhenAll(sending);
        Assert.That(reports.Select(r => (r.StatusCode, r.Attempts)), Is.All.EqualTo((200, 1)),
            "every waiting delivery went out once and was delivered: none failed, none timed out while waiting");
    }

    [Test]
    public async Task Without_a_rate_limit_every_delivery_goes_at_once()
    {
        _server.Given(Request.Create().UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
        await using var services = Services(FakeTimeNow(), Target(_server));
        var sender = services.GetRequiredService<ITargetSender>();

        var reports = await Task.WhenAll(Enumerable.Range(1, 7)
            .Select(i => sender.SendAsync("wms", new TargetDelivery($"msg_{i}", $"idem_{i}", Body, "d"), Deadline())));

        Assert.That(reports, Has.Length.EqualTo(7));
        Assert.That(Requests(_server), Has.Length.EqualTo(7));
    }

    [Test]
    public async Task A_429_with_Retry_After_holds_every_delivery_of_that_target_while_another_target_keeps_receiving()
    {
        using var other = WireMockServer.Start();
        other.Given(Request.Create().UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
        // The first delivery is answered 429 once, then 200; the second would be answered 200 at once.
        _server.Given(Request.Create().UsingPost().WithHeader("webhook-id", "msg_2"))
            .RespondWith(Response.Create().WithStatusCode(200));
        _server.Given(Request.Create().UsingPost().WithHeader("webhook-id", "msg_1")).InScenario("busy").WillSetStateTo("asked to wait")
            .RespondWith(Response.Create().WithStatusCode(429).WithHeader("Retry-After", "30"));
        _server.Given(Request.Create().UsingPost().WithHeader("webhook-id", "msg_1")).InScenario("busy").WhenStateIs("asked to wait")
            .RespondWith(Response.Create().WithStatusCode(200));
        var time = FakeTimeNow();
        await using var services = Services(time, Target(_server, name: "slow"), Target(other, name: "other"));
        var sender = services.GetRequiredService<ITargetSender>();

        var first = sender.SendAsync("slow", new TargetDelivery("msg_1", "idem_1", Body, "first"), Deadline(30));
        await WaitUntilAsync(() => time.HasTimer(TimeSpan.FromSeconds(30)), "the first delivery waits out its Retry-After");

        // A second delivery of the same target is held: it sends nothing until Retry-After has passed.
        var second = sender.SendAsync("slow", new TargetDelivery("msg_2", "idem_2", Body, "second"), Deadline(30));
        // The other target is not held: three deliveries go out at once.
        for (var i = 1; i <= 3; i++)
        {
            var report = await sender.SendAsync("other", new TargetDelivery($"msg_o{i}", $"idem_o{i}", Body, "other"), Deadline());
            Assert.That(report.StatusCode, Is.EqualTo(200));
        }

        await Task.Delay(200);
        Assert.That(Requests(other), Has.Length.EqualTo(3), "the other target keeps receiving");
        Assert.That(Requests(_server), Has.Length.EqualTo(1), "only the request answered 429: the second delivery is held");
        Assert.That(second.IsCompleted, Is.False);
        Assert.That(services.GetRequiredService<TargetPace>().HeldUntil("other"), Is.Null);
        Assert.That(services.GetRequiredService<TargetPace>().HeldUntil("slow"), Is.EqualTo(time.GetUtcNow() + TimeSpan.FromSeconds(30)));

        time.Advance(TimeSpan.FromSeconds(29));
        await Task.Delay(200);
        Assert.That(Requests(_server), Has.Length.EqualTo(1), "still held one second before Retry-After has passed");

        time.Advance(TimeSpan.FromSeconds(1));
        var reports = await Task.WhenAll(first, second);

        Assert.That(reports.Select(r => (r.StatusCode, r.Attempts)), Is.EqualTo(new[] { (200, 2), (200, 1) }),
            "the first was retried after Retry-After; the second went once, after it");
        Assert.That(Requests(_server), Has.Length.EqualTo(3));
    }

    [Test]
    public async Task A_hold_longer_than_MaxRetryAfterSeconds_sends_nothing_and_fails_transiently_with_the_time_left()
    {
        _server.Given(Request.Create().UsingPost())
            .RespondWith(Response.Create().WithStatusCode(429).WithHeader("Retry-After", "600"));
        var time = FakeTimeNow();
        await using var services = Services(time, Target(_server, t => t.Retry.MaxRetryAfterSeconds = 120));
        var sender = services.GetRequiredService<ITargetSender>();

        var asked = Assert.ThrowsAsync<DeliveryFailedException>(async () => await sender.SendAsync("wms", new TargetDelivery("msg_1", "idem_1", Body, "first"), Deadline()));
        Assert.That(asked!.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(600)));
        time.Advance(TimeSpan.FromSeconds(100));

        var held = Assert.ThrowsAsync<DeliveryFailedException>(async () => await sender.SendAsync("wms", new TargetDelivery("msg_2", "idem_2", Body, "second"), Deadline()));

        Assert.That(Requests(_server), Has.Length.EqualTo(1), "the held delivery sent no request");
        Assert.That(held!.IsPermanent, Is.False, "it waits in a delay queue; it is not dead-lettered");
        Assert.That(held.Attempts, Is.Zero);
        Assert.That(held.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(500)), "what is left of the hold");
        Assert.That(held.Message, Does.Contain("was not attempted: target 'wms' asked (429, Retry-After) for no request before"));
    }

    [TestCase(0.05, 0, "Fulfillment:Targets:0:RateLimit:PerSecond must be 0 (no limit) or between 0.1 and 10000 (got 0.05)")]
    [TestCase(20000, 0, "Fulfillment:Targets:0:RateLimit:PerSecond must be 0 (no limit) or between 0.1 and 10000 (got 20000)")]
    [TestCase(5, -1, "Fulfillment:Targets:0:RateLimit:Burst must be between 1 and 10000, or 0 for the ceiling of RateLimit:PerSecond (got -1).")]
    [TestCase(1000, 10, "Fulfillment:Targets:0:RateLimit:Burst must be at least RateLimit:PerSecond ÷ 20, here 50 (got 10)")]
    [TestCase(0, 5, "Fulfillment:Targets:0:RateLimit:Burst is set without RateLimit:PerSecond: set PerSecond too, or remove Burst.")]
    public void A_bad_rate_limit_is_refused_naming_the_key(double perSecond, int burst, string message)
    {
        var target = Target("https://wms.example/hooks", t => t.RateLimit = new TargetRateLimitOptions { PerSecond = perSecond, Burst = burst });

        Assert.That(TargetRateLimitValidation.Validate(target, "Fulfillment:Targets:0"), Has.One.StartsWith(message));
    }

    [Test]
    public async Task A_bucket_replaced_by_a_new_limit_serves_what_waits_on_it_then_stops_its_timer()
    {
        var time = FakeTimeNow();
        using var pace = new TargetPace(time, Microsoft.Extensions.Logging.Abstractions.NullLogger<TargetPace>.Instance);
        var old = pace.LimiterOf(Target("https://wms.example/hooks", t => t.RateLimit = new TargetRateLimitOptions { PerSecond = 1, Burst = 1 }))!;
        await old.WaitAsync();
        var waiting = old.WaitAsync();

        // A managed target's new revision with another limit: a new bucket; the old one keeps serving its waiter.
        var replacement = pace.LimiterOf(Target("https://wms.example/hooks", t => t.RateLimit = new TargetRateLimitOptions { PerSecond = 2, Burst = 1 }))!;
        Assert.That(replacement, Is.Not.SameAs(old));
        Assert.That(time.LiveTimers, Is.EqualTo(2));

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(waiting.IsCompletedSuccessfully, Is.True, "the attempt waiting on the old bucket gets its permit at the old pace");
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(time.LiveTimers, Is.EqualTo(2), "refilled, not yet seen full");
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(time.LiveTimers, Is.EqualTo(1), "full with nothing waiting: the old bucket's timer is stopped, the new one's runs");
        Assert.That(pace.LimiterOf(Target("https://wms.example/hooks", t => t.RateLimit = new TargetRateLimitOptions { PerSecond = 2, Burst = 1 })), Is.SameAs(replacement));
    }

    [Test]
    public void No_limit_and_a_limit_with_the_default_burst_pass()
    {
        Assert.That(TargetRateLimitValidation.Validate(Target("https://wms.example/hooks"), "k"), Is.Empty);
        var limited = Target("https://wms.example/hooks", t => t.RateLimit = new TargetRateLimitOptions { PerSecond = 2.5 });
        Assert.That(TargetRateLimitValidation.Validate(limited, "k"), Is.Empty);
        Assert.That(limited.RateLimit.EffectiveBurst, Is.EqualTo(3));
    }
}
