namespace SyncWorker.Webhooks.Tests.Signatures;

/// <summary>Paths of the fixture files that SyncWorker.Testing copies to the test output.</summary>
internal static class SignatureFixtures
{
    /// <summary>The events secret of <c>Fixtures/events/signatures.tsv</c> (test data, not a real secret).</summary>
    public const string FixtureSecret = "whsec_test_ExampleSecretForFixturesOnly";

    public static string EventsDirectory => Path.Combine(AppContext.BaseDirectory, "Fixtures", "events");

    public static string SignaturesDirectory => Path.Combine(AppContext.BaseDirectory, "Fixtures", "signatures");

    public static byte[] EventBytes(string fileName) => File.ReadAllBytes(Path.Combine(EventsDirectory, fileName));
}
