namespace SyncWorker.Contracts.Tests;

public sealed class StripeModeKeysTests
{
    private const string Live = "sk_live_mode-keys-tests-only";
    private const string Test = "sk_test_mode-keys-tests-only";
    private const string Sandbox = "sk_test_sandbox-mode-keys-tests-only";
    private const string Unprefixed = "sk_unprefixed-mode-keys-tests-only";

    [Test]
    public void A_sandbox_is_served_by_the_sandbox_key_alone()
    {
        Assert.Multiple(() =>
        {
            Assert.That(StripeModeKeys.For(StripeEnvironment.Sandbox, Unprefixed, Live, Test, Sandbox), Is.EqualTo((Sandbox, "Stripe:ApiKeys:Sandbox")));
            Assert.That(StripeModeKeys.For(StripeEnvironment.Sandbox, Unprefixed, Live, Test, null), Is.Null, "Stripe:ApiKey and the test key do not read a sandbox");
            Assert.That(StripeModeKeys.For(StripeEnvironment.Sandbox, null, null, null, "  "), Is.Null);
            Assert.That(StripeModeKeys.For(StripeEnvironment.Test, Unprefixed, Live, Test, Sandbox), Is.EqualTo((Test, "Stripe:ApiKeys:Test")), "the sandbox key never serves test mode");
            Assert.That(StripeModeKeys.For(StripeEnvironment.Live, Unprefixed, null, Test, Sandbox), Is.EqualTo((Unprefixed, "Stripe:ApiKey")));
            Assert.That(StripeModeKeys.SettingOf(StripeEnvironment.Sandbox), Is.EqualTo("Stripe:ApiKeys:Sandbox"));
        });
    }

    [TestCase(true, false, StripeEnvironment.Live)]
    [TestCase(false, false, StripeEnvironment.Test)]
    [TestCase(false, true, StripeEnvironment.Sandbox)]
    public void An_events_environment_follows_from_its_mode_and_the_secret_that_verified_it(bool livemode, bool sandbox, StripeEnvironment expected)
    {
        var evt = new StripeEventReceived("evt_1", "checkout.session.completed", null, livemode, null, DateTimeOffset.UnixEpoch, "checkout.session", null, DateTimeOffset.UnixEpoch, "{}", sandbox);

        Assert.That(evt.Environment, Is.EqualTo(expected));
    }
}
