using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Time.Testing;
using SyncWorker.Store.Ledger;
using SyncWorker.Store.Targets;

namespace SyncWorker.Store.Tests.Targets;

[TestFixture(StoreProvider.Sqlite)]
[TestFixture(StoreProvider.Postgres)]
public sealed class SqlTargetStoreTests(StoreProvider provider)
{
    private const string Secrets = """{"signingSecret":"whsec_c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3Qtc2hvdw=="}""";
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 10, 0, 0, TimeSpan.Zero));
    private readonly SecretBox _box = new(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
    private StoreSettings _settings = null!;
    private SqlDeliveryLedger _ledger = null!;
    private SqlTargetStore _targets = null!;

    [SetUp]
    public async Task SetUpAsync()
    {
        _settings = await StoreDatabases.NewAsync(provider);
        await new StoreMigrator(_settings).MigrateAsync(CancellationToken.None);
        _ledger = new SqlDeliveryLedger(_settings, _time);
        _targets = new SqlTargetStore(_ledger, _time, _box);
    }

    [TearDown]
    public void DisposeStore() => _ledger.Dispose();

    [Test]
    public async Task A_target_is_created_once_read_back_with_its_secrets_and_who_made_it()
    {
        Assert.That(await _targets.CreateAsync("wms", """{"name":"wms"}""", Secrets, "token:ops", default), Is.True);
        Assert.That(await _targets.CreateAsync("wms", """{"name":"wms"}""", Secrets, "token:ops", default), Is.False, "a name in use");

        var stored = await _targets.GetAsync("wms", default);
        Assert.That(stored, Is.Not.Null);
        Assert.That((stored!.Definition, stored.Secrets, stored.State, stored.Revision, stored.CreatedBy, stored.CreatedAt),
            Is.EqualTo(("""{"name":"wms"}""", Secrets, StoredTargetStates.Active, 1L, "token:ops", _time.GetUtcNow())));
        Assert.That((await _targets.ListAsync(default)).Select(t => t.Name), Is.EqualTo(new[] { "wms" }));
    }

    [Test]
    public async Task Secrets_reach_the_store_sealed_and_only_the_same_key_and_row_open_them()
    {
        await _targets.CreateAsync("wms", "{}", Secrets, "token:ops", default);
        var raw = await RawSecretsAsync("wms");
        Assert.That(raw, Does.StartWith($"v1.{_box.KeyId}.").And.Not.Contain("whsec_").And.Not.Contain("c2VjcmV0"));

        var otherKey = new SqlTargetStore(_ledger, _time, new SecretBox(new byte[32]));
        var wrongKey = await otherKey.GetAsync("wms", default);
        Assert.That(wrongKey!.Secrets, Is.Null, "not opened");
        Assert.That(wrongKey.Unreadable, Does.Contain("another key").And.Contain("Store:EncryptionKey"));

        // A sealed value copied to another target's row does not open there; the other rows still do.
        await _targets.CreateAsync("other", "{}", Secrets, "token:ops", default);
        await ExecuteAsync($"UPDATE targets SET secrets = '{raw}' WHERE name = 'other'");
        var listed = await _targets.ListAsync(default);
        Assert.That(listed.Select(t => (t.Name, t.Secrets is null)), Is.EqualTo(new[] { ("other", true), ("wms", false) }));
        Assert.That(listed[0].Unreadable, Does.Contain("copied from another target"));

        var noKey = new SqlTargetStore(_ledger, _time, null);
        Assert.That(noKey.CanSeal, Is.False);
        Assert.ThrowsAsync<SecretBoxException>(() => noKey.CreateAsync("x", "{}", Secrets, "token:ops", default));
    }

    [Test]
    public async Task Every_change_moves_the_fingerprint_and_a_removed_name_can_be_taken_again()
    {
        var empty = await _targets.FingerprintAsync(default);
        await _targets.CreateAsync("wms", "{}", Secrets, "a", default);
        var created = await _targets.FingerprintAsync(default);
        Assert.That(await _targets.ReplaceAsync("wms", """{"v":2}""", Secrets, "b", default), Is.True);
        var replaced = await _targets.FingerprintAsync(default);
        Assert.That(await _targets.ChangeStateAsync("wms", StoredTargetStates.Draining, [StoredTargetStates.Active], "c", default), Is.True);
        Assert.That(await _targets.ReplaceAsync("wms", "{}", Secrets, "b", default), Is.False, "a target being removed is not changed");
        var draining = await _targets.FingerprintAsync(default);
        Assert.That(await _targets.ChangeStateAsync("wms", StoredTargetStates.Removed, [StoredTargetStates.Draining], "d", default), Is.True);
        var removed = await _targets.FingerprintAsync(default);
        Assert.That(new[] { empty, created, replaced, draining, removed }.Distinct().Count(), Is.EqualTo(5));

        Assert.That(await _targets.GetAsync("wms", default), Is.Null);
        Assert.That(await RawSecretsAsync("wms"), Is.Null, "a removed target keeps no secret");
        Assert.That(await _targets.CreateAsync("wms", """{"again":true}""", Secrets, "e", default), Is.True);
        var again = await _targets.GetAsync("wms", default);
        Assert.That((again!.Definition, again.State, again.CreatedBy), Is.EqualTo(("""{"again":true}""", StoredTargetStates.Active, "e")));
        Assert.That(await _targets.FingerprintAsync(default), Is.Not.EqualTo(removed));
    }

    [Test]
    public async Task Open_deliveries_of_a_target_are_counted_from_the_ledger()
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var (key, target, state) in new[] { ("k1", "wms", "waiting"), ("k2", "wms", "in_flight"), ("k3", "wms", "delivered"), ("k4", "other", "waiting") })
        {
            await ExecuteAsync(
                "INSERT INTO deliveries (delivery_key, target, subject, action, event_id, webhook_id, state, attempts, repeats_suppressed, created_at, updated_at) " +
                $"VALUES ('{key}', '{target}', 'cs_1', 'order.paid', 'evt_1', 'msg_1', '{state}', 0, 0, {now}, {now})");
        }

        Assert.That(await _targets.OpenDeliveriesAsync("wms", default), Is.EqualTo(2));
        Assert.That(await _targets.OpenDeliveriesAsync("nobody", default), Is.Zero);
    }

    private async Task<string?> RawSecretsAsync(string name)
    {
        await using var connection = _settings.CreateConnection();
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT secrets FROM targets WHERE name = '{name}'";
        var value = await command.ExecuteScalarAsync();
        return value is DBNull or null ? null : (string)value;
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = _settings.CreateConnection();
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }
}

