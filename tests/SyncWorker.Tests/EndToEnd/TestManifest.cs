using System.Text.Json.Nodes;

namespace SyncWorker.Tests.EndToEnd;

/// <summary>The repository's manifest with another connect-src list, written to a temporary file.</summary>
internal static class TestManifest
{
    public static string WithConnectSrc(params string[] urls)
    {
        var manifest = JsonNode.Parse(File.ReadAllText(WorkerHost.RepositoryFile("manifest/stripe-app.json")))!;
        var list = new JsonArray();
        foreach (var url in urls)
        {
            list.Add(url);
        }

        manifest["ui_extension"]!["content_security_policy"]!["connect-src"] = list;
        var path = Path.Combine(Path.GetTempPath(), $"stripe-app-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, manifest.ToJsonString());
        return path;
    }
}
