using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using NUnit.Framework;
using SyncWorker.Forwarding.Ledger;
using SyncWorker.Store;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Forwarding.Tests.Ledger;

public sealed class LeaseKeeperTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);

    private FakeTimeProvider _time = null!;
    private RenewingLedger _ledger = null!;
    private LeaseKeeper _keeper = null!;

    [SetUp]
    public void SetUp()
    {
        _time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
        _ledger = new RenewingLedger();
        _keeper = new LeaseKeeper(_ledger, Lease, _time, NullLogger.Instance);
    }

    [TearDown]
    public void TearDown() => _keeper.Dispose();

    // FakeTimeProvider runs the keeper's timer inside Advance (every tick the advance crosses, each seeing the advance's
    // end time), and this ledger answers at once: each Advance has renewed what its ticks found due by the time it returns.

    [Test]
    public async Task A_claim_is_renewed_by_the_timer_once_a_third_of_the_lease_has_passed_and_again_a_third_after_that()
    {
        var claim = Claim("cs_test_a1");
        await using (_keeper.Keep(claim))
        {
            _time.Advance(Lease / 6);
            Assert.That(_ledger.Renewals, Is.Empty, "not due before a third of the lease");

            _time.Advance(Lease / 6);
            Assert.That(_ledger.Renewals, Is.EqualTo(new[] { ("warehouse/order.paid/cs_test_a1", claim.Owner, Lease) }));

            _time.Advance(Lease / 6);
            Assert.That(_ledger.Renewals, Has.Count.EqualTo(1), "the renewal restarted the third");

            _time.Advance(Lease / 6);
            Assert.That(_ledger.Renewals, Has.Count.EqualTo(2));
        }
    }

    [Test]
    public async Task A_claim_disposed_is_no_longer_renewed()
    {
        var kept = _keeper.Keep(Claim("cs_test_a1"));
        await using (_keeper.Keep(Claim("cs_test_b2")))
        {
            await kept.DisposeAsync();
            Assert.That(_keeper.Count, Is.EqualTo(1));
            _time.Advance(Lease / 2);
            Assert.That(_ledger.Renewals.Select(r => r.Key), Is.EqualTo(new[] { "warehouse/order.paid/cs_test_b2" }));
        }

        Assert.That(_keeper.Count, Is.Zero);
        _time.Advance(Lease);
        Assert.That(_ledger.Renewals, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task A_lease_taken_over_by_another_forwarder_is_not_renewed_again()
    {
        _ledger.Answer = false;
        await using (_keeper.Keep(Claim("cs_test_a1")))
        {
            _time.Advance(Lease / 3);
            Assert.That(_keeper.Count, Is.Zero, "the ledger said the row is no longer ours");
            _time.Advance(Lease / 3);
            Assert.That(_ledger.Renewals, Has.Count.EqualTo(1));
        }
    }

    [Test]
    public async Task A_renewal_the_store_could_not_take_is_tried_again_at_the_next_tick()
    {
        _ledger.Unavailable = true;
        await using (_keeper.Keep(Claim("cs_test_a1")))
        {
            _time.Advance(Lease / 6);
            _time.Advance(Lease / 6);
            Assert.That(_ledger.Renewals, Has.Count.EqualTo(1));

            _ledger.Unavailable = false;
            _time.Advance(Lease / 6);
            Assert.That(_ledger.Renewals, Has.Count.EqualTo(2), "still due: the failed renewal did not count");

            _time.Advance(Lease / 6);
            Assert.That(_ledger.Renewals, Has.Count.EqualTo(2), "renewed: due again a third after");
            Assert.That(_keeper.Count, Is.EqualTo(1));
        }
    }

    private static HeldClaim Claim(string order) =>
        new(DeliveryKey.ForOrder("warehouse", order, "order.paid"), $"host:1:abcd/{Guid.NewGuid():N}");

    /// <summary>A ledger that answers renewals only (the keeper calls nothing else).</summary>
    private sealed class RenewingLedger : IDeliveryLedger
    {
        private readonly ConcurrentQueue<(string Key, string Owner, TimeSpan Lease)> _renewals = new();

        public bool Answer { get; set; } = true;

        public bool Unavailable { get; set; }

        public IReadOnlyList<(string Key, string Owner, TimeSpan Lease)> Renewals => [.. _renewals];

        public Task<bool> RenewAsync(string key, string owner, TimeSpan lease, CancellationToken cancellationToken)
        {
            _renewals.Enqueue((key, owner, lease));
            return Unavailable ? Task.FromException<bool>(new StoreUnavailableException("connection refused")) : Task.FromResult(Answer);
        }

        public Task<ClaimResult> ClaimAsync(DeliveryClaim claim, string owner, TimeSpan lease, bool force, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task RecordAttemptAsync(string key, DeliveryAttemptRecord attempt, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<bool> FinishAsync(string key, string owner, DeliveryState state, int? status, string? reason, IReadOnlyList<DeliveryAttemptRecord> attempts, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<LedgerEntry?> GetAsync(string key, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<LedgerEntry>> FindBySubjectAsync(string subject, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<DeliveryAttemptRecord>> AttemptsAsync(string key, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<DeliveryPage> ListAsync(DeliveryQuery query, CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
