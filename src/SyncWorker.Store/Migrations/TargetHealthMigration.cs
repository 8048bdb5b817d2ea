using FluentMigrator;

namespace SyncWorker.Store.Migrations;

/// <summary>
/// Version 6: <c>target_health</c>, one row per target that was ever disabled for failing (<c>DisableAfterHours</c>) or
/// enabled again: when it was disabled (<c>disabled_at</c>, null while it is not), what the failing looked like then
/// (<c>failing_since</c>, <c>last_error</c>), and when and by whom it was last enabled (<c>enabled_at</c>,
/// <c>enabled_by</c>; the next failing window starts there). Written only at a disable or an enable, never per delivery:
/// whether a target fails is read from <c>delivery_attempts</c>. The row's update is what makes exactly one forwarder
/// the one that disables a target (and sends the notification). Additive: older versions keep working with the store.
/// </summary>
[Migration(6, "Target health (disable after failing)")]
public sealed class TargetHealthMigration : Migration
{
    /// <inheritdoc />
    public override void Up()
    {
        Create.Table("target_health")
            .WithColumn("target").AsString(100).NotNullable().PrimaryKey("pk_target_health")
            .WithColumn("disabled_at").AsInt64().Nullable()
            .WithColumn("failing_since").AsInt64().Nullable()
            .WithColumn("last_error").AsString(2000).Nullable()
            .WithColumn("enabled_at").AsInt64().Nullable()
            .WithColumn("enabled_by").AsString(255).Nullable()
            .WithColumn("updated_at").AsInt64().NotNullable();
    }

    /// <inheritdoc />
    public override void Down() => Delete.Table("target_health");
}
