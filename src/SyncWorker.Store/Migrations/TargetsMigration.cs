using FluentMigrator;

namespace SyncWorker.Store.Migrations;

/// <summary>
/// Version 4: targets managed at run time (the admin API's <c>/admin/targets</c>). <c>targets</c> holds one row per name:
/// the target's settings without secrets (<c>definition</c>, JSON), its secrets (signing secret, a secret being rotated
/// out, header values) encrypted with <c>Store:EncryptionKey</c>, which the store never holds (<c>secrets</c>), its state
/// (<c>active</c>, <c>draining</c>, <c>discarding</c>, <c>removed</c>), a revision raised by every change (the forwarders
/// see a change by the table's count and sum of revisions), and who made and last changed it. A removed target stays as
/// a row without secrets, so its name can be taken again and every forwarder sees the removal. Additive: older versions
/// keep working with the store.
/// </summary>
[Migration(4, "Targets managed at run time")]
public sealed class TargetsMigration : Migration
{
    /// <inheritdoc />
    public override void Up()
    {
        Create.Table("targets")
            .WithColumn("name").AsString(64).NotNullable().PrimaryKey("pk_targets")
            .WithColumn("definition").AsString(int.MaxValue).NotNullable()
            .WithColumn("secrets").AsString(int.MaxValue).Nullable()
            .WithColumn("state").AsString(16).NotNullable()
            .WithColumn("revision").AsInt64().NotNullable()
            .WithColumn("created_at").AsInt64().NotNullable()
            .WithColumn("created_by").AsString(255).NotNullable()
            .WithColumn("updated_at").AsInt64().NotNullable()
            .WithColumn("updated_by").AsString(255).NotNullable();
    }

    /// <inheritdoc />
    public override void Down() => Delete.Table("targets");
}
