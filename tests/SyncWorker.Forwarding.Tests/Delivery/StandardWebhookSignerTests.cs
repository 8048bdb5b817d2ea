using System.Text;
using SyncWorker.Forwarding.Delivery;

namespace SyncWorker.Forwarding.Tests.Delivery;

[TestFixture]
public sealed class StandardWebhookSignerTests
{
    [Test]
    public void Sign_reproduces_the_example_of_the_Standard_Webhooks_reference_libraries()
    {
        // The test vector shared by the standard-webhooks reference libraries (and Svix's).
        var signer = new StandardWebhookSigner("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");

        string signature = signer.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, """{"test": 2432232314}"""u8);

        Assert.That(signature, Is.EqualTo("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
    }

    [Test]
    public void Sign_agrees_with_the_StandardWebhooks_package_on_a_non_ASCII_body()
    {
        var signer = new StandardWebhookSigner(DeliveryFixture.Secret);
        var timestamp = DateTimeOffset.FromUnixTimeSeconds(1_790_000_000);
        var reference = new StandardWebhooks.StandardWebhook(DeliveryFixture.Secret);

        string ours = signer.Sign(DeliveryFixture.WebhookId, timestamp.ToUnixTimeSeconds(), DeliveryFixture.Body);
        string theirs = reference.Sign(DeliveryFixture.WebhookId, timestamp, Encoding.UTF8.GetString(DeliveryFixture.Body));

        Assert.That(ours, Is.EqualTo(theirs));
        Assert.That(ours, Does.StartWith("v1,"));

        // Every input is signed: another id, time or body gives another signature.
        Assert.That(signer.Sign("msg_other", timestamp.ToUnixTimeSeconds(), DeliveryFixture.Body), Is.Not.EqualTo(ours));
        Assert.That(signer.Sign(DeliveryFixture.WebhookId, timestamp.ToUnixTimeSeconds() + 1, DeliveryFixture.Body), Is.Not.EqualTo(ours));
        Assert.That(signer.Sign(DeliveryFixture.WebhookId, timestamp.ToUnixTimeSeconds(), DeliveryFixture.Body.AsSpan(1)), Is.Not.EqualTo(ours));
    }

    [TestCase(24)]
    [TestCase(32)]
    [TestCase(64)]
    public void TryParseSecret_accepts_24_to_64_bytes_and_returns_the_key(int length)
    {
        byte[] key = Enumerable.Range(0, length).Select(i => (byte)(255 - i)).ToArray();

        bool ok = StandardWebhookSigner.TryParseSecret("whsec_" + Convert.ToBase64String(key), out byte[]? parsed, out string? error);

        Assert.That(ok, Is.True, error);
        Assert.That(parsed, Is.EqualTo(key));
        Assert.That(error, Is.Null);
    }

    public static IEnumerable<TestCaseData> InvalidSecrets()
    {
        yield return new TestCaseData(null, "is empty").SetArgDisplayNames("null");
        yield return new TestCaseData("", "is empty").SetArgDisplayNames("empty");
        yield return new TestCaseData("   ", "is empty").SetArgDisplayNames("blank");
        yield return new TestCaseData("sk_live_51Hxyzsecretvalue", "must start with 'whsec_'").SetArgDisplayNames("an API key");
        yield return new TestCaseData(Convert.ToBase64String(new byte[32]), "must start with 'whsec_'").SetArgDisplayNames("no prefix");
        yield return new TestCaseData("whsec_", "is not valid base64").SetArgDisplayNames("prefix only");
        yield return new TestCaseData("whsec_this is not base64!!", "is not valid base64").SetArgDisplayNames("not base64");
        yield return new TestCaseData("whsec_" + Convert.ToBase64String(new byte[23]), "decodes to 23 bytes").SetArgDisplayNames("23 bytes");
        yield return new TestCaseData("whsec_" + Convert.ToBase64String(new byte[65]), "decodes to 65 bytes").SetArgDisplayNames("65 bytes");
    }

    [TestCaseSource(nameof(InvalidSecrets))]
    public void TryParseSecret_refuses_with_a_reason_that_does_not_quote_the_value(string? value, string reason)
    {
        bool ok = StandardWebhookSigner.TryParseSecret(value, out byte[]? key, out string? error);

        Assert.That(ok, Is.False);
        Assert.That(key, Is.Null);
        Assert.That(error, Does.StartWith(reason));
        Assert.That(error, Does.Contain("24 to 64"), "says what a valid secret is");
        if (!string.IsNullOrWhiteSpace(value))
        {
            string secretPart = value.StartsWith("whsec_", StringComparison.Ordinal) ? value["whsec_".Length..] : value;
            if (secretPart.Length > 0)
            {
                Assert.That(error, Does.Not.Contain(secretPart));
            }
        }
    }

    [Test]
    public void Constructor_refuses_an_invalid_secret_without_quoting_it()
    {
        string secret = "whsec_" + Convert.ToBase64String(new byte[16]);

        var thrown = Assert.Throws<ArgumentException>(() => _ = new StandardWebhookSigner(secret));

        Assert.That(thrown!.Message, Does.Contain("decodes to 16 bytes"));
        Assert.That(thrown.Message, Does.Not.Contain(secret["whsec_".Length..]));
    }
}
