using FluentMigrator;

namespace SyncWorker.Store.Migrations;

/// <summary>
/// Version 5: <c>installs.sandbox</c>, true for an install in a sandbox (its install events were verified by a webhook
/// secret tagged <c>Mode: sandbox</c>, or <c>installs sync</c> listed it with <c>Stripe:ApiKeys:Sandbox</c>). A sandbox is
/// an account of its own whose events say <c>livemode: false</c>, so its row is keyed like a test-mode install; the flag
/// tells <c>installs list</c> and <c>installs sync</c> apart which key lists it. Additive (false by default): older
/// versions keep working with the store and write rows that are not sandboxes. And <c>ix_deliveries_state</c>
/// (<c>state</c>, <c>target</c>): each forwarder counts the deliveries waiting for a redelivery per target every
/// minute (<c>syncworker_target_messages{state="retry_waiting"}</c>), which without it reads the whole ledger. Building it
/// takes a moment on a large ledger (once, at the first start of this version).
/// </summary>
[Migration(5, "Sandbox installs, deliveries by state")]
public sealed class SandboxInstallsMigration : Migration
{
    /// <inheritdoc />
    public override void Up()
    {
        Alter.Table("installs").AddColumn("sandbox").AsBoolean().NotNullable().WithDefaultValue(false);
        Create.Index("ix_deliveries_state").OnTable("deliveries").OnColumn("state").Ascending().OnColumn("target").Ascending();
    }

    /// <inheritdoc />
    public override void Down()
    {
        Delete.Index("ix_deliveries_state").OnTable("deliveries");
        Delete.Column("sandbox").FromTable("installs");
    }
}
