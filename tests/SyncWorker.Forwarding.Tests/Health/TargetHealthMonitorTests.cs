using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using SyncWorker.Forwarding.Health;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Forwarding.Tests.Delivery;
using SyncWorker.Forwarding.Tests.Targets;
using SyncWorker.Store;
using SyncWorker.Store.Ledger;
using SyncWorker.Store.Targets;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Forwarding.Tests.Health;

/// <summary>
/// Disable after failing, on a SQLite store with a fake clock: attempts are recorded in the ledger at chosen times and the
/// monitor is run by hand; the notifications reach a WireMock server and are counted and verified.
/// </summary>
public sealed class TargetHealthMonitorTests
{
    private const string Target = "wms";
    private static readonly string Folder = Path.Combine(Path.GetTempPath(), "syncworker-health-tests");

    private FakeTimeProvider _time = null!;
    private SqlDeliveryLedger _ledger = null!;
    private SqlTargetHealth _health = null!;
    private WireMockServer _ops = null!;
    private FakeMarkers _markers = null!;
    private int _attempt;

    [SetUp]
    public async Task SetUpAsync()
    {
        _time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        var settings = StoreSettings.Resolve(
            new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Store:DataDirectory"] = Path.Combine(Folder, Guid.NewGuid().ToString("N")[..8]),
            }).Build(),
            AppContext.BaseDirectory);
        await new StoreMigrator(settings).MigrateAsync(CancellationToken.None);
        _ledger = new SqlDeliveryLedger(settings, _time);
        _health = new SqlTargetHealth(_ledger, _time);
        _ops = WireMockServer.Start();
        _ops.Given(Request.Create().WithPath("/ops").UsingPost()).RespondWith(Response.Create().WithStatusCode(204));
        _markers = new FakeMarkers();
        _attempt = 0;
        await _ledger.ClaimAsync(new DeliveryClaim(DeliveryKey.ForOrder(Target, "cs_1", "order.paid"), "evt_1", "msg_1"), "test", TimeSpan.FromMinutes(5), false, CancellationToken.None);
    }

    [TearDown]
    public void TearDown()
    {
        _ops.Stop();
        _ops.Dispose();
        _ledger.Dispose();
    }

    [Test]
    public async Task A_target_failing_71_hours_stays_enabled_and_at_72_is_disabled_once_with_one_signed_notification()
    {
        var monitor = Monitor(72);
        await FailAsync();
        _time.Advance(TimeSpan.FromHours(71));
        await FailAsync();

        Assert.That(await monitor.EvaluateAsync(CancellationToken.None), Is.Empty, "71 h of failing is under DisableAfterHours");
        Assert.That(_markers.Set, Is.Empty);

        _time.Advance(TimeSpan.FromHours(1));
        await FailAsync();
        Assert.That(await monitor.EvaluateAsync(CancellationToken.None), Is.EqualTo(new[] { Target }));
        Assert.That(_markers.Set, Is.EquivalentTo(new[] { Target }));

        // Again, and from a second forwarder on the same store: the target is disabled once and announced once.
        Assert.That(await monitor.EvaluateAsync(CancellationToken.None), Is.Empty);
        Assert.That(await Monitor(72).EvaluateAsync(CancellationToken.None), Is.Empty);
        Assert.That(_ops.LogEntries, Has.Count.EqualTo(1), "one notification per disable");

        var entry = _ops.LogEntries.Single();
        DeliveryFixture.VerifyWithStandardWebhooks(entry, TargetTestData.SigningSecret);
        using var body = JsonDocument.Parse(DeliveryFixture.BodyBytes(entry));
        Assert.That(body.RootElement.GetProperty("type").GetString(), Is.EqualTo("target.disabled"));
        Assert.That(body.RootElement.GetProperty("target").GetString(), Is.EqualTo(Target));
        Assert.That(body.RootElement.GetProperty("failingSince").GetDateTimeOffset(), Is.EqualTo(_time.GetUtcNow() - TimeSpan.FromHours(72)));
        Assert.That(body.RootElement.GetProperty("lastError").GetString(), Is.EqualTo("HTTP 503: Service Unavailable"));
        Assert.That(body.RootElement.GetProperty("disableAfterHours").GetInt32(), Is.EqualTo(72));

        var row = await _health.GetAsync(Target, CancellationToken.None);
        Assert.That(row!.DisabledAt, Is.EqualTo(_time.GetUtcNow()));
    }

    [Test]
    public async Task A_success_within_the_window_starts_it_again()
    {
        var monitor = Monitor(72);
        await FailAsync();
        _time.Advance(TimeSpan.FromHours(40));
        await SucceedAsync();
        _time.Advance(TimeSpan.FromMinutes(1));
        await FailAsync();
        _time.Advance(TimeSpan.FromHours(32));
        await FailAsync();

        Assert.That(await monitor.EvaluateAsync(CancellationToken.None), Is.Empty, "72 h since the first failure, but 32 h since the last success");

        _time.Advance(TimeSpan.FromHours(40));
        await FailAsync();
        Assert.That(await monitor.EvaluateAsync(CancellationToken.None), Is.EqualTo(new[] { Target }), "72 h of failing after the success");
        Assert.That(_ops.LogEntries, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Zero_hours_never_disables()
    {
        var monitor = Monitor(0);
        for (var i = 0; i < 10; i++)
        {
            await FailAsync();
            _time.Advance(TimeSpan.FromHours(24));
        }

        Assert.That(await monitor.EvaluateAsync(CancellationToken.None), Is.Empty);
        Assert.That(_markers.Set, Is.Empty);
        Assert.That(_ops.LogEntries, Is.Empty);
    }

    [Test]
    public async Task Enabling_clears_the_marker_and_the_failing_window_starts_at_the_enable()
    {
        var monitor = Monitor(72);
        await FailAsync();
        _time.Advance(TimeSpan.FromHours(72));
        await FailAsync();
        Assert.That(await monitor.EvaluateAsync(CancellationToken.None), Has.Count.EqualTo(1));

        _time.Advance(TimeSpan.FromHours(2));
        var enabled = await monitor.EnableAsync(Target, "ops@host", CancellationToken.None);
        Assert.That(enabled.WasDisabled, Is.True);
        Assert.That(_markers.Set, Is.Empty);

        // Still failing right after the enable: the failures before it no longer count.
        _time.Advance(TimeSpan.FromMinutes(5));
        await FailAsync();
        Assert.That(await monitor.EvaluateAsync(CancellationToken.None), Is.Empty);

        _time.Advance(TimeSpan.FromHours(72));
        await FailAsync();
        Assert.That(await monitor.EvaluateAsync(CancellationToken.None), Is.EqualTo(new[] { Target }), "72 h of failing after the enable");
        Assert.That(_ops.LogEntries, Has.Count.EqualTo(2), "one notification per disable");
    }

    [Test]
    public async Task A_disabled_row_whose_marker_is_missing_gets_its_marker_back_without_a_second_notification()
    {
        var monitor = Monitor(72);
        await FailAsync();
        _time.Advance(TimeSpan.FromHours(72));
        await FailAsync();
        await monitor.EvaluateAsync(CancellationToken.None);
        _markers.Set.Clear(); // As if the forwarder that disabled it stopped before creating the marker.

        Assert.That(await monitor.EvaluateAsync(CancellationToken.None), Is.Empty);
        Assert.That(_markers.Set, Is.EquivalentTo(new[] { Target }));
        Assert.That(_ops.LogEntries, Has.Count.EqualTo(1));
    }

    [TestCase(-1)]
    [TestCase(8761)]
    public void DisableAfterHours_out_of_range_is_refused_naming_the_key(int hours)
    {
        var errors = TargetDisableValidation.Validate(new TargetOptions { Name = Target, DisableAfterHours = hours }, "Fulfillment:Targets:0").ToList();
        Assert.That(errors, Has.Count.EqualTo(1));
        Assert.That(errors[0], Does.StartWith("Fulfillment:Targets:0:DisableAfterHours must be between 1 and 8760"));
    }

    [Test]
    public void Notifications_are_checked_naming_the_key_and_never_quoting_the_secret()
    {
        var manifest = TargetTestData.Manifest(["https://ops.example.com/hooks/"]);
        var policy = new ConnectSrcPolicy(manifest);
        Assert.That(NotificationOptionsValidation.Check(new NotificationOptions(), policy, "m.json", production: true), Is.Empty);
        Assert.That(NotificationOptionsValidation.Check(new NotificationOptions { Url = "https://ops.example.com/hooks/syncworker", SigningSecret = TargetTestData.SigningSecret }, policy, "m.json", true), Is.Empty);

        var secretOnly = NotificationOptionsValidation.Check(new NotificationOptions { SigningSecret = TargetTestData.SigningSecret }, policy, "m.json", true).ToList();
        Assert.That(secretOnly.Single(), Does.StartWith("Notifications:SigningSecret is set without Notifications:Url"));

        var badSecret = NotificationOptionsValidation.Check(new NotificationOptions { Url = "https://ops.example.com/hooks/syncworker", SigningSecret = "not-a-secret-value" }, policy, "m.json", true).ToList();
        Assert.That(badSecret.Single(), Does.StartWith("Notifications:SigningSecret must start with 'whsec_'"));
        Assert.That(badSecret.Single(), Does.Not.Contain("not-a-secret-value"));

        var elsewhere = NotificationOptionsValidation.Check(new NotificationOptions { Url = "https://other.example.net/hook", SigningSecret = TargetTestData.SigningSecret }, policy, "m.json", true).ToList();
        Assert.That(elsewhere.Single(), Does.Contain("connect-src").And.StartWith("Notifications:Url"));

        var plain = NotificationOptionsValidation.Check(new NotificationOptions { Url = "http://ops.example.com/hooks/syncworker", SigningSecret = TargetTestData.SigningSecret }, policy, "m.json", true).ToList();
        Assert.That(plain, Has.Some.StartWith("Notifications:Url uses http://"));
    }

    [Test]
    public async Task The_ledger_is_read_only_for_a_target_this_forwarder_saw_fail_without_a_recent_success()
    {
        var activity = new Forwarding.Consumers.TargetActivity(_time);
        var monitor = Monitor(72, activity);
        await FailAsync();
        _time.Advance(TimeSpan.FromHours(72));
        await FailAsync();

        // The ledger says 72 h of failing, but this forwarder saw a success within the window: not read, not disabled.
        activity.Started(Target);
        activity.Ended(Target, null);
        _time.Advance(TimeSpan.FromMinutes(1));
        activity.Started(Target);
        activity.Ended(Target, "HTTP 503");
        Assert.That(await monitor.EvaluateAsync(CancellationToken.None), Is.Empty);

        // Nothing seen here at all: not read either (a forwarder that attempts it reads it).
        Assert.That(await Monitor(72, new Forwarding.Consumers.TargetActivity(_time)).EvaluateAsync(CancellationToken.None), Is.Empty);

        // Its success here is older than the window now: read, and disabled.
        _time.Advance(TimeSpan.FromHours(72));
        await FailAsync();
        activity.Started(Target);
        activity.Ended(Target, "HTTP 503");
        Assert.That(await monitor.EvaluateAsync(CancellationToken.None), Is.EqualTo(new[] { Target }));
    }

    private TargetHealthMonitor Monitor(int hours, Forwarding.Consumers.TargetActivity? activity = null)
    {
        var options = new FulfillmentOptions { Targets = [new TargetOptions { Name = Target, Url = "https://wms.example.com/", Mode = "test", SigningSecret = TargetTestData.SigningSecret, DisableAfterHours = hours }] };
        var notifications = Options.Create(new NotificationOptions { Url = _ops.Url + "/ops", SigningSecret = TargetTestData.SigningSecret });
        // The notifier signs with the real clock, so that the StandardWebhooks library's tolerance check passes.
        var notifier = new OpsNotifier(notifications, new Clients(), TimeProvider.System, NullLogger<OpsNotifier>.Instance, TimeSpan.Zero);
        return new TargetHealthMonitor(new TargetRegistry(Options.Create(options)), _health, _markers, notifier, _time, NullLogger<TargetHealthMonitor>.Instance, activity: activity);
    }

    private Task FailAsync() => RecordAsync("failed", 503, "Service Unavailable");

    private Task SucceedAsync() => RecordAsync("delivered", 200, null);

    private Task RecordAsync(string outcome, int status, string? error) =>
        _ledger.RecordAttemptAsync(
            DeliveryKey.ForOrder(Target, "cs_1", "order.paid").Value,
            new DeliveryAttemptRecord(++_attempt, "test", _time.GetUtcNow(), TimeSpan.FromMilliseconds(20), outcome, status, error),
            CancellationToken.None);

    private sealed class Clients : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => new();
    }

    private sealed class FakeMarkers : ITargetDisableMarkers
    {
        public HashSet<string> Set { get; } = new(StringComparer.Ordinal);

        public Task<bool> ExistsAsync(string target, CancellationToken cancellationToken) => Task.FromResult(Set.Contains(target));

        public Task SetAsync(string target, CancellationToken cancellationToken)
        {
            Set.Add(target);
            return Task.CompletedTask;
        }

        public Task<bool> ClearAsync(string target, CancellationToken cancellationToken) => Task.FromResult(Set.Remove(target));
    }
}
