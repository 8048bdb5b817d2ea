using System.Text;
using Microsoft.Extensions.Time.Testing;
using SyncWorker.Webhooks.Signatures;

namespace SyncWorker.Webhooks.Tests.Signatures;

[TestFixture]
public sealed class StripeSignatureVerifierTests
{
    private const long Now = 1_786_003_300;
    private static readonly TimeSpan Tolerance = TimeSpan.FromSeconds(300);
    private static readonly WebhookSecret Live = new("whsec_live_CurrentSecretForUnitTests0001", TestOnly: false);
    private static readonly WebhookSecret OldLive = new("whsec_live_PreviousSecretForUnitTests002", TestOnly: false);
    private static readonly WebhookSecret Test = new("whsec_test_TestModeSecretForUnitTests003", TestOnly: true);
    private static readonly WebhookSecret Unknown = new("whsec_live_SecretNobodyConfigured000004", TestOnly: false);

    private static readonly byte[] Body = Encoding.UTF8.GetBytes(
        "{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"customer.created\",\"data\":{\"object\":{\"id\":\"cus_1\",\"object\":\"customer\",\"name\":\"Zoë Müller\"}}}\n");

    private FakeTimeProvider _time = null!;

    [SetUp]
    public void SetUp() => _time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(Now));

    [Test]
    public void Valid_signature_is_accepted_and_reports_the_secret_and_timestamp()
    {
        string header = StripeSignature.Header(Now, Sign(Live, Now));

        SignatureCheck check = Verifier(Live).Verify(Body, header);

        Assert.Multiple(() =>
        {
            Assert.That(check.Outcome, Is.EqualTo(SignatureOutcome.Valid));
            Assert.That(check.IsValid, Is.True);
            Assert.That(check.MatchedSecret, Is.SameAs(Live));
            Assert.That(check.Timestamp, Is.EqualTo(Now));
            Assert.That(check.Problem, Is.Empty);
        });
    }

    [Test]
    public void Rotated_secret_second_configured_secret_matches()
    {
        string header = StripeSignature.Header(Now, Sign(Live, Now));

        SignatureCheck check = Verifier(OldLive, Live).Verify(Body, header);

        Assert.That(check.Outcome, Is.EqualTo(SignatureOutcome.Valid));
        Assert.That(check.MatchedSecret, Is.SameAs(Live));
    }

    [Test]
    public void Rotation_header_with_old_and_new_v1_is_accepted_by_either_configuration()
    {
        // During a roll Stripe sends one v1 per active secret.
        string header = StripeSignature.Header(Now, Sign(OldLive, Now), Sign(Live, Now));

        Assert.Multiple(() =>
        {
            Assert.That(Verifier(Live).Verify(Body, header).MatchedSecret, Is.SameAs(Live));
            Assert.That(Verifier(OldLive).Verify(Body, header).MatchedSecret, Is.SameAs(OldLive));
            Assert.That(Verifier(Unknown).Verify(Body, header).Outcome, Is.EqualTo(SignatureOutcome.NoMatchingSignature));
        });
    }

    [Test]
    public void When_several_secrets_match_a_live_secret_is_preferred_over_a_test_only_one()
    {
        string header = StripeSignature.Header(Now, Sign(Test, Now), Sign(Live, Now));

        Assert.Multiple(() =>
        {
            Assert.That(Verifier(Test, Live).Verify(Body, header).MatchedSecret, Is.SameAs(Live));
            Assert.That(Verifier(Live, Test).Verify(Body, header).MatchedSecret, Is.SameAs(Live));
            Assert.That(Verifier(Test).Verify(Body, header).MatchedSecret, Is.SameAs(Test));
        });
    }

    [Test]
    public void Tampered_body_one_byte_changed_is_refused()
    {
        string header = StripeSignature.Header(Now, Sign(Live, Now));
        byte[] tampered = (byte[])Body.Clone();
        tampered[^3] ^= 0x01;

        SignatureCheck check = Verifier(Live).Verify(tampered, header);

        Assert.That(check.Outcome, Is.EqualTo(SignatureOutcome.NoMatchingSignature));
        Assert.That(check.MatchedSecret, Is.Null);
    }

    [Test]
    public void Signature_made_with_another_secret_is_refused()
    {
        string header = StripeSignature.Header(Now, Sign(Unknown, Now));

        SignatureCheck check = Verifier(Live, Test).Verify(Body, header);

        Assert.That(check.Outcome, Is.EqualTo(SignatureOutcome.NoMatchingSignature));
        Assert.That(check.Problem, Does.Contain("1 v1 signature"));
    }

    [Test]
    public void Signature_over_another_timestamp_is_refused()
    {
        string header = StripeSignature.Header(Now, Sign(Live, Now - 1));

        Assert.That(Verifier(Live).Verify(Body, header).Outcome, Is.EqualTo(SignatureOutcome.NoMatchingSignature));
    }

    [Test]
    public void Several_v1_entries_where_only_the_last_matches_is_accepted()
    {
        string header = StripeSignature.Header(Now, Sign(Unknown, Now), Sign(OldLive, Now), new string('0', 64), Sign(Live, Now));

        SignatureCheck check = Verifier(Live).Verify(Body, header);

        Assert.That(check.Outcome, Is.EqualTo(SignatureOutcome.Valid));
    }

    [Test]
    public void V0_only_header_has_no_v1_signature()
    {
        // The v0 carries a signature that would match: other schemes must never be used (downgrade protection).
        string header = $"t={Now},v0={Sign(Live, Now)}";

        SignatureCheck check = Verifier(Live).Verify(Body, header);

        Assert.That(check.Outcome, Is.EqualTo(SignatureOutcome.NoV1Signature));
        Assert.That(check.MatchedSecret, Is.Null);
    }

    [Test]
    public void Test_event_header_with_v1_and_v0_is_accepted()
    {
        string header = StripeSignature.Header(Now, Sign(Live, Now)) + ",v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39";

        Assert.That(Verifier(Live).Verify(Body, header).Outcome, Is.EqualTo(SignatureOutcome.Valid));
    }

    [TestCase(-300, SignatureOutcome.Valid)]
    [TestCase(-301, SignatureOutcome.TimestampTooOld)]
    [TestCase(300, SignatureOutcome.Valid)]
    [TestCase(301, SignatureOutcome.TimestampInFuture)]
    [TestCase(0, SignatureOutcome.Valid)]
    [TestCase(-86_400, SignatureOutcome.TimestampTooOld)]
    public void Timestamp_tolerance_applies_in_both_directions_up_to_the_edge(int offsetSeconds, SignatureOutcome expected)
    {
        long t = Now + offsetSeconds;
        string header = StripeSignature.Header(t, Sign(Live, t));

        SignatureCheck check = Verifier(Live).Verify(Body, header);

        Assert.That(check.Outcome, Is.EqualTo(expected));
        Assert.That(check.Timestamp, Is.EqualTo(t));
        Assert.That(check.MatchedSecret, expected == SignatureOutcome.Valid ? Is.SameAs(Live) : Is.Null);
    }

    [Test]
    public void Tolerance_follows_the_injected_clock()
    {
        string header = StripeSignature.Header(Now, Sign(Live, Now));
        StripeSignatureVerifier verifier = Verifier(Live);

        Assert.That(verifier.Verify(Body, header).Outcome, Is.EqualTo(SignatureOutcome.Valid));
        _time.Advance(TimeSpan.FromSeconds(301));
        SignatureCheck stale = verifier.Verify(Body, header);
        Assert.That(stale.Outcome, Is.EqualTo(SignatureOutcome.TimestampTooOld));
        Assert.That(stale.Problem, Does.Contain("301 seconds old"));
    }

    [Test]
    public void Future_timestamp_problem_says_how_far_ahead()
    {
        long t = Now + 1000;
        SignatureCheck check = Verifier(Live).Verify(Body, StripeSignature.Header(t, Sign(Live, t)));

        Assert.That(check.Outcome, Is.EqualTo(SignatureOutcome.TimestampInFuture));
        Assert.That(check.Problem, Does.Contain("1000 seconds in the future"));
    }

    [Test]
    public void Signature_is_checked_before_the_timestamp_like_Stripe_net()
    {
        long t = Now - 10_000;
        string header = StripeSignature.Header(t, Sign(Unknown, t));

        Assert.That(Verifier(Live).Verify(Body, header).Outcome, Is.EqualTo(SignatureOutcome.NoMatchingSignature));
    }

    [Test]
    public void Zero_tolerance_switches_the_timestamp_check_off()
    {
        long t = Now - 1_000_000;
        var verifier = new StripeSignatureVerifier([Live], TimeSpan.Zero, _time);

        Assert.That(verifier.Verify(Body, StripeSignature.Header(t, Sign(Live, t))).Outcome, Is.EqualTo(SignatureOutcome.Valid));
    }

    [TestCase(null)]
    [TestCase("")]
    [TestCase("   ")]
    public void Missing_header_is_reported_as_missing(string? header)
    {
        SignatureCheck check = Verifier(Live).Verify(Body, header);

        Assert.That(check.Outcome, Is.EqualTo(SignatureOutcome.MissingHeader));
        Assert.That(check.Problem, Does.Contain("missing"));
    }

    [TestCase("garbage", "not a key=value pair")]
    [TestCase("t=abc,v1={sig}", "t is not a whole number")]
    [TestCase("t=-5,v1={sig}", "t is not a whole number")]
    [TestCase("t=1.5,v1={sig}", "t is not a whole number")]
    [TestCase("t=99999999999999999999,v1={sig}", "t is not a whole number")]
    [TestCase("t=9223372036854775807,v1={sig}", "t is not a whole number")]
    [TestCase("t=253402300800,v1={sig}", "t is not a whole number")]
    [TestCase("v1={sig}", "no t=")]
    [TestCase("v0={sig},v1={sig}", "no t=")]
    [TestCase("t={t},t={t},v1={sig}", "more than once")]
    [TestCase("t={t},,v1={sig}", "item 2 is empty")]
    [TestCase("t={t},v1={sig},", "item 3 is empty")]
    [TestCase("=x,t={t},v1={sig}", "item 1 is not a key=value pair")]
    [TestCase("t={t};v1={sig}", "t is not a whole number")]
    [TestCase("t={t},v1=zz", "none of the 1 v1")]
    [TestCase("t={t},v1={sig}0", "none of the 1 v1")]
    [TestCase("t={t},v1=,v1=abc", "none of the 2 v1")]
    public void Garbled_header_is_malformed(string template, string reason)
    {
        string header = Fill(template);

        SignatureCheck check = Verifier(Live).Verify(Body, header);

        Assert.That(check.Outcome, Is.EqualTo(SignatureOutcome.MalformedHeader));
        Assert.That(check.Problem, Does.Contain(reason));
        Assert.That(check.MatchedSecret, Is.Null);
    }

    [Test]
    public void Malformed_v1_next_to_a_well_formed_matching_one_is_ignored()
    {
        string header = Fill("t={t},v1=not-hex,v1={sig}");

        Assert.That(Verifier(Live).Verify(Body, header).Outcome, Is.EqualTo(SignatureOutcome.Valid));
    }

    [Test]
    public void Malformed_v1_next_to_a_well_formed_wrong_one_is_counted_in_the_problem()
    {
        string header = $"t={Now},v1=not-hex,v1={Sign(Unknown, Now)}";

        SignatureCheck check = Verifier(Live).Verify(Body, header);

        Assert.That(check.Outcome, Is.EqualTo(SignatureOutcome.NoMatchingSignature));
        Assert.That(check.Problem, Does.Contain("1 v1 signature(s)").And.Contain("1 further v1 value(s)"));
    }

    [Test]
    public void Whitespace_around_items_and_uppercase_hex_are_accepted()
    {
        string header = $"  t={Now} , v1={Sign(Live, Now).ToUpperInvariant()} ";

        Assert.That(Verifier(Live).Verify(Body, header).Outcome, Is.EqualTo(SignatureOutcome.Valid));
    }

    [Test]
    public void Keys_are_case_sensitive()
    {
        Assert.That(Verifier(Live).Verify(Body, $"T={Now},v1={Sign(Live, Now)}").Outcome, Is.EqualTo(SignatureOutcome.MalformedHeader));
        Assert.That(Verifier(Live).Verify(Body, $"t={Now},V1={Sign(Live, Now)}").Outcome, Is.EqualTo(SignatureOutcome.NoV1Signature));
    }

    [Test]
    public void Empty_body_can_be_signed_and_verified()
    {
        string header = StripeSignature.Header(Now, StripeSignature.Compute(Live.Secret, Now, []));

        Assert.That(Verifier(Live).Verify([], header).Outcome, Is.EqualTo(SignatureOutcome.Valid));
        Assert.That(Verifier(Live).Verify(Body, header).Outcome, Is.EqualTo(SignatureOutcome.NoMatchingSignature));
    }

    private static IEnumerable<TestCaseData> FailingHeaders()
    {
        yield return new TestCaseData((string?)null).SetArgDisplayNames("null");
        yield return new TestCaseData("garbage").SetArgDisplayNames("garbage");
        yield return new TestCaseData("t=abc,v1={sig}").SetArgDisplayNames("t not a number");
        yield return new TestCaseData("v1={sig}").SetArgDisplayNames("no t");
        yield return new TestCaseData("t={t},v0={sig}").SetArgDisplayNames("v0 only");
        yield return new TestCaseData("t={t},v1={wrong}").SetArgDisplayNames("wrong secret");
        yield return new TestCaseData("t={t},v1={secret}").SetArgDisplayNames("secret as signature");
        yield return new TestCaseData("t={old},v1={sigold}").SetArgDisplayNames("stale");
        yield return new TestCaseData("t={future},v1={sigfuture}").SetArgDisplayNames("future");
    }

    [TestCaseSource(nameof(FailingHeaders))]
    public void Problem_never_contains_a_secret_or_the_expected_signature(string? template)
    {
        string? header = template is null ? null : Fill(template);
        byte[] tampered = Encoding.UTF8.GetBytes("{\"tampered\":true}");

        foreach (byte[] body in new[] { Body, tampered })
        {
            SignatureCheck check = Verifier(Live, Test).Verify(body, header);

            Assert.That(check.Outcome, Is.Not.EqualTo(SignatureOutcome.Valid));
            Assert.That(check.Problem, Is.Not.Empty);
            foreach (WebhookSecret secret in new[] { Live, Test })
            {
                Assert.That(check.Problem, Does.Not.Contain(secret.Secret));
                Assert.That(check.Problem, Does.Not.Contain(secret.Secret["whsec_".Length..]));
                Assert.That(check.Problem, Does.Not.Contain(StripeSignature.Compute(secret.Secret, check.Timestamp, body)));
                Assert.That(check.Problem, Does.Not.Contain(StripeSignature.Compute(secret.Secret, Now, body)));
                Assert.That(check.ToString(), Does.Not.Contain(secret.Secret));
            }
        }
    }

    [Test]
    public void Valid_check_ToString_does_not_reveal_the_secret()
    {
        SignatureCheck check = Verifier(Live).Verify(Body, StripeSignature.Header(Now, Sign(Live, Now)));

        Assert.That(check.ToString(), Does.Contain("Valid").And.Not.Contain(Live.Secret));
    }

    [Test]
    public void Constructor_refuses_unusable_configuration()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => new StripeSignatureVerifier([], Tolerance, _time), Throws.ArgumentException);
            Assert.That(() => new StripeSignatureVerifier(null!, Tolerance, _time), Throws.ArgumentNullException);
            Assert.That(() => new StripeSignatureVerifier([Live, null!], Tolerance, _time), Throws.ArgumentException);
            Assert.That(() => new StripeSignatureVerifier([Live, new WebhookSecret("", TestOnly: false)], Tolerance, _time), Throws.ArgumentException.With.Message.Contains("#2 is empty"));
            Assert.That(() => new StripeSignatureVerifier([new WebhookSecret("  ", TestOnly: true)], Tolerance, _time), Throws.ArgumentException.With.Message.Contains("#1 is empty"));
            Assert.That(() => new StripeSignatureVerifier([Live], TimeSpan.FromSeconds(-1), _time), Throws.InstanceOf<ArgumentOutOfRangeException>());
            Assert.That(() => new StripeSignatureVerifier([Live], Tolerance, null!), Throws.ArgumentNullException);
        });
    }

    [Test]
    public void Secret_that_is_not_valid_UTF16_is_refused_without_echoing_it()
    {
        var broken = new WebhookSecret("whsec_broken\uD800tail", TestOnly: false);

        var ex = Assert.Throws<ArgumentException>(() => _ = new StripeSignatureVerifier([broken], Tolerance, _time));

        Assert.That(ex!.Message, Does.Not.Contain("broken"));
    }

    [Test]
    public void Many_configured_secrets_are_all_checked()
    {
        WebhookSecret[] secrets = Enumerable.Range(0, 12)
            .Select(i => new WebhookSecret($"whsec_many_{i:D2}_SecretForUnitTests", TestOnly: i % 2 == 0))
            .ToArray();
        var verifier = new StripeSignatureVerifier(secrets, Tolerance, _time);

        foreach (WebhookSecret secret in secrets)
        {
            SignatureCheck check = verifier.Verify(Body, StripeSignature.Header(Now, Sign(secret, Now)));
            Assert.That(check.MatchedSecret, Is.SameAs(secret));
        }
    }

    private StripeSignatureVerifier Verifier(params WebhookSecret[] secrets) => new(secrets, Tolerance, _time);

    private static string Sign(WebhookSecret secret, long timestamp) => StripeSignature.Compute(secret.Secret, timestamp, Body);

    private static string Fill(string template) => template
        .Replace("{sigold}", Sign(Live, Now - 301), StringComparison.Ordinal)
        .Replace("{sigfuture}", Sign(Live, Now + 301), StringComparison.Ordinal)
        .Replace("{sig}", Sign(Live, Now), StringComparison.Ordinal)
        .Replace("{wrong}", Sign(Unknown, Now), StringComparison.Ordinal)
        .Replace("{secret}", Live.Secret, StringComparison.Ordinal)
        .Replace("{old}", (Now - 301).ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
        .Replace("{future}", (Now + 301).ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
        .Replace("{t}", Now.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
}
