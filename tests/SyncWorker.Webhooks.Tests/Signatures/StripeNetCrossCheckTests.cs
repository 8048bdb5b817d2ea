using System.Globalization;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using SyncWorker.Webhooks.Signatures;
using EventUtility = Stripe.EventUtility;
using StripeException = Stripe.StripeException;

namespace SyncWorker.Webhooks.Tests.Signatures;

/// <summary>Stripe.net's <see cref="EventUtility"/> as an oracle for <see cref="StripeSignature"/> and the verifier.</summary>
[TestFixture]
public sealed class StripeNetCrossCheckTests
{
    private const long Timestamp = 1_786_003_297;
    private const string Secret = "whsec_test_CrossCheckSecretForUnitTests";

    public static IEnumerable<TestCaseData> Payloads()
    {
        yield return new TestCaseData(File.ReadAllText(Path.Combine(SignatureFixtures.EventsDirectory, "checkout.session.completed.json"), Encoding.UTF8))
            .SetArgDisplayNames("checkout.session.completed.json");
        yield return new TestCaseData(File.ReadAllText(Path.Combine(SignatureFixtures.EventsDirectory, "stripe-dotnet_event_test_signature.json"), Encoding.UTF8))
            .SetArgDisplayNames("stripe-dotnet_event_test_signature.json");
        yield return new TestCaseData("{\"id\":\"evt_x\",\"object\":\"event\",\"data\":{\"object\":{\"object\":\"customer\",\"name\":\"Zoë Müller\",\"city\":\"東京\",\"note\":\"🎁\"}}}")
            .SetArgDisplayNames("non-ASCII");
        yield return new TestCaseData("{\r\n  \"a\" : [1, 2,\t3]\r\n}\r\n").SetArgDisplayNames("CRLF and tabs");
    }

    [TestCaseSource(nameof(Payloads))]
    public void Compute_equals_Stripe_net_ComputeSignature(string payload)
    {
        string ours = StripeSignature.Compute(Secret, Timestamp, Encoding.UTF8.GetBytes(payload));
        string theirs = EventUtility.ComputeSignature(Secret, Timestamp.ToString(CultureInfo.InvariantCulture), payload);

        Assert.That(ours, Is.EqualTo(theirs));
    }

    [TestCaseSource(nameof(Payloads))]
    public void Header_built_here_passes_Stripe_net_ValidateSignature(string payload)
    {
        string header = StripeSignature.Header(Timestamp, StripeSignature.Compute(Secret, Timestamp, Encoding.UTF8.GetBytes(payload)));

        Assert.DoesNotThrow(() => EventUtility.ValidateSignature(payload, header, Secret, 300, Timestamp + 300));
        Assert.That(
            () => EventUtility.ValidateSignature(payload, header, Secret, 300, Timestamp + 301),
            Throws.InstanceOf<StripeException>(),
            "Stripe.net agrees on the tolerance edge");
    }

    [TestCaseSource(nameof(Payloads))]
    public void Header_built_by_Stripe_net_passes_our_verifier(string payload)
    {
        string header = EventUtility.GenerateSignatureHeader(payload, Secret, Timestamp);
        var verifier = new StripeSignatureVerifier(
            [new WebhookSecret(Secret, TestOnly: true)],
            TimeSpan.FromSeconds(300),
            new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(Timestamp + 300)));

        SignatureCheck check = verifier.Verify(Encoding.UTF8.GetBytes(payload), header);

        Assert.That(check.Outcome, Is.EqualTo(SignatureOutcome.Valid), check.Problem);
    }

    [Test]
    public void Both_refuse_a_header_signed_with_another_secret()
    {
        string payload = "{\"id\":\"evt_x\"}";
        string header = StripeSignature.Header(Timestamp, StripeSignature.Compute("whsec_other", Timestamp, Encoding.UTF8.GetBytes(payload)));
        var verifier = new StripeSignatureVerifier(
            [new WebhookSecret(Secret, TestOnly: true)],
            TimeSpan.FromSeconds(300),
            new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(Timestamp)));

        Assert.That(() => EventUtility.ValidateSignature(payload, header, Secret, 300, Timestamp), Throws.InstanceOf<StripeException>());
        Assert.That(verifier.Verify(Encoding.UTF8.GetBytes(payload), header).Outcome, Is.EqualTo(SignatureOutcome.NoMatchingSignature));
    }
}
