using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using SyncWorker.Webhooks.Signatures;

namespace SyncWorker.Webhooks.Tests.Signatures;

/// <summary>Headers produced outside this code base: the shared fixtures and the official stripe npm package.</summary>
[TestFixture]
public sealed class SignatureFixtureTests
{
    private static readonly TimeSpan Tolerance = TimeSpan.FromSeconds(300);

    public static IEnumerable<TestCaseData> SignatureRows()
    {
        string path = Path.Combine(SignatureFixtures.EventsDirectory, "signatures.tsv");
        foreach (string line in File.ReadLines(path))
        {
            if (line.Length == 0 || line.StartsWith('#') || line.StartsWith("file\t", StringComparison.Ordinal))
            {
                continue;
            }

            string[] columns = line.Split('\t');
            yield return new TestCaseData(columns[0], columns[1], columns[2]).SetArgDisplayNames(columns[0]);
        }
    }

    [Test]
    public void Signatures_tsv_covers_every_event_file()
    {
        string[] rows = SignatureRows().Select(row => (string)row.Arguments[0]!).ToArray();
        string[] files = Directory.GetFiles(SignatureFixtures.EventsDirectory, "*.json")
            .Select(Path.GetFileName)
            .Where(name => name != "checkout.session.line_items.response.json")
            .ToArray()!;

        Assert.That(rows, Is.SupersetOf(files));
        Assert.That(rows, Does.Contain("stripe-dotnet_event_test_signature.json"));
    }

    [TestCaseSource(nameof(SignatureRows))]
    public void Fixture_header_verifies_against_the_file_bytes(string file, string secret, string header)
    {
        byte[] body = SignatureFixtures.EventBytes(file);
        long t = long.Parse(header.Split(',')[0]["t=".Length..], System.Globalization.CultureInfo.InvariantCulture);
        var time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(t + 10));
        var verifier = new StripeSignatureVerifier([new WebhookSecret(secret, TestOnly: true)], Tolerance, time);

        SignatureCheck check = verifier.Verify(body, header);

        Assert.That(check.Outcome, Is.EqualTo(SignatureOutcome.Valid), check.Problem);
        Assert.That(check.Timestamp, Is.EqualTo(t));

        // The same header must not verify a changed body or with another secret.
        byte[] changed = (byte[])body.Clone();
        changed[body.Length / 2] ^= 0x20;
        Assert.That(verifier.Verify(changed, header).Outcome, Is.EqualTo(SignatureOutcome.NoMatchingSignature));
        var otherSecret = new StripeSignatureVerifier([new WebhookSecret(secret + "x", TestOnly: true)], Tolerance, time);
        Assert.That(otherSecret.Verify(body, header).Outcome, Is.EqualTo(SignatureOutcome.NoMatchingSignature));
    }

    public static IEnumerable<TestCaseData> NodeVectors()
    {
        string path = Path.Combine(SignatureFixtures.SignaturesDirectory, "stripe-node-vectors.json");
        using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(path));
        int index = 0;
        foreach (JsonElement vector in document.RootElement.GetProperty("vectors").EnumerateArray())
        {
            byte[] body;
            string name;
            if (vector.TryGetProperty("payloadFile", out JsonElement file))
            {
                name = file.GetString()!;
                body = SignatureFixtures.EventBytes(name);
            }
            else
            {
                name = $"inline #{index}";
                body = Encoding.UTF8.GetBytes(vector.GetProperty("payload").GetString()!);
            }

            index++;
            yield return new TestCaseData(
                body,
                vector.GetProperty("secret").GetString(),
                vector.GetProperty("timestamp").GetInt64(),
                vector.GetProperty("header").GetString()).SetArgDisplayNames(name);
        }
    }

    [Test]
    public void Node_vectors_include_non_ascii_payloads()
    {
        byte[][] bodies = NodeVectors().Select(v => (byte[])v.Arguments[0]!).ToArray();

        Assert.That(bodies, Has.Length.GreaterThanOrEqualTo(5));
        Assert.That(bodies.Select(Encoding.UTF8.GetString), Has.Some.Contains("Zoë Müller"));
        Assert.That(bodies, Has.Some.Matches<byte[]>(b => b.Any(x => x >= 0x80)));
    }

    [TestCaseSource(nameof(NodeVectors))]
    public void Header_from_stripe_npm_package_verifies(byte[] body, string secret, long timestamp, string header)
    {
        var time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(timestamp + 10));
        var verifier = new StripeSignatureVerifier([new WebhookSecret(secret, TestOnly: false)], Tolerance, time);

        SignatureCheck check = verifier.Verify(body, header);

        Assert.That(check.Outcome, Is.EqualTo(SignatureOutcome.Valid), check.Problem);
        Assert.That(header, Is.EqualTo(StripeSignature.Header(timestamp, StripeSignature.Compute(secret, timestamp, body))));
    }
}
