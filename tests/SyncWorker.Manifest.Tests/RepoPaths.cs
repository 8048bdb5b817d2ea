namespace SyncWorker.Manifest.Tests;

/// <summary>Paths to files in the repository and in the copied fixtures.</summary>
internal static class RepoPaths
{
    private static readonly Lazy<string> LazyRoot = new(FindRoot);

    /// <summary>The directory that holds SyncWorker.sln, found by walking up from the test output directory.</summary>
    public static string Root => LazyRoot.Value;

    public static string RepoManifest => Path.Combine(Root, "manifest", "stripe-app.json");

    public static string DataFile(string fileName) => Path.Combine(Root, "src", "SyncWorker.Manifest", "Data", fileName);

    public static string FixtureManifest(string fileName) =>
        Path.Combine(TestContext.CurrentContext.TestDirectory, "Fixtures", "manifests", fileName);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SyncWorker.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException(
            $"No SyncWorker.sln above '{TestContext.CurrentContext.TestDirectory}'; run the tests from a checkout of the repository.");
    }
}
