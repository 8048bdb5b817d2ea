using System.Text.Json;
using Microsoft.Extensions.Configuration;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using SyncWorker.Contracts;
using SyncWorker.Operations.Targets;
using SyncWorker.Store;
using SyncWorker.Store.Ledger;
using SyncWorker.Testing;

namespace SyncWorker.Operations.Tests.Status;

/// <summary>
/// <c>status</c> against a private RabbitMQ node (a fresh virtual host per test) seeded with queues, messages, a consumer
/// and a pause marker, and fake workers answering <c>GET /admin/status</c>.
/// </summary>
[TestFixture]
public sealed class StatusTests
{
    private const string Token = "status-token-0123456789abcdefABCDEF";

    /// <summary>The workers' clocks and the CLI's: ages in the table are relative to this.</summary>
    private static readonly DateTimeOffset Now = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    private const string WarehouseFailure = "Delivering order cs_live_a1 (order.paid) to target 'warehouse' failed after 5 attempts; last: 503 Service Unavailable.";

    private RabbitMqNode _node = null!;
    private VirtualHostPool _virtualHosts = null!;
    private string _vhost = null!;
    private readonly string _store = Path.Combine(Path.GetTempPath(), "syncworker-status", Guid.NewGuid().ToString("N")[..8]);

    [OneTimeSetUp]
    public async Task StartBrokerAsync()
    {
        _node = await RabbitMqNode.LaunchAsync();
        _virtualHosts = new VirtualHostPool(_node);
        await _virtualHosts.FillAsync(11);
        await SeedLedgerAsync();
    }

    [OneTimeTearDown]
    public async Task StopBrokerAsync()
    {
        await _node.DisposeAsync();
        if (Directory.Exists(_store))
        {
            Directory.Delete(_store, recursive: true);
        }
    }

    [SetUp]
    public async Task CreateVirtualHostAsync() => _vhost = await _virtualHosts.TakeAsync();

