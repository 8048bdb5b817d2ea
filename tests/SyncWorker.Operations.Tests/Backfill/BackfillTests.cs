using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using SyncWorker.Contracts;
using SyncWorker.Operations.Backfill;
using SyncWorker.Store;
using SyncWorker.Store.Installs;
using SyncWorker.Store.Ledger;
using SyncWorker.Testing;
using WireMock.RequestBuilders;

namespace SyncWorker.Operations.Tests.Backfill;

/// <summary><c>backfill</c> against a private RabbitMQ node (a fresh virtual host per test) and WireMock as Stripe's API.</summary>
[TestFixture]
public sealed class BackfillTests
{
    private const string Account = "acct_1Qx7ExampleMrch01";

    /// <summary>A few days after the fixtures' events were created.</summary>
    private static readonly DateTimeOffset Now = new(2026, 8, 10, 0, 0, 0, TimeSpan.Zero);

    private RabbitMqNode _node = null!;
    private VirtualHostPool _virtualHosts = null!;
    private string _vhost = null!;
    private StripeEventsApi _stripe = null!;

    [OneTimeSetUp]
    public async Task StartBrokerAsync()
    {
        _node = await RabbitMqNode.LaunchAsync();
        _virtualHosts = new VirtualHostPool(_node);
        await _virtualHosts.FillAsync(8);
    }

    [OneTimeTearDown]
    public async Task StopBrokerAsync() => await _node.DisposeAsync();

    [SetUp]
    public async Task SetUpAsync()
    {
        _vhost = await _virtualHosts.TakeAsync();
        _stripe = new StripeEventsApi();
    }

    [TearDown]
    public void TearDown() => _stripe.Dispose();

    /// <summary>
    /// Three pages, newest first: permitted events of four types, one the repository's manifest does not permit
    /// (<c>invoice.paid</c> needs invoice_read) and one element that is not an event.
    /// </summary>
    private static ListedObject[][] ThreePages(out ListedObject[] permitted)
    {
        var completed = StripeEventsApi.Event("checkout.session.completed.json");
        var refunded = StripeEventsApi.Event("charge.refunded.json");
        var invoice = StripeEventsApi.Event("invoice.paid.json");
        var notAnEvent = StripeEventsApi.NotAnEvent();
        var customer = StripeEventsApi.Event("customer.created.json");
        var payment = StripeEventsApi.Event("payment_intent.succeeded.json");

        // Oldest first, by the fixtures' created times: customer, payment intent, session, refund.
        permitted = [customer, payment, completed, refunded];
        return [[refunded, completed, invoice], [notAnEvent, payment], [customer]];
    }

    [Test]
    public async Task Without_Stripe_ApiKey_the_per_mode_key_lists_the_events()
    {
        var pages = ThreePages(out _);
        _stripe.ServePages(pages);
        const string testKey = "sk_test_backfill_per_mode_key_0000";
        var values = _stripe.Configuration(_node.AmqpUri(_vhost), apiKey: null).AsEnumerable().ToDictionary(pair => pair.Key, pair => pair.Value);
        values["Stripe:ApiKeys:Test"] = testKey;
        var configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder().AddInMemoryCollection(values).Build();

        var run = await CliHarness.RunAsync(configuration, new FixedTime(Now), "backfill", "--since", "5d", "--account", Account);

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(_stripe.Requests.Select(r => StripeEventsApi.Header(r, "Authorization")), Is.All.EqualTo(new[] { "Bearer " + testKey }));
        Assert.That(run.Output + run.Error, Does.Not.Contain(testKey), "the key is never printed");
    }

    [Test]
    public async Task Feeds_the_permitted_events_of_every_page_through_the_intake_queue_once()
    {
        var pages = ThreePages(out var permitted);
        _stripe.ServePages(pages);

        var run = await RunAsync("backfill", "--since", "5d", "--account", Account);

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Error, Is.Empty);

        // What was asked of Stripe.
        var requests = _stripe.Requests;
        Assert.That(requests, Has.Length.EqualTo(3));
        var since = Now.AddDays(-5).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        Assert.Multiple(() =>
        {
            Assert.That(requests.Select(r => r.Method), Is.All.EqualTo("GET"));
            Assert.That(requests.Select(r => StripeEventsApi.Query(r, "created[gte]")), Is.All.EqualTo(since));
            Assert.That(requests.Select(r => StripeEventsApi.Query(r, "delivery_success")), Is.All.EqualTo("false"));
            Assert.That(requests.Select(r => StripeEventsApi.Query(r, "limit")), Is.All.EqualTo("100"));
            Assert.That(
                requests.Select(r => StripeEventsApi.Query(r, "starting_after")),
                Is.EqualTo(new[] { null, pages[0][^1].Id, pages[1][^1].Id }));
            Assert.That(requests.Select(r => StripeEventsApi.Header(r, "Stripe-Account")), Is.All.EqualTo(new[] { Account }));
            Assert.That(
                requests.Select(r => StripeEventsApi.Header(r, "Authorization")),
                Is.All.EqualTo(new[] { "Bearer " + StripeEventsApi.ApiKey }));
        });

