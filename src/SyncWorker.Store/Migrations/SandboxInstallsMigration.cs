using FluentMigrator;

namespace SyncWorker.Store.Migrations;

/// <summary>
/// Version 5: <c>installs.sandbox</c>, true for an install in a sandbox (its install events were verified by a webhook
/// secret tagged <c>Mode: sandbox</c>, or <c>installs sync</c> listed it with <c>Stripe:ApiKeys:Sandbox</c>). A sandbox is
/// an account of its own whose events say <c>livemode: false</c>, so its row is keyed like a test-mode install; the flag
/// tells <c>installs list</c> and <c>installs sync</c> apart which key lists it. Additive (false by default): older
/// versions keep working with the store and write rows that are not sandboxes.
/// </summary>
[Migration(5, "Sandbox installs")]
public sealed class SandboxInstallsMigration : Migration
{
    /// <inheritdoc />
    public override void Up() =>
        Alter.Table("installs").AddColumn("sandbox").AsBoolean().NotNullable().WithDefaultValue(false);

    /// <inheritdoc />
    public override void Down() => Delete.Column("sandbox").FromTable("installs");
}
