using FluentMigrator;

namespace SyncWorker.Store.Migrations;

/// <summary>
/// Version 2: the orders SyncWorker has seen paid, and what an order action says about its order's progress.
/// <list type="bullet">
/// <item><c>orders</c>: one row per paid Checkout Session (<c>order_id</c>, <c>cs_…</c>), with its payment intent
/// (<c>pi_…</c>, how a refund or dispute of a charge finds its order), account, mode, and the <c>order.paid</c> document as
/// it was sent (the order's fields of its later actions' documents; purged after <c>Store:RetentionDays</c>).</item>
/// <item><c>backfill_events</c>: the Stripe events <c>backfill</c> fed (one row per event id, with its type, account
/// and when it was fed), which a later backfill does not feed again; it was a RabbitMQ queue before.</item>
/// <item><c>deliveries.progress</c>: for <c>order.refunded</c>, the cumulative amount refunded the action reports, so an
/// event that says less than what a target was already sent is recognised as stale. Null for other actions.</item>
/// </list>
/// Both are additive: a version-1 SyncWorker still running beside this one (a rolling upgrade) reads and writes the
/// ledger as before and ignores both.
/// </summary>
[Migration(2, "Orders, action progress, backfill ledger")]
public sealed class OrdersMigration : Migration
{
    /// <inheritdoc />
    public override void Up()
    {
        Create.Table("orders")
            .WithColumn("order_id").AsString(255).NotNullable().PrimaryKey("pk_orders")
            .WithColumn("payment_intent").AsString(255).Nullable()
            .WithColumn("account").AsString(255).Nullable()
            .WithColumn("livemode").AsBoolean().NotNullable()
            .WithColumn("paid_event_id").AsString(255).Nullable()
            .WithColumn("document").AsString(int.MaxValue).Nullable()
            .WithColumn("created_at").AsInt64().NotNullable()
            .WithColumn("updated_at").AsInt64().NotNullable();
        Create.Index("ix_orders_payment_intent").OnTable("orders").OnColumn("payment_intent");
        Create.Index("ix_orders_updated").OnTable("orders").OnColumn("updated_at");

        Create.Table("backfill_events")
            .WithColumn("event_id").AsString(255).NotNullable().PrimaryKey("pk_backfill_events")
            .WithColumn("event_type").AsString(255).NotNullable()
            .WithColumn("account").AsString(255).Nullable()
            .WithColumn("fed_at").AsInt64().NotNullable();
        Create.Index("ix_backfill_events_fed").OnTable("backfill_events").OnColumn("fed_at");

        Alter.Table("deliveries").AddColumn("progress").AsInt64().Nullable();
    }

    /// <inheritdoc />
    public override void Down()
    {
        Delete.Column("progress").FromTable("deliveries");
        Delete.Table("backfill_events");
        Delete.Table("orders");
    }
}