    [Test]
    public async Task Json_combines_broker_depths_with_the_instances_and_is_the_only_thing_on_stdout()
    {
        await using var broker = await SeedBrokerAsync();
        await using var a = await FakeWorker.StartAsync(Token, InstanceA());
        await using var b = await FakeWorker.StartAsync(Token, InstanceB());
        var configuration = Configuration(Token, a.Url, b.Url, "http://127.0.0.1:1");

        var run = await CliHarness.RunAsync(configuration, new FixedTime(Now), "status", "--json");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        using var document = JsonDocument.Parse(run.Output);
        var root = document.RootElement;
        var targets = root.GetProperty("targets").EnumerateArray().ToDictionary(t => t.GetProperty("name").GetString()!);
        Assert.That(targets.Keys, Is.EqualTo(new[] { "warehouse", "dropship", "archive" }));

        var warehouse = targets["warehouse"];
        Assert.Multiple(() =>
        {
            Assert.That(warehouse.GetProperty("mode").GetString(), Is.EqualTo("live"));
            Assert.That(warehouse.GetProperty("format").GetString(), Is.EqualTo("order"), "the worker's default");
            Assert.That(warehouse.GetProperty("paused").GetBoolean(), Is.False);
            Assert.That(warehouse.GetProperty("ready").GetInt32(), Is.EqualTo(6));
            Assert.That(warehouse.GetProperty("retryWaiting").GetInt64(), Is.EqualTo(3), "from the ledger: 2 retrying + 1 waiting (not delivered, in flight or dead-lettered)");
            Assert.That(warehouse.GetProperty("earlierDelayQueues").EnumerateArray().Select(q => (q.GetProperty("queue").GetString(), q.GetProperty("ready").GetInt32())),
                Is.EqualTo(new[] { ("syncworker.target.warehouse.wait.5s", 1) }), "a per-target delay queue of the previous version, still holding one");
            Assert.That(warehouse.GetProperty("deadLetters").GetInt32(), Is.EqualTo(2));
            Assert.That(warehouse.GetProperty("consumers").GetInt32(), Is.Zero);
            Assert.That(warehouse.GetProperty("circuit").GetString(), Is.EqualTo("Open"), "one instance open: open");
            Assert.That(warehouse.GetProperty("circuitsDiffer").GetBoolean(), Is.True);
            Assert.That(warehouse.GetProperty("circuitByInstance").GetProperty("host-a/101").GetString(), Is.EqualTo("Closed"));
            Assert.That(warehouse.GetProperty("circuitByInstance").GetProperty("host-b/202").GetString(), Is.EqualTo("Open"));
            Assert.That(warehouse.GetProperty("inFlight").GetInt64(), Is.EqualTo(5));
            Assert.That(warehouse.GetProperty("consumingInstances").GetInt32(), Is.EqualTo(2));
            Assert.That(warehouse.GetProperty("lastSuccessAt").GetDateTimeOffset(), Is.EqualTo(Now.AddMinutes(-5)), "the later of the two");
            Assert.That(warehouse.GetProperty("lastFailureAt").GetDateTimeOffset(), Is.EqualTo(Now.AddMinutes(-2)));
            Assert.That(warehouse.GetProperty("lastFailureReason").GetString(), Is.EqualTo(WarehouseFailure), "the latest failure's reason");
            Assert.That(warehouse.GetProperty("lastFailureInstance").GetString(), Is.EqualTo("host-b/202"));

            var dropship = targets["dropship"];
            Assert.That(dropship.GetProperty("paused").GetBoolean(), Is.True);
            Assert.That(dropship.GetProperty("ready").GetInt32(), Is.Zero);
            Assert.That(dropship.GetProperty("retryWaiting").GetInt64(), Is.EqualTo(5), "from the ledger: 5 retrying");
            Assert.That(dropship.GetProperty("circuit").GetString(), Is.EqualTo("Closed"));
            Assert.That(dropship.GetProperty("circuitsDiffer").GetBoolean(), Is.False);
            Assert.That(dropship.GetProperty("lastFailureAt").ValueKind, Is.EqualTo(JsonValueKind.Null));

            var archive = targets["archive"];
            Assert.That(archive.GetProperty("format").GetString(), Is.EqualTo("event"));
            Assert.That(archive.GetProperty("consumers").GetInt32(), Is.EqualTo(1));
            Assert.That(archive.GetProperty("deadLetters").GetInt32(), Is.Zero);
            Assert.That(archive.GetProperty("retryWaiting").GetInt64(), Is.Zero);

            Assert.That(root.GetProperty("intake").GetProperty("ready").GetInt32(), Is.EqualTo(4));
            Assert.That(root.GetProperty("delayQueues").EnumerateArray().Select(q => (q.GetProperty("queue").GetString(), q.GetProperty("ready").GetInt32())),
                Is.EqualTo(new[] { ("syncworker.wait.5s", 2), ("syncworker.wait.60s", 1), ("syncworker.wait.300s", 4), ("syncworker.wait.36000s", 1) }),
                "the shared delay queues that exist, shortest wait first");
            Assert.That(root.GetProperty("warnings").EnumerateArray().Select(w => w.GetString()), Has.Some.Contains("Target 'warehouse' still has 1 deliveries in delay queues of an earlier version (syncworker.target.warehouse.wait.5s)")
                .And.Some.Contains("Target 'dropship' has empty delay queues of an earlier version (syncworker.target.dropship.delay.300s), no longer used: delete them."));
            var receiver = root.GetProperty("receiver");
            Assert.That(receiver.GetProperty("windowMinutes").GetInt32(), Is.EqualTo(15));
            Assert.That(receiver.GetProperty("instances").GetInt32(), Is.EqualTo(2));
            Assert.That(receiver.GetProperty("accepted").GetInt64(), Is.EqualTo(8));
            Assert.That(receiver.GetProperty("refused").GetInt64(), Is.EqualTo(4), "ignored and client_aborted are not refusals");
            Assert.That(receiver.GetProperty("ignored").GetInt64(), Is.EqualTo(1));
            Assert.That(receiver.GetProperty("outcomes").GetProperty("bad_signature").GetInt64(), Is.EqualTo(2));
            Assert.That(receiver.GetProperty("outcomes").GetProperty("ignored").GetInt64(), Is.EqualTo(1));
            Assert.That(receiver.GetProperty("outcomes").GetProperty("broker_unavailable").GetInt64(), Is.EqualTo(2));

            var workers = root.GetProperty("workers").EnumerateArray().Select(w => w.GetProperty("state").GetString()).ToList();
            Assert.That(workers, Is.EqualTo(new[] { "ok", "ok", "unreachable" }));
        });

        Assert.That(run.Error, Does.Contain("warning: Worker http://127.0.0.1:1 is unreachable"));
        Assert.That(run.Output + run.Error, Does.Not.Contain(Token));
        Assert.That(a.Requests, Is.EqualTo(1));
        Assert.That(b.Requests, Is.EqualTo(1));
    }

