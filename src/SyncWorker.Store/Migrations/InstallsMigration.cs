using FluentMigrator;

namespace SyncWorker.Store.Migrations;

/// <summary>
/// Version 3: the install registry. <c>installs</c> holds one row per merchant account and mode (<c>account</c>,
/// <c>livemode</c>): whether the app is installed there (<c>status</c>: <c>installed</c> or <c>uninstalled</c>), the
/// permissions Stripe says the merchant granted and has pending (comma-separated; null when not known, as after
/// <c>account.application.authorized</c>, which does not say), when SyncWorker first and last heard of it, the Stripe
/// event that last changed it with that event's <c>created</c> (an older event does not undo a newer one), and when the
/// account's data was purged (<c>purged_at</c>). <c>audit_log</c>: who changed what and when (an operator's verb, the
/// background purge of a merchant's data). And
/// <see cref="StoreMigrator.CompatibilityTable"/>: the oldest schema version a SyncWorker may have and still work with this
/// store (1: every migration so far is additive), which versions from this one on read before refusing a newer schema.
/// Versions 1 and 2 refuse any newer schema.
/// </summary>
[Migration(3, "Install registry, audit log")]
public sealed class InstallsMigration : Migration
{
    /// <inheritdoc />
    public override void Up()
    {
        Create.Table("installs")
            .WithColumn("account").AsString(255).NotNullable().PrimaryKey("pk_installs")
            .WithColumn("livemode").AsBoolean().NotNullable().PrimaryKey("pk_installs")
            .WithColumn("status").AsString(32).NotNullable()
            .WithColumn("permissions_granted").AsString(int.MaxValue).Nullable()
            .WithColumn("permissions_pending").AsString(int.MaxValue).Nullable()
            .WithColumn("last_event_id").AsString(255).Nullable()
            .WithColumn("last_event_created").AsInt64().NotNullable()
            .WithColumn("first_seen").AsInt64().NotNullable()
            .WithColumn("last_seen").AsInt64().NotNullable()
            .WithColumn("purged_at").AsInt64().Nullable();
        Create.Index("ix_installs_status").OnTable("installs").OnColumn("status");

        // Who changed what, when: operators' verbs and the background purge of a merchant's data (audit list).
        Create.Table("audit_log")
            .WithColumn("id").AsInt64().NotNullable().PrimaryKey("pk_audit_log").Identity()
            .WithColumn("at").AsInt64().NotNullable()
            .WithColumn("actor").AsString(255).NotNullable()
            .WithColumn("action").AsString(100).NotNullable()
            .WithColumn("subject").AsString(255).Nullable()
            .WithColumn("detail").AsString(2000).Nullable();
        Create.Index("ix_audit_log_at").OnTable("audit_log").OnColumn("at");

        // From this version on, a SyncWorker meeting a schema newer than its own reads here the oldest version that still
        // works with it, instead of refusing every newer schema. Each later migration lowers nothing and raises it only
        // when it is not additive.
        Create.Table(StoreMigrator.CompatibilityTable)
            .WithColumn("oldest_compatible_version").AsInt64().NotNullable();
        Insert.IntoTable(StoreMigrator.CompatibilityTable).Row(new { oldest_compatible_version = 1L });
    }

    /// <inheritdoc />
    public override void Down()
    {
        Delete.Table(StoreMigrator.CompatibilityTable);
        Delete.Table("audit_log");
        Delete.Table("installs");
    }
}
