using FluentMigrator;

namespace SyncWorker.Store.Migrations;

/// <summary>
/// Version 3: the install registry. <c>installs</c> holds one row per merchant account and mode (<c>account</c>,
/// <c>livemode</c>): whether the app is installed there (<c>status</c>: <c>installed</c> or <c>uninstalled</c>), the
/// permissions Stripe says the merchant granted and has pending (comma-separated; null when not known, as after
/// <c>account.application.authorized</c>, which does not say), when SyncWorker first and last heard of it, and the Stripe
/// event that last changed it with that event's <c>created</c> (an older event does not undo a newer one). Additive: a
/// version-2 SyncWorker still running beside this one ignores it.
/// </summary>
[Migration(3, "Install registry")]
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
            .WithColumn("last_seen").AsInt64().NotNullable();
        Create.Index("ix_installs_status").OnTable("installs").OnColumn("status");
    }

    /// <inheritdoc />
    public override void Down() => Delete.Table("installs");
}