    [Test]
    public async Task Table_shows_targets_receiver_and_workers_with_an_unreachable_row()
    {
        await using var broker = await SeedBrokerAsync();
        await using var a = await FakeWorker.StartAsync(Token, InstanceA());
        await using var b = await FakeWorker.StartAsync(Token, InstanceB());
        var configuration = Configuration(Token);

        var run = await CliHarness.RunAsync(
            configuration, new FixedTime(Now), "status", "--worker", a.Url, "--worker", b.Url, "--worker", "http://127.0.0.1:1");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        var lines = run.Output.Split('\n');
        Assert.That(
            Row(lines, "warehouse"),
            Does.Match(
                @"warehouse\s*│\s*live\s*│\s*no\s*│\s*Open \(host-a/101: Closed, host-b/202: Open\)\s*│\s*6\s*│\s*5\s*│\s*3\s*│\s*2\s*│" +
                @"\s*0 \(2 of 2 instances consuming\)\s*│\s*2026-11-26 11:55:00Z \(5m 0s ago\)\s*│" +
                @"\s*2026-11-26 11:58:00Z \(2m 0s ago\): Delivering order cs_live_a1 \(order\.paid\) to target 'warehouse' failed"));
        Assert.That(Row(lines, "dropship"), Does.Match(@"dropship\s*│\s*test\s*│\s*paused\s*│\s*Closed\s*│\s*0\s*│\s*0\s*│\s*5\s*│\s*0\s*│"));
        Assert.That(Row(lines, "archive"), Does.Match(@"archive\s*│\s*live\s*│\s*no\s*│\s*Closed\s*│\s*0\s*│\s*0\s*│\s*0\s*│\s*0\s*│\s*1 \(2 of 2"));
        Assert.That(Row(lines, "Accepted"), Does.Match(@"Accepted\s*│\s*8\s*│"));
        Assert.That(Row(lines, "Refused"), Does.Match(@"Refused\s*│\s*4 \(bad_signature 2, broker_unavailable 2\)\s*│"));
        Assert.That(Row(lines, "Ignored"), Does.Match(@"Ignored \(200, not queued\)\s*│\s*1\s*│"));
        Assert.That(Row(lines, "Aborted by the client"), Does.Match(@"Aborted by the client\s*│\s*1\s*│"));
        Assert.That(Row(lines, "Intake ready"), Does.Match(@"Intake ready\s*│\s*4\s*│"));
        Assert.That(Row(lines, "Delay queues"), Does.Contain("8 waiting in 4 queues"));
        Assert.That(Row(lines, "http://127.0.0.1:1 "), Does.Contain("unreachable"));
        Assert.That(Row(lines, a.Url + " "), Does.Match(@"│\s*ok\s*│\s*host-a/101\s*│\s*All\s*│"));
        Assert.That(run.Output, Does.Contain("warning: Worker http://127.0.0.1:1 is unreachable"));
        Assert.That(run.Output + run.Error, Does.Not.Contain(Token));
    }

    [Test]
    public async Task A_target_endpoint_an_instance_could_not_start_is_shown_with_the_reason()
    {
        const string problem = "its endpoint on syncworker.target.archive is not ready after 30 s (PRECONDITION_FAILED - inequivalent arg 'x-queue-type')";
        await using var broker = await SeedBrokerAsync();
        var stuck = InstanceB() with
        {
            Targets =
            [
                .. InstanceB().Targets.Where(t => t.Name != "archive"),
                new TargetInstanceStatus("archive", "live", "event", false, false, "Closed", 0, null, null, null, problem),
            ],
        };
        await using var a = await FakeWorker.StartAsync(Token, InstanceA());
        await using var b = await FakeWorker.StartAsync(Token, stuck);
        var configuration = Configuration(Token, a.Url, b.Url);

        var json = await CliHarness.RunAsync(configuration, new FixedTime(Now), "status", "--json");
        var table = await CliHarness.RunAsync(configuration, new FixedTime(Now), "status");

        Assert.That(json.ExitCode, Is.Zero, json.ToString());
        using var document = JsonDocument.Parse(json.Output);
        var targets = document.RootElement.GetProperty("targets").EnumerateArray().ToDictionary(t => t.GetProperty("name").GetString()!);
        Assert.That(targets["archive"].GetProperty("notReadyByInstance").GetProperty("host-b/202").GetString(), Is.EqualTo(problem));
        Assert.That(targets["archive"].GetProperty("consumingInstances").GetInt32(), Is.EqualTo(1));
        Assert.That(targets["warehouse"].GetProperty("notReadyByInstance").EnumerateObject(), Is.Empty);
        Assert.That(table.ExitCode, Is.Zero, table.ToString());
        Assert.That(table.Output, Does.Contain("NOT READY"), table.Output);
    }

