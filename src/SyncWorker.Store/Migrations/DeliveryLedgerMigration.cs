using FluentMigrator;

namespace SyncWorker.Store.Migrations;

/// <summary>
/// Version 1: the delivery ledger. One row per (target, order, action) of an order target, or per (target, event) of
/// an event target, keyed by <c>delivery_key</c>; its attempts in <c>delivery_attempts</c>. Times are Unix milliseconds
/// (UTC) in 64-bit integers, the same on SQLite and PostgreSQL.
/// </summary>
[Migration(1, "Delivery ledger")]
public sealed class DeliveryLedgerMigration : Migration
{
    /// <inheritdoc />
    public override void Up()
    {
        Create.Table("deliveries")
            .WithColumn("delivery_key").AsString(400).NotNullable().PrimaryKey("pk_deliveries")
            .WithColumn("target").AsString(100).NotNullable()
            .WithColumn("subject").AsString(255).NotNullable()
            .WithColumn("action").AsString(100).NotNullable()
            .WithColumn("action_instance").AsString(255).Nullable()
            .WithColumn("account").AsString(255).Nullable()
            .WithColumn("event_id").AsString(255).NotNullable()
            .WithColumn("webhook_id").AsString(255).NotNullable()
            .WithColumn("state").AsString(32).NotNullable()
            .WithColumn("lease_owner").AsString(255).Nullable()
            .WithColumn("lease_until").AsInt64().Nullable()
            .WithColumn("attempts").AsInt32().NotNullable().WithDefaultValue(0)
            .WithColumn("repeats_suppressed").AsInt32().NotNullable().WithDefaultValue(0)
            .WithColumn("last_status").AsInt32().Nullable()
            .WithColumn("last_error").AsString(2000).Nullable()
            .WithColumn("created_at").AsInt64().NotNullable()
            .WithColumn("updated_at").AsInt64().NotNullable()
            .WithColumn("delivered_at").AsInt64().Nullable();
        // Few indexes: every delivery updates its row twice, and each index on a changed column is written each time.
        // By subject for `orders show`; by time for retention and listings.
        Create.Index("ix_deliveries_subject").OnTable("deliveries").OnColumn("subject");
        Create.Index("ix_deliveries_updated").OnTable("deliveries").OnColumn("updated_at");

        Create.Table("delivery_attempts")
            .WithColumn("id").AsInt64().NotNullable().PrimaryKey("pk_delivery_attempts").Identity()
            .WithColumn("delivery_key").AsString(400).NotNullable()
            .WithColumn("attempt").AsInt32().NotNullable()
            .WithColumn("owner").AsString(255).NotNullable()
            .WithColumn("started_at").AsInt64().NotNullable()
            .WithColumn("duration_ms").AsInt64().NotNullable()
            .WithColumn("outcome").AsString(32).NotNullable()
            .WithColumn("status").AsInt32().Nullable()
            .WithColumn("error").AsString(2000).Nullable();
        Create.Index("ix_delivery_attempts_key").OnTable("delivery_attempts").OnColumn("delivery_key").Ascending().OnColumn("id").Ascending();
        Create.Index("ix_delivery_attempts_started").OnTable("delivery_attempts").OnColumn("started_at");
    }

    /// <inheritdoc />
    public override void Down()
    {
        Delete.Table("delivery_attempts");
        Delete.Table("deliveries");
    }
}