        // The summary.
        Assert.That(run.Output, Does.Contain($"since {BackfillSince.Iso(Now.AddDays(-5))} (account {Account})"));
        Assert.That(SummaryRow(run.Output, "Listed (Stripe could not deliver)"), Is.EqualTo(6));
        Assert.That(SummaryRow(run.Output, "Fed"), Is.EqualTo(4));
        Assert.That(SummaryRow(run.Output, "Already fed (ledger)"), Is.Zero);
        Assert.That(SummaryRow(run.Output, "Not permitted by the manifest"), Is.EqualTo(1));
        Assert.That(SummaryRow(run.Output, "Not snapshot events"), Is.EqualTo(1));
        Assert.That(run.Output, Does.Contain("Not permitted (Stripe would not have sent them to the app either): invoice.paid ×1."));
        Assert.That(run.Output, Does.Contain("Fed 4 events"));
        Assert.That(run.Output + run.Error, Does.Not.Contain(StripeEventsApi.ApiKey));

        // The intake queue holds exactly the permitted events, oldest first, as the receiver queues them.
        var intake = await _node.DrainAsync(_vhost, Topology.IntakeQueue);
        Assert.That(intake.Select(m => m.BasicProperties.MessageId), Is.EqualTo(permitted.Select(e => MessageIds.ForStripeEvent(e.Id).ToString())));
        Assert.That(intake.Select(m => m.BasicProperties.Persistent), Is.All.True);
        for (var i = 0; i < intake.Count; i++)
        {
            using var envelope = JsonDocument.Parse(intake[i].Body);
            var message = envelope.RootElement;
            Assert.That(intake[i].BasicProperties.ContentType, Is.EqualTo("application/json"), "MassTransit's raw JSON, as receivers publish it");
            Assert.That(message.GetProperty("eventId").GetString(), Is.EqualTo(permitted[i].Id));
            Assert.That(message.GetProperty("type").GetString(), Is.EqualTo(permitted[i].Type));
            Assert.That(message.GetProperty("account").GetString(), Is.EqualTo(Account));
            Assert.That(message.GetProperty("payload").GetString(), Is.EqualTo(permitted[i].Payload), "the raw event, byte for byte");
            Assert.That(
                Encoding.UTF8.GetString((byte[])intake[i].BasicProperties.Headers![MassTransitStripeEventIdHeader]!),
                Is.EqualTo(permitted[i].Id));
        }