    [Test]
    public async Task A_refused_token_exits_1_and_never_prints_a_token()
    {
        const string workersToken = "the-workers-real-token-abcdefghijkl";
        await using var broker = await SeedBrokerAsync();
        await using var a = await FakeWorker.StartAsync(workersToken, InstanceA());

        var table = await CliHarness.RunAsync(Configuration(Token), new FixedTime(Now), "status", "--worker", a.Url);
        var json = await CliHarness.RunAsync(Configuration(Token), new FixedTime(Now), "status", "--worker", a.Url, "--json");

        Assert.That(a.Refused, Is.EqualTo(2));
        Assert.That(a.Requests, Is.Zero);
        Assert.That(table.ExitCode, Is.EqualTo(1), table.ToString());
        Assert.That(table.Error, Does.Contain($"error: the worker at {a.Url} refused the bearer token (401): Admin:Token here differs"));
        Assert.That(Row(table.Output.Split('\n'), a.Url + " "), Does.Contain("token refused"));
        Assert.That(Row(table.Output.Split('\n'), "warehouse"), Does.Match(@"warehouse\s*│\s*live\s*│\s*no\s*│\s*-\s*│\s*6\s*│"), "broker numbers still shown");
        Assert.That(json.ExitCode, Is.EqualTo(1), json.ToString());
        using var document = JsonDocument.Parse(json.Output);
        Assert.That(document.RootElement.GetProperty("workers")[0].GetProperty("state").GetString(), Is.EqualTo("unauthorized"));
        foreach (var run in new[] { table, json })
        {
            Assert.That(run.Output + run.Error, Does.Not.Contain(Token).And.Not.Contain(workersToken));
        }
    }

    [Test]
    public async Task Without_workers_it_shows_broker_numbers_and_says_how_to_add_workers()
    {
        await using var broker = await SeedBrokerAsync();
        var configuration = Configuration(token: null);

        var table = await CliHarness.RunAsync(configuration, new FixedTime(Now), "status");
        var json = await CliHarness.RunAsync(configuration, new FixedTime(Now), "status", "--json");

        Assert.That(table.ExitCode, Is.Zero, table.ToString());
        Assert.That(Row(table.Output.Split('\n'), "warehouse"), Does.Match(@"warehouse\s*│\s*live\s*│\s*no\s*│\s*-\s*│\s*6\s*│\s*-\s*│\s*3\s*│\s*2\s*│\s*0\s*│"));
        Assert.That(Row(table.Output.Split('\n'), "dropship"), Does.Contain("paused"));
        Assert.That(table.Output, Does.Contain("No workers configured").And.Contain("--worker http://HOST:PORT").And.Contain("Status:Workers:0"));
        Assert.That(table.Output, Does.Contain("(no workers configured)"));

        Assert.That(json.ExitCode, Is.Zero, json.ToString());
        using var document = JsonDocument.Parse(json.Output);
        Assert.That(document.RootElement.GetProperty("receiver").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(document.RootElement.GetProperty("workers").GetArrayLength(), Is.Zero);
        Assert.That(document.RootElement.GetProperty("targets")[0].GetProperty("retryWaiting").GetInt64(), Is.EqualTo(3));
        Assert.That(json.Error, Does.Contain("No workers configured"));
    }

    [Test]
    public async Task Without_a_store_retry_waiting_is_unknown_and_a_warning_says_which_settings_to_give()
    {
        await using var broker = await SeedBrokerAsync();
        var configuration = new ConfigurationBuilder()
            .AddConfiguration(Configuration(token: null))
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Store:DataDirectory"] = Path.Combine(_store, "none") })
            .Build();

        var json = await CliHarness.RunAsync(configuration, new FixedTime(Now), "status", "--json");
        var table = await CliHarness.RunAsync(configuration, new FixedTime(Now), "status");

        Assert.That(json.ExitCode, Is.Zero, json.ToString());
        using var document = JsonDocument.Parse(json.Output);
        Assert.That(document.RootElement.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("retryWaiting").ValueKind), Is.All.EqualTo(JsonValueKind.Null),
            "not the delay queues' depth, which is every target's");
        Assert.That(json.Error, Does.Contain("Retry-waiting comes from the delivery ledger, which could not be read (There is no store at").And.Contain("Store:Provider"));
        Assert.That(table.ExitCode, Is.Zero, table.ToString());
        Assert.That(Row(table.Output.Split('\n'), "warehouse"), Does.Match(@"warehouse\s*│\s*live\s*│\s*no\s*│\s*-\s*│\s*6\s*│\s*-\s*│\s*-\s*│\s*2\s*│"));
    }