public sealed class SecretBoxTests
{
    [Test]
    public void The_key_comes_from_the_setting_or_a_file_and_a_bad_one_is_refused_naming_the_key_without_its_value()
    {
        var key = Convert.ToBase64String(Enumerable.Range(7, 32).Select(i => (byte)i).ToArray());
        Assert.That(SecretBox.FromConfiguration(Configuration(), "/"), Is.Null, "no key: none");
        var fromSetting = SecretBox.FromConfiguration(Configuration(("Store:EncryptionKey", key)), "/");
        var file = Path.GetTempFileName();
        File.WriteAllText(file, key + "\n");
        var fromFile = SecretBox.FromConfiguration(Configuration(("Store:EncryptionKeyFile", file)), "/");
        Assert.That(fromSetting!.KeyId, Is.EqualTo(fromFile!.KeyId));
        Assert.That(fromFile.Open("t", fromSetting.Seal("t", "hello")), Is.EqualTo("hello"));

        var shortKey = Convert.ToBase64String(new byte[16]);
        var refused = Assert.Throws<StoreConfigurationException>(() => SecretBox.FromConfiguration(Configuration(("Store:EncryptionKey", shortKey)), "/"));
        Assert.That(refused!.Message, Does.Contain("Store:EncryptionKey").And.Contain("openssl rand -base64 32").And.Not.Contain(shortKey));
        var both = Assert.Throws<StoreConfigurationException>(() => SecretBox.FromConfiguration(Configuration(("Store:EncryptionKey", key), ("Store:EncryptionKeyFile", file)), "/"));
        Assert.That(both!.Message, Does.Contain("both"));
        var missing = Assert.Throws<StoreConfigurationException>(() => SecretBox.FromConfiguration(Configuration(("Store:EncryptionKeyFile", "/nowhere/key")), "/"));
        Assert.That(missing!.Message, Does.Contain("Store:EncryptionKeyFile").And.Contain("/nowhere/key"));
        File.Delete(file);
    }

    [Test]
    public void Each_seal_differs_and_a_changed_value_does_not_open()
    {
        var box = new SecretBox(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
        var a = box.Seal("wms", "secret");
        var b = box.Seal("wms", "secret");
        Assert.That(a, Is.Not.EqualTo(b), "a fresh nonce each time");
        var bytes = Convert.FromBase64String(a.Split('.')[2]);
        bytes[^1] ^= 1;
        var changed = $"v1.{box.KeyId}.{Convert.ToBase64String(bytes)}";
        Assert.Throws<SecretBoxException>(() => box.Open("wms", changed));
        Assert.Throws<SecretBoxException>(() => box.Open("wms", "plain text"));
    }

    private static Microsoft.Extensions.Configuration.IConfiguration Configuration(params (string Key, string Value)[] values) =>
        new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)))
            .Build();
}