        // The store's ledger names each fed event; the old ledger queue is not made.
        Assert.That(await StoreEntriesAsync(), Is.EquivalentTo(permitted.Select(e => e.Id)));
        Assert.That(run.Output, Does.Contain("recorded them in the backfill ledger of SQLite " + _stripe.StoreDirectory));
        Assert.That(await QueueExistsAsync(BackfillLedger.LegacyLedgerQueue), Is.False);
    }

    [Test]
    public async Task A_second_run_feeds_nothing_and_says_the_events_were_fed_already()
    {
        _stripe.ServePages(ThreePages(out var permitted));
        var first = await RunAsync("backfill", "--since", "5d", "--account", Account);
        Assert.That(first.ExitCode, Is.Zero, first.ToString());
        Assert.That(await _node.MessageCountAsync(_vhost, Topology.IntakeQueue), Is.EqualTo(4));

        var second = await RunAsync("backfill", "--since", "5d", "--account", Account, "--json");

        Assert.That(second.ExitCode, Is.Zero, second.ToString());
        using var summary = JsonDocument.Parse(second.Output);
        var root = summary.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("listed").GetInt32(), Is.EqualTo(6));
            Assert.That(root.GetProperty("toFeed").GetInt32(), Is.Zero);
            Assert.That(root.GetProperty("fed").GetInt32(), Is.Zero);
            Assert.That(root.GetProperty("alreadyFed").GetInt32(), Is.EqualTo(4));
            Assert.That(root.GetProperty("notPermitted").GetInt32(), Is.EqualTo(1));
            Assert.That(root.GetProperty("notSnapshotEvents").GetInt32(), Is.EqualTo(1));
            Assert.That(root.GetProperty("notPermittedTypes").GetProperty("invoice.paid").GetInt32(), Is.EqualTo(1));
            Assert.That(root.GetProperty("account").GetString(), Is.EqualTo(Account));
            Assert.That(root.GetProperty("dryRun").GetBoolean(), Is.False);
            Assert.That(root.GetProperty("events").GetArrayLength(), Is.Zero);
            Assert.That(root.GetProperty("error").ValueKind, Is.EqualTo(JsonValueKind.Null));
        });
        Assert.That(second.Error, Does.Contain("4 events in the ledger"), "progress goes to standard error with --json");
        Assert.That(await _node.MessageCountAsync(_vhost, Topology.IntakeQueue), Is.EqualTo(4), "nothing fed twice");
        Assert.That(await StoreEntriesAsync(), Has.Count.EqualTo(4), "the ledger is read, not consumed");

        // An event listed by a later run (one more delivery failed meanwhile) is fed then; those fed before still are not.
        var late = StripeEventsApi.Event("account.application.authorized.json");
        _stripe.Server.Reset();
        _stripe.ServePages([late, .. Enumerable.Reverse(permitted)]);
        var third = await RunAsync("backfill", "--since", "5d", "--account", Account, "--json");
        Assert.That(third.ExitCode, Is.Zero, third.ToString());
        using var thirdSummary = JsonDocument.Parse(third.Output);
        Assert.That(thirdSummary.RootElement.GetProperty("fed").GetInt32(), Is.EqualTo(1));
        Assert.That(thirdSummary.RootElement.GetProperty("alreadyFed").GetInt32(), Is.EqualTo(4));
        Assert.That(thirdSummary.RootElement.GetProperty("events")[0].GetProperty("id").GetString(), Is.EqualTo(late.Id));
        Assert.That(await _node.MessageCountAsync(_vhost, Topology.IntakeQueue), Is.EqualTo(5));
    }

    [Test]
    public async Task Dry_run_lists_what_would_be_fed_and_publishes_nothing()
    {
        _stripe.ServePages(ThreePages(out var permitted));

        var dryRun = await RunAsync("backfill", "--since", "5d", "--dry-run");

        Assert.That(dryRun.ExitCode, Is.Zero, dryRun.ToString());
        Assert.That(dryRun.Output, Does.Contain("Dry run: would feed 4 events"));
        Assert.That(SummaryRow(dryRun.Output, "Would be fed"), Is.EqualTo(4));
        foreach (var evt in permitted)
        {
            Assert.That(dryRun.Output, Does.Contain(evt.Id));
        }

        Assert.That(_stripe.Requests.Select(r => StripeEventsApi.Header(r, "Stripe-Account")), Is.All.Empty, "no --account: the app's own account");
        Assert.That(
            dryRun.Output,
            Does.Contain("The install registry records no installs in test mode: listing the app's own account only"),
            "a store without installs: as before, and it says so");
        Assert.That(await QueueExistsAsync(Topology.IntakeQueue), Is.False, "the bus never started");
        Assert.That(await StoreEntriesAsync(), Is.Empty, "the ledger was not written");
        Assert.That(await QueueExistsAsync(BackfillLedger.LegacyLedgerQueue), Is.False);

        var run = await RunAsync("backfill", "--since", "5d");
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(SummaryRow(run.Output, "Fed"), Is.EqualTo(4), "the dry run left no trace");
        Assert.That(await _node.MessageCountAsync(_vhost, Topology.IntakeQueue), Is.EqualTo(4));
    }

    [Test]
    public async Task An_upgrade_imports_the_old_ledger_queue_once_and_feeds_only_what_it_does_not_name()
    {
        _stripe.ServePages(ThreePages(out var permitted));
        // An earlier version fed the two oldest events (and one no longer listed) and kept its ledger in RabbitMQ.
        var fedBefore = new[] { permitted[0], permitted[1] }.Select(e => (e.Id, e.Type, (string?)Account, Now.AddDays(-1))).ToList();
        fedBefore.Add(("evt_fed_before_not_listed", "customer.created", null, Now.AddDays(-2)));
        await using (var connection = await _node.ConnectAsync(_vhost))
        {
            await LegacyLedgerQueue.SeedAsync(connection, fedBefore);
        }

        // A dry run counts the old queue's entries and changes nothing.
        var dryRun = await RunAsync("backfill", "--since", "5d", "--account", Account, "--dry-run", "--json");
        Assert.That(dryRun.ExitCode, Is.Zero, dryRun.ToString());
        Assert.That(JsonCount(dryRun, "toFeed"), Is.EqualTo(2));
        Assert.That(JsonCount(dryRun, "alreadyFed"), Is.EqualTo(2));
        Assert.That(await _node.MessageCountAsync(_vhost, BackfillLedger.LegacyLedgerQueue), Is.EqualTo(3), "the dry run leaves the old queue whole");
        Assert.That(await StoreEntriesAsync(), Is.Empty);

        var run = await RunAsync("backfill", "--since", "5d", "--account", Account, "--json");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(JsonCount(run, "fed"), Is.EqualTo(2));
        Assert.That(JsonCount(run, "alreadyFed"), Is.EqualTo(2));
        Assert.That(run.Error, Does.Contain($"Imported 3 entries of the RabbitMQ queue {BackfillLedger.LegacyLedgerQueue}"));
        var intake = await _node.DrainAsync(_vhost, Topology.IntakeQueue);
        Assert.That(
            intake.Select(m => m.BasicProperties.MessageId),
            Is.EqualTo(new[] { permitted[2], permitted[3] }.Select(e => MessageIds.ForStripeEvent(e.Id).ToString())),
            "only what the old ledger did not name");
        Assert.That(await QueueExistsAsync(BackfillLedger.LegacyLedgerQueue), Is.False, "the old queue is deleted once imported");
        Assert.That(
            await StoreEntriesAsync(),
            Is.EquivalentTo(permitted.Select(e => e.Id).Append("evt_fed_before_not_listed")),
            "imported entries beside the new ones");

        // Later runs read the store alone.
        var again = await RunAsync("backfill", "--since", "5d", "--account", Account, "--json");
        Assert.That(again.ExitCode, Is.Zero, again.ToString());
        Assert.That(JsonCount(again, "fed"), Is.Zero);
        Assert.That(JsonCount(again, "alreadyFed"), Is.EqualTo(4));
        Assert.That(again.Error, Does.Not.Contain("Imported"));
    }

    [Test]
    public async Task Entries_older_than_31_days_are_purged_and_their_events_fed_again()
    {
        var completed = StripeEventsApi.Event("checkout.session.completed.json");
        _stripe.ServePages([completed]);
        using (var store = new SqlDeliveryLedger(StoreSettings.Resolve(_stripe.Configuration(null), AppContext.BaseDirectory), TimeProvider.System))
        {
            await new StoreMigrator(StoreSettings.Resolve(_stripe.Configuration(null), AppContext.BaseDirectory)).MigrateAsync(CancellationToken.None);
            await store.RecordFedAsync(
                [
                    new BackfillEntry(completed.Id, completed.Type, null, Now - BackfillLedger.Retention - TimeSpan.FromMinutes(1)),
                    new BackfillEntry("evt_recent", "customer.created", null, Now - BackfillLedger.Retention + TimeSpan.FromMinutes(1)),
                ],
                CancellationToken.None);
        }

        var run = await RunAsync("backfill", "--since", "5d", "--json");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(JsonCount(run, "fed"), Is.EqualTo(1), "an entry past the retention no longer counts");
        Assert.That(await StoreEntriesAsync(), Is.EquivalentTo(new[] { completed.Id, "evt_recent" }), "purged, then recorded anew");
    }

    [Test]
    public async Task An_unreachable_store_exits_1_naming_the_setting_before_listing()
    {
        _stripe.ServePages(ThreePages(out _));
        var configuration = new ConfigurationBuilder()
            .AddConfiguration(_stripe.Configuration(_node.AmqpUri(_vhost)))
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Store:Provider"] = "Postgres",
                ["Store:ConnectionString"] = "Host=127.0.0.1;Port=1;Database=syncworker;Username=syncworker;Timeout=2",
            })
            .Build();

        var run = await CliHarness.RunAsync(configuration, new FixedTime(Now), "backfill", "--since", "5d");

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error, Does.Contain("Store:ConnectionString").And.Contain("nothing was listed or fed"));
        Assert.That(_stripe.Requests, Is.Empty);
        Assert.That(await QueueExistsAsync(Topology.IntakeQueue), Is.False);
    }

    [Test]
    public async Task A_second_backfill_while_one_runs_exits_1_without_listing()
    {
        _stripe.ServePages(ThreePages(out _));
        await using var holder = await _node.ConnectAsync(_vhost);
        await using (var channel = await holder.CreateChannelAsync())
        {
            await channel.QueueDeclareAsync(BackfillLedger.LockQueue, durable: false, exclusive: true, autoDelete: true);
        }

        var run = await RunAsync("backfill", "--since", "5d");

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error, Does.Contain("Another backfill is running"));
        Assert.That(_stripe.Requests, Is.Empty);
        Assert.That(await QueueExistsAsync(Topology.IntakeQueue), Is.False);

        await holder.CloseAsync();
        var after = await RunAsync("backfill", "--since", "5d");
        Assert.That(after.ExitCode, Is.Zero, "the lock goes with the holder's connection: " + after);
    }

    [Test]
    public async Task Unauthorized_exits_1_naming_Stripe_ApiKey_without_showing_it()
    {
        // Stripe's own 401 text echoes (a masked form of) the key; this stand-in echoes all of it.
        _stripe.ServeError(401, $"Invalid API Key provided: {StripeEventsApi.ApiKey}");

        var run = await RunAsync("backfill", "--since", "5d");

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error, Does.Contain("401 Unauthorized").And.Contain("Stripe:ApiKey").And.Contain("req_wiremock401"));
        Assert.That(run.Output + run.Error, Does.Not.Contain(StripeEventsApi.ApiKey).And.Not.Contain("Invalid API Key provided"));
        Assert.That(_stripe.Requests, Has.Length.EqualTo(1), "not retried");
        Assert.That(await QueueExistsAsync(Topology.IntakeQueue), Is.False);
    }

    [Test]
    public async Task Transient_failures_are_retried_and_a_page_that_keeps_failing_feeds_nothing()
    {
        var completed = StripeEventsApi.Event("checkout.session.completed.json");
        _stripe.Server.Given(Request.Create().WithPath(StripeEventsApi.EventsPath).UsingGet())
            .InScenario("flaky").WillSetStateTo("recovered")
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(503));
        _stripe.Server.Given(Request.Create().WithPath(StripeEventsApi.EventsPath).UsingGet())
            .InScenario("flaky").WhenStateIs("recovered")
            .RespondWith(StripeEventsApi.Json(StripeEventsApi.Page([completed], hasMore: false)));

        var run = await RunAsync("backfill", "--since", "5d");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(_stripe.Requests, Has.Length.EqualTo(2));
        Assert.That(SummaryRow(run.Output, "Fed"), Is.EqualTo(1));

        _stripe.Server.Reset();
        _stripe.ServeError(500, "boom");
        var failing = await RunAsync("backfill", "--since", "5d");
        Assert.That(failing.ExitCode, Is.EqualTo(1), failing.ToString());
        Assert.That(failing.Error, Does.Contain($"gave up after {StripeEventListerMaxAttempts} attempts").And.Contain("Nothing of the app's own account was fed"));
        Assert.That(_stripe.Requests, Has.Length.EqualTo(StripeEventListerMaxAttempts));
    }

    [Test]
    public async Task Many_events_show_progress_lines_or_a_progress_bar_on_a_terminal()
    {
        var events = Enumerable.Range(0, 120).Select(_ => StripeEventsApi.Event("customer.created.json")).ToArray();
        _stripe.ServePages(events[..60], events[60..]);

        var lines = await RunAsync("backfill", "--since", "5d", "--dry-run");
        Assert.That(lines.ExitCode, Is.Zero, lines.ToString());
        Assert.That(lines.Output, Does.Contain("Listed 120 events so far…"), "a line per 100 listed");

        var fed = await RunAsync("backfill", "--since", "5d");
        Assert.That(fed.ExitCode, Is.Zero, fed.ToString());
        Assert.That(fed.Output, Does.Contain("Fed 100 of 120 events"), "a line per 100 fed");
        Assert.That(fed.Output, Does.Not.Contain("Fed 120 of 120 events"));
        Assert.That(await _node.MessageCountAsync(_vhost, Topology.IntakeQueue), Is.EqualTo(120));

        // On a terminal, a progress bar instead (here: the ledger empties the work, so feed a fresh virtual host and store).
        _vhost = await _virtualHosts.TakeAsync();
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await OperationsCli.RunAsync(
            ["backfill", "--since", "5d"],
            new ConfigurationBuilder()
                .AddConfiguration(_stripe.Configuration(_node.AmqpUri(_vhost)))
                .AddInMemoryCollection(new Dictionary<string, string?> { ["Store:DataDirectory"] = Path.Combine(_stripe.StoreDirectory, "terminal") })
                .Build(),
            CliHarness.Console(output, interactive: true),
            error,
            new FixedTime(Now),
            CancellationToken.None);
        Assert.That(exit, Is.Zero, output + "\n" + error);
        Assert.That(
            output.ToString(),
            Does.Contain("Accounts 1/1 · 120 listed · 120 fed").And.Contain("(own account): 120 listed, 120 to feed, 120 fed")
                .And.Contain("100%").And.Not.Contain("Fed 100 of 120"),
            "a bar for the run and one for the (only) account, no progress lines");
        Assert.That(await _node.MessageCountAsync(_vhost, Topology.IntakeQueue), Is.EqualTo(120));
    }

    [Test]
    public async Task Without_account_it_lists_the_own_account_and_each_installed_account_of_the_keys_mode_with_its_header()
    {
        const string merchantA = "acct_1BackfillMerchantA";
        const string merchantB = "acct_1BackfillMerchantB";
        const string uninstalled = "acct_1BackfillGone";
        const string liveOnly = "acct_1BackfillLiveOnly";
        await SeedInstallsAsync(
            (merchantA, false, InstallStatus.Installed),
            (merchantB, false, InstallStatus.Installed),
            (uninstalled, false, InstallStatus.Uninstalled),
            (liveOnly, true, InstallStatus.Installed));

        var own = StripeEventsApi.Event("customer.created.json", account: null);
        var ofA = new[] { StripeEventsApi.Event("checkout.session.completed.json", merchantA), StripeEventsApi.Event("invoice.paid.json", merchantA) };
        // Listed with Stripe-Account but without "account" of their own: they get the account they were listed for.
        var ofB = new[] { StripeEventsApi.Event("charge.refunded.json", account: null), StripeEventsApi.Event("payment_intent.succeeded.json", account: null) };
        _stripe.ServePages([own]);
        _stripe.ServePagesFor(merchantA, ofA);
        _stripe.ServePagesFor(merchantB, [ofB[0]], [ofB[1]]);
        _stripe.ServePagesFor(uninstalled, [StripeEventsApi.Event("customer.created.json", uninstalled)]);
        _stripe.ServePagesFor(liveOnly, [StripeEventsApi.Event("customer.created.json", liveOnly)]);

        var run = await RunAsync("backfill", "--since", "5d", "--json");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(
            _stripe.Requests.Select(r => StripeEventsApi.Header(r, "Stripe-Account").SingleOrDefault()),
            Is.EqualTo(new[] { null, merchantA, merchantB, merchantB }),
            "the app's own account (no header), then each installed test-mode account in order, every page with its header; " +
            "not the uninstalled account, not the live-mode one (the key is a test key)");

        // What the forwarders get: each event with the account it belongs to; the payload as Stripe listed it.
        var intake = await _node.DrainAsync(_vhost, Topology.IntakeQueue);
        var fed = intake.Select(m =>
        {
            using var document = JsonDocument.Parse(m.Body);
            var message = document.RootElement;
            return (Id: message.GetProperty("eventId").GetString()!, Account: message.GetProperty("account").GetString(), Payload: message.GetProperty("payload").GetString()!);
        }).ToDictionary(e => e.Id);
        Assert.That(fed.Keys, Is.EquivalentTo(new[] { own.Id, ofA[0].Id, ofB[0].Id, ofB[1].Id }), "invoice.paid is not permitted by the manifest");
        Assert.Multiple(() =>
        {
            Assert.That(fed[own.Id].Account, Is.Null, "the app's own account's event has no account");
            Assert.That(fed[ofA[0].Id].Account, Is.EqualTo(merchantA));
            Assert.That(fed[ofB[0].Id].Account, Is.EqualTo(merchantB), "set from the account it was listed for");
            Assert.That(fed[ofB[1].Id].Account, Is.EqualTo(merchantB));
            Assert.That(fed[ofB[0].Id].Payload, Is.EqualTo(ofB[0].Payload), "the raw event is not rewritten");
        });

        // The summary, per account and in all.
        using var summary = JsonDocument.Parse(run.Output);
        var root = summary.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("mode").GetString(), Is.EqualTo("test"));
            Assert.That(root.GetProperty("installsRecorded").GetBoolean(), Is.True);
            Assert.That(root.GetProperty("account").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(root.GetProperty("listed").GetInt32(), Is.EqualTo(5));
            Assert.That(root.GetProperty("fed").GetInt32(), Is.EqualTo(4));
            Assert.That(root.GetProperty("notPermitted").GetInt32(), Is.EqualTo(1));
            Assert.That(root.GetProperty("error").ValueKind, Is.EqualTo(JsonValueKind.Null));
        });
        var accounts = root.GetProperty("accounts").EnumerateArray().ToList();
        Assert.That(accounts.Select(a => a.GetProperty("account").GetString()), Is.EqualTo(new[] { null, merchantA, merchantB }));
        Assert.Multiple(() =>
        {
            Assert.That(accounts.Select(a => a.GetProperty("listed").GetInt32()), Is.EqualTo(new[] { 1, 2, 2 }));
            Assert.That(accounts.Select(a => a.GetProperty("fed").GetInt32()), Is.EqualTo(new[] { 1, 1, 2 }));
            Assert.That(accounts.Select(a => a.GetProperty("notPermitted").GetInt32()), Is.EqualTo(new[] { 0, 1, 0 }));
            Assert.That(accounts.Select(a => a.GetProperty("accountFromListing").GetInt32()), Is.EqualTo(new[] { 0, 0, 2 }));
            Assert.That(accounts.Select(a => a.GetProperty("error").ValueKind), Is.All.EqualTo(JsonValueKind.Null));
        });
        var skipped = root.GetProperty("skipped").EnumerateArray().ToList();
        Assert.That(skipped.Select(a => a.GetProperty("account").GetString()), Is.EqualTo(new[] { uninstalled }));
        Assert.That(skipped[0].GetProperty("reason").GetString(), Does.Contain("uninstalled in test mode"));
        Assert.That(run.Error, Does.Contain("[3/3] account " + merchantB + ": listed 2, fed 2 of 2."), "a progress line per account, on standard error");
    }

    [Test]
    public async Task With_account_only_that_account_is_listed_and_an_uninstalled_one_not_at_all()
    {
        const string merchantA = "acct_1BackfillMerchantA";
        const string merchantB = "acct_1BackfillMerchantB";
        const string uninstalled = "acct_1BackfillGone";
        await SeedInstallsAsync(
            (merchantA, false, InstallStatus.Installed),
            (merchantB, false, InstallStatus.Installed),
            (uninstalled, false, InstallStatus.Uninstalled));
        var ofB = StripeEventsApi.Event("customer.created.json", account: null);
        _stripe.ServePages([StripeEventsApi.Event("customer.created.json", account: null)]);
        _stripe.ServePagesFor(merchantA, [StripeEventsApi.Event("customer.created.json", merchantA)]);
        _stripe.ServePagesFor(merchantB, [ofB]);
        _stripe.ServePagesFor(uninstalled, [StripeEventsApi.Event("customer.created.json", uninstalled)]);

        var run = await RunAsync("backfill", "--since", "5d", "--account", merchantB);

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(_stripe.Requests.Select(r => StripeEventsApi.Header(r, "Stripe-Account").SingleOrDefault()), Is.EqualTo(new[] { merchantB }));
        Assert.That(SummaryRow(run.Output, "Fed"), Is.EqualTo(1));
        Assert.That(run.Output, Does.Contain($"(account {merchantB})").And.Not.Contain("Events listed"), "one account: no per-account table");
        var intake = await _node.DrainAsync(_vhost, Topology.IntakeQueue);
        using (var message = JsonDocument.Parse(intake.Single().Body))
        {
            Assert.That(message.RootElement.GetProperty("eventId").GetString(), Is.EqualTo(ofB.Id));
            Assert.That(message.RootElement.GetProperty("account").GetString(), Is.EqualTo(merchantB));
        }

        _stripe.Server.ResetLogEntries();
        var gone = await RunAsync("backfill", "--since", "5d", "--account", uninstalled);

        Assert.That(gone.ExitCode, Is.Zero, gone.ToString());
        Assert.That(_stripe.Requests, Is.Empty, "an uninstalled account is not backfilled");
        Assert.That(gone.Output, Does.Contain($"Account {uninstalled} is recorded as uninstalled in test mode; nothing of it is listed").And.Contain("installs sync"));
        Assert.That(gone.Output, Does.Contain("skipped: uninstalled in test mode"));
        Assert.That(await _node.MessageCountAsync(_vhost, Topology.IntakeQueue), Is.Zero);
    }

    [Test]
    public async Task An_account_that_fails_is_reported_and_the_others_are_backfilled_with_exit_1()
    {
        // The failing account comes first of the installed ones (accounts are listed in order): the run goes on after it.
        const string revoked = "acct_1BackfillAARevoked";
        const string merchantB = "acct_1BackfillMerchantB";
        await SeedInstallsAsync((revoked, false, InstallStatus.Installed), (merchantB, false, InstallStatus.Installed));
        var own = StripeEventsApi.Event("customer.created.json", account: null);
        var ofB = StripeEventsApi.Event("checkout.session.completed.json", merchantB);
        _stripe.ServePages([own]);
        _stripe.ServeErrorFor(revoked, 403, "The provided key does not have access to account " + revoked);
        _stripe.ServePagesFor(merchantB, [ofB]);

        var run = await RunAsync("backfill", "--since", "5d");

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(
            _stripe.Requests.Select(r => StripeEventsApi.Header(r, "Stripe-Account").SingleOrDefault()),
            Is.EqualTo(new[] { null, revoked, merchantB }),
            "in account order; a 403 is not retried, and the run goes on with the next account");
        Assert.That(
            run.Error,
            Does.Contain($"error: account {revoked}: ").And.Contain("403 Forbidden").And.Contain("revoked its access")
                .And.Contain("installs sync").And.Contain($"Nothing of account {revoked} was fed"));
        Assert.That(run.Output + run.Error, Does.Not.Contain(StripeEventsApi.ApiKey));
        var rows = run.Output.Split('\n');
        Assert.That(rows.Single(l => l.Contains("│ " + revoked + " ", StringComparison.Ordinal)), Does.Contain("failed"));
        Assert.That(rows.Single(l => l.Contains("│ " + merchantB + " ", StringComparison.Ordinal)), Does.Contain("ok"));
        Assert.That(run.Output, Does.Contain($"1 account of 3 failed ({revoked})"));
        Assert.That(SummaryRow(run.Output, "Fed"), Is.EqualTo(2));
        var intake = await _node.DrainAsync(_vhost, Topology.IntakeQueue);
        Assert.That(
            intake.Select(m => m.BasicProperties.MessageId),
            Is.EquivalentTo(new[] { own, ofB }.Select(e => MessageIds.ForStripeEvent(e.Id).ToString())));

        // --json names the account's error and the run's.
        _stripe.Server.ResetLogEntries();
        var json = await RunAsync("backfill", "--since", "5d", "--json");
        Assert.That(json.ExitCode, Is.EqualTo(1), json.ToString());
        using var summary = JsonDocument.Parse(json.Output);
        var accounts = summary.RootElement.GetProperty("accounts").EnumerateArray().ToList();
        Assert.That(accounts[1].GetProperty("account").GetString(), Is.EqualTo(revoked));
        Assert.That(accounts[1].GetProperty("error").GetString(), Does.Contain("403 Forbidden"));
        Assert.That(accounts[2].GetProperty("error").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(accounts[2].GetProperty("alreadyFed").GetInt32(), Is.EqualTo(1), "fed by the first run");
        Assert.That(summary.RootElement.GetProperty("error").GetString(), Does.Contain($"1 account of 3 failed: {revoked}"));
    }

    [Test]
    public async Task A_refused_key_stops_the_run_without_listing_the_other_accounts()
    {
        await SeedInstallsAsync(("acct_1BackfillMerchantA", false, InstallStatus.Installed));
        _stripe.ServeError(401, $"Invalid API Key provided: {StripeEventsApi.ApiKey}");

        var run = await RunAsync("backfill", "--since", "5d", "--json");

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(_stripe.Requests, Has.Length.EqualTo(1), "the same key cannot list the next account either");
        using var summary = JsonDocument.Parse(run.Output);
        var accounts = summary.RootElement.GetProperty("accounts").EnumerateArray().ToList();
        Assert.That(accounts[0].GetProperty("error").GetString(), Does.Contain("401 Unauthorized"));
        Assert.That(accounts[1].GetProperty("error").GetString(), Does.Contain("not listed: the Stripe key was refused"));
        Assert.That(run.Output + run.Error, Does.Not.Contain(StripeEventsApi.ApiKey));
    }

    private async Task SeedInstallsAsync(params (string Account, bool Livemode, string Status)[] installs)
    {
        var settings = StoreSettings.Resolve(_stripe.Configuration(null), AppContext.BaseDirectory);
        await new StoreMigrator(settings).MigrateAsync(CancellationToken.None);
        using var store = new SqlDeliveryLedger(settings, TimeProvider.System);
        var registry = new SqlInstallRegistry(store, TimeProvider.System);
        foreach (var (account, livemode, status) in installs)
        {
            await registry.ApplyAsync(new InstallChange(account, livemode, status, null, null, "evt_install_" + account, Now.AddDays(-20)), CancellationToken.None);
        }
    }

    private const string MassTransitStripeEventIdHeader = Messaging.MassTransitStripeEventPublisher.StripeEventIdHeader;

    private const int StripeEventListerMaxAttempts = StripeEventLister.MaxAttempts;

    private Task<CliRun> RunAsync(params string[] args) =>
        CliHarness.RunAsync(_stripe.Configuration(_node.AmqpUri(_vhost)), new FixedTime(Now), args);

    private Task<IReadOnlySet<string>> StoreEntriesAsync() => LegacyLedgerQueue.StoreEntriesAsync(_stripe.Configuration(null));

    private static int JsonCount(CliRun run, string property)
    {
        using var document = JsonDocument.Parse(run.Output);
        return document.RootElement.GetProperty(property).GetInt32();
    }

    private async Task<bool> QueueExistsAsync(string queue)
    {
        await using var connection = await _node.ConnectAsync(_vhost);
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            await channel.QueueDeclarePassiveAsync(queue);
            return true;
        }
        catch (OperationInterruptedException exception) when (exception.ShutdownReason?.ReplyCode == 404)
        {
            return false;
        }
    }

    /// <summary>The count in the summary table's row <paramref name="label"/>.</summary>
    private static int SummaryRow(string output, string label)
    {
        var line = output.Split('\n').Single(l => l.Contains("│ " + label + " ", StringComparison.Ordinal));
        var cells = line.Split('│', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return int.Parse(cells[^1], CultureInfo.InvariantCulture);
    }
}
