using System.Text;
using SyncWorker.Webhooks.Signatures;

namespace SyncWorker.Webhooks.Tests.Signatures;

[TestFixture]
public sealed class StripeSignatureTests
{
    [Test]
    public void Compute_reproduces_the_Stripe_net_test_vector()
    {
        // Stripe.net src/StripeTests/Resources/event_test_signature.json, secret "webhook_secret".
        byte[] body = SignatureFixtures.EventBytes("stripe-dotnet_event_test_signature.json");

        string signature = StripeSignature.Compute("webhook_secret", 1533204620, body);

        Assert.That(signature, Is.EqualTo("2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7"));
    }

    [Test]
    public void Compute_returns_64_lowercase_hex_characters_and_depends_on_every_input()
    {
        byte[] body = Encoding.UTF8.GetBytes("{}");
        string signature = StripeSignature.Compute("whsec_a", 1, body);

        Assert.Multiple(() =>
        {
            Assert.That(signature, Does.Match("^[0-9a-f]{64}$"));
            Assert.That(StripeSignature.Compute("whsec_b", 1, body), Is.Not.EqualTo(signature));
            Assert.That(StripeSignature.Compute("whsec_a", 2, body), Is.Not.EqualTo(signature));
            Assert.That(StripeSignature.Compute("whsec_a", 1, Encoding.UTF8.GetBytes("{ }")), Is.Not.EqualTo(signature));
        });
    }

    [Test]
    public void Compute_keys_the_hmac_with_the_whole_secret_including_the_prefix()
    {
        byte[] body = Encoding.UTF8.GetBytes("{}");
        using var hmac = new System.Security.Cryptography.HMACSHA256(Encoding.UTF8.GetBytes("whsec_abc"));
        string expected = Convert.ToHexStringLower(hmac.ComputeHash(Encoding.UTF8.GetBytes("1700000000.{}")));

        Assert.That(StripeSignature.Compute("whsec_abc", 1700000000, body), Is.EqualTo(expected));
    }

    [Test]
    public void Header_lists_t_then_every_v1_in_order()
    {
        Assert.Multiple(() =>
        {
            Assert.That(StripeSignature.Header(1492774577, "aa", "bb"), Is.EqualTo("t=1492774577,v1=aa,v1=bb"));
            Assert.That(StripeSignature.Header(5), Is.EqualTo("t=5"));
        });
    }

    [Test]
    public void WebhookSecret_ToString_is_redacted()
    {
        var live = new WebhookSecret("whsec_live_DoNotPrintThis", TestOnly: false);
        var test = new WebhookSecret("whsec_test_DoNotPrintThis", TestOnly: true);
        var other = new WebhookSecret("webhook_secret", TestOnly: true);

        Assert.Multiple(() =>
        {
            Assert.That(live.ToString(), Is.EqualTo("whsec_…(redacted)"));
            Assert.That(test.ToString(), Is.EqualTo("whsec_…(redacted, test-only)"));
            Assert.That($"{test}", Does.Not.Contain("DoNotPrintThis"));
            Assert.That(other.ToString(), Is.EqualTo("…(redacted, test-only)"));
        });
    }

    [Test]
    public void WebhookSecret_refuses_only_null_so_binding_can_report_empty_secrets_by_key()
    {
        Assert.That(() => new WebhookSecret(null!, TestOnly: false), Throws.ArgumentNullException);
        Assert.That(new WebhookSecret("", TestOnly: true).ToString(), Is.EqualTo("…(redacted, test-only)"));
    }
}