    [Test]
    public async Task Watch_json_writes_one_document_per_line_until_cancelled()
    {
        await using var broker = await SeedBrokerAsync();
        await using var a = await FakeWorker.StartAsync(Token, InstanceA());
        var configuration = Configuration(Token, a.Url);

        var run = await RunUntilAsync(configuration, output => output.Count(c => c == '\n') >= 2, interactive: false, "status", "--watch", "--json", "--interval", "1s");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        var lines = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.GreaterThanOrEqualTo(2), run.ToString());
        foreach (var line in lines)
        {
            using var document = JsonDocument.Parse(line);
            Assert.That(document.RootElement.GetProperty("targets")[0].GetProperty("ready").GetInt32(), Is.EqualTo(6));
        }

        // One document per round; the cancellation can land while a last round's request is on its way (asked, not printed).
        Assert.That(a.Requests, Is.InRange(lines.Length, lines.Length + 1));
        Assert.That(run.Error, Does.Not.Contain("error"));
    }

    [Test]
    public async Task Watch_prints_a_new_table_each_interval_or_refreshes_a_live_display()
    {
        await using var broker = await SeedBrokerAsync();
        var configuration = Configuration(token: null);

        // Each run is stopped once it printed what is looked for (or after a minute): a fixed time would fail on a busy machine.
        var plain = await RunUntilAsync(configuration, output => Tables(output) >= 2, interactive: false, "status", "--watch", "--interval", "1s");
        var live = await RunUntilAsync(configuration, output => output.Contains("warehouse", StringComparison.Ordinal) && output.Contains("Retry-waiting", StringComparison.Ordinal),
            interactive: true, "status", "--watch", "--interval", "1s");

        Assert.That(plain.ExitCode, Is.Zero, plain.ToString());
        Assert.That(Tables(plain.Output), Is.GreaterThanOrEqualTo(2), plain.ToString());
        Assert.That(live.ExitCode, Is.Zero, live.ToString());
        Assert.That(live.Output, Does.Contain("warehouse").And.Contain("Retry-waiting"));
    }

    private static int Tables(string output) => output.Split("SyncWorker status at").Length - 1;

    private static string Row(string[] lines, string start) =>
        lines.FirstOrDefault(line => line.TrimStart('│', ' ').StartsWith(start, StringComparison.Ordinal))
        ?? throw new AssertionException($"No line starts with '{start}':\n{string.Join('\n', lines)}");

    /// <summary>Runs the verb until its output satisfies <paramref name="done"/> (or a minute passed), then cancels it.</summary>
    private static async Task<CliRun> RunUntilAsync(IConfiguration configuration, Func<string, bool> done, bool interactive, params string[] args)
    {
        using var output = new LockedStringWriter();
        using var error = new StringWriter();
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var run = OperationsCli.RunAsync(args, configuration, CliHarness.Console(output, interactive), error, TimeProvider.System, cancel.Token);
        while (!run.IsCompleted && !done(output.Snapshot()))
        {
            await Task.WhenAny(run, Task.Delay(50));
        }

        await cancel.CancelAsync();
        var exit = await run;
        return new CliRun(exit, output.Snapshot(), error.ToString());
    }

    /// <summary>A <see cref="StringWriter"/> that can be read while the command writes to it.</summary>
    private sealed class LockedStringWriter : StringWriter
    {
        private readonly Lock _gate = new();

        public string Snapshot()
        {
            lock (_gate)
            {
                return ToString();
            }
        }

        public override void Write(char value)
        {
            lock (_gate)
            {
                base.Write(value);
            }
        }

        public override void Write(char[] buffer, int index, int count)
        {
            lock (_gate)
            {
                base.Write(buffer, index, count);
            }
        }

        public override void Write(ReadOnlySpan<char> buffer)
        {
            lock (_gate)
            {
                base.Write(buffer);
            }
        }

        public override void Write(string? value)
        {
            lock (_gate)
            {
                base.Write(value);
            }
        }
    }

    /// <summary>
    /// Three targets: <c>warehouse</c> (live; delays 5, 60, 60.4 and 120 s: queues wait.5s, wait.60s, wait.120s among others),
    /// <c>dropship</c> (test; default schedule) and <c>archive</c> (live, event format); workers from <paramref name="workers"/>;
    /// the SQLite store <see cref="SeedLedgerAsync"/> fills.
    /// </summary>
    private IConfiguration Configuration(string? token, params string[] workers)
    {
        var values = new Dictionary<string, string?>
        {
            ["RabbitMq:Uri"] = _node.AmqpUri(_vhost).ToString(),
            ["Fulfillment:Targets:0:Name"] = "warehouse",
            ["Fulfillment:Targets:0:Mode"] = "live",
            ["Fulfillment:Targets:0:Redelivery:DelaysSeconds:0"] = "5",
            ["Fulfillment:Targets:0:Redelivery:DelaysSeconds:1"] = "60",
            ["Fulfillment:Targets:0:Redelivery:DelaysSeconds:2"] = "60.4",
            ["Fulfillment:Targets:0:Redelivery:DelaysSeconds:3"] = "120",
            ["Fulfillment:Targets:1:Name"] = "dropship",
            ["Fulfillment:Targets:1:Mode"] = "test",
            ["Fulfillment:Targets:2:Name"] = "archive",
            ["Fulfillment:Targets:2:Mode"] = "live",
            ["Fulfillment:Targets:2:Format"] = "event",
            ["Admin:Token"] = token,
            ["Store:DataDirectory"] = _store,
        };
        for (var i = 0; i < workers.Length; i++)
        {
            values[$"Status:Workers:{i}"] = workers[i];
        }

        return new ConfigurationBuilder().AddInMemoryCollection(values).Build();
    }

    /// <summary>
    /// The broker as the worker leaves it: intake 4 ready; the shared delay queues syncworker.wait.5s (2), .60s (1),
    /// .300s (4) and .36000s (1) (wait.120s not declared); warehouse 6 ready, 2 dead letters, and 1 left in its own
    /// wait.5s queue of the previous version; dropship paused, empty, with an empty delay.300s queue of an older version;
    /// archive with one consumer (the returned connection holds it). Dispose the result to drop the consumer.
    /// </summary>
    private async Task<IConnection> SeedBrokerAsync()
    {
        await using (var connection = await _node.ConnectAsync(_vhost))
        await using (var channel = await connection.CreateChannelAsync())
        {
            await PublishAsync(channel, Topology.IntakeQueue, 4);
            await PublishAsync(channel, Topology.TargetQueue("warehouse"), 6);
            await PublishAsync(channel, Topology.DelayQueue(5), 2);
            await PublishAsync(channel, Topology.DelayQueue(60), 1);
            await PublishAsync(channel, Topology.TargetDelayQueue("warehouse", 5), 1);
            await PublishAsync(channel, Topology.TargetErrorQueue("warehouse"), 2);
            await PublishAsync(channel, Topology.TargetQueue("dropship"), 0);
            await PublishAsync(channel, Topology.TargetErrorQueue("dropship"), 0);
            await PublishAsync(channel, Topology.DelayQueue(300), 4);
            await PublishAsync(channel, Topology.DelayQueue(36000), 1);
            await PublishAsync(channel, Topology.LegacyDelayQueue("dropship", 300), 0);
            await PublishAsync(channel, Topology.TargetQueue("archive"), 0);
            Assert.That(await TargetControl.PauseAsync(connection, "dropship", CancellationToken.None), Is.EqualTo(PauseChange.Changed));
        }

        var consumerConnection = await _node.ConnectAsync(_vhost);
        var consumerChannel = await consumerConnection.CreateChannelAsync();
        await consumerChannel.BasicConsumeAsync(Topology.TargetQueue("archive"), autoAck: false, new AsyncEventingBasicConsumer(consumerChannel));
        return consumerConnection;
    }

    /// <summary>
    /// The ledger as forwarders leave it: warehouse 2 retrying, 1 waiting (for its order's payment), 1 delivered, 1 in flight
    /// and 1 dead-lettered; dropship 5 retrying; archive 1 delivered. Other numbers than the delay queues hold, on purpose.
    /// </summary>
    private async Task SeedLedgerAsync()
    {
        var settings = StoreSettings.Resolve(
            new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Store:DataDirectory"] = _store }).Build(),
            AppContext.BaseDirectory);
        await new StoreMigrator(settings).MigrateAsync(CancellationToken.None);
        using var ledger = new SqlDeliveryLedger(settings, new FixedTime(Now));
        var rows = new (string Target, DeliveryState? State)[]
        {
            ("warehouse", DeliveryState.Retrying), ("warehouse", DeliveryState.Retrying), ("warehouse", DeliveryState.Waiting),
            ("warehouse", DeliveryState.Delivered), ("warehouse", null), ("warehouse", DeliveryState.DeadLettered),
            ("dropship", DeliveryState.Retrying), ("dropship", DeliveryState.Retrying), ("dropship", DeliveryState.Retrying),
            ("dropship", DeliveryState.Retrying), ("dropship", DeliveryState.Retrying), ("archive", DeliveryState.Delivered),
        };
        for (var i = 0; i < rows.Length; i++)
        {
            var claim = new DeliveryClaim(DeliveryKey.ForOrder(rows[i].Target, $"cs_status_{i}", "order.paid"), $"evt_status_{i}", $"msg_status_{i}");
            await ledger.ClaimAsync(claim, "forwarder-a/1", TimeSpan.FromMinutes(5), force: false, CancellationToken.None);
            if (rows[i].State is { } state)
            {
                await ledger.FinishAsync(claim.Key.Value, "forwarder-a/1", state, 503, "Service Unavailable", attempts: [], CancellationToken.None);
            }
        }
    }

    private static async Task PublishAsync(IChannel channel, string queue, int count)
    {
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
        for (var i = 0; i < count; i++)
        {
            await channel.BasicPublishAsync(string.Empty, queue, new ReadOnlyMemory<byte>([1, 2, 3]));
        }
    }

    /// <summary>A receiver and forwarder: warehouse closed, 1 in flight, older success and failure.</summary>
    private static InstanceStatus InstanceA() => new(
        "host-a/101",
        "All",
        Now.AddHours(-3),
        Now,
        new ReceiverStatus(15, new Dictionary<string, long> { ["accepted"] = 5, ["bad_signature"] = 2 }),
        [
            new TargetInstanceStatus("warehouse", "live", "order", true, false, "Closed", 1, Now.AddMinutes(-10), Now.AddMinutes(-20), "an older failure"),
            new TargetInstanceStatus("dropship", "test", "order", false, true, "Closed", 0, null, null, null),
            new TargetInstanceStatus("archive", "live", "event", true, false, "Closed", 0, null, null, null),
        ]);

    /// <summary>Another: warehouse open, 4 in flight, the latest success and failure.</summary>
    private static InstanceStatus InstanceB() => new(
        "host-b/202",
        "All",
        Now.AddHours(-1),
        Now,
        new ReceiverStatus(15, new Dictionary<string, long> { ["accepted"] = 3, ["ignored"] = 1, ["client_aborted"] = 1, ["broker_unavailable"] = 2 }),
        [
            new TargetInstanceStatus("warehouse", "live", "order", true, false, "Open", 4, Now.AddMinutes(-5), Now.AddMinutes(-2), WarehouseFailure),
            new TargetInstanceStatus("dropship", "test", "order", false, true, "Closed", 0, null, null, null),
            new TargetInstanceStatus("archive", "live", "event", true, false, "Closed", 0, null, null, null),
        ]);
}
