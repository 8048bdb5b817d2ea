using System.Collections.Frozen;
using System.Collections.ObjectModel;

namespace SyncWorker.Manifest;

/// <summary>
/// The parts of a Stripe App manifest (<c>stripe-app.json</c>) that SyncWorker relies on.
/// Create one with <see cref="ManifestLoader.Load(string)"/> or <see cref="ManifestLoader.Parse(string, string)"/>,
/// which validate the document first.
/// </summary>
public sealed class AppManifest
{
    private readonly FrozenSet<string> _granted;

    internal AppManifest(
        string id,
        string version,
        string name,
        string sourcePath,
        IList<ManifestPermission> permissions,
        IList<string> connectSrc)
    {
        Id = id;
        Version = version;
        Name = name;
        SourcePath = sourcePath;
        Permissions = new ReadOnlyCollection<ManifestPermission>(permissions);
        ConnectSrc = new ReadOnlyCollection<string>(connectSrc);
        _granted = permissions.Select(p => p.Permission).ToFrozenSet(StringComparer.Ordinal);
    }

    /// <summary>The app's unique ID (<c>id</c>), for example <c>com.example.syncworker</c>.</summary>
    public string Id { get; }

    /// <summary>The app version (<c>version</c>).</summary>
    public string Version { get; }

    /// <summary>The name merchants see in the Dashboard (<c>name</c>).</summary>
    public string Name { get; }

    /// <summary>
    /// Where the manifest came from: the full path of the file for <see cref="ManifestLoader.Load(string)"/>,
    /// the source name as given for <see cref="ManifestLoader.Parse(string, string)"/>.
    /// </summary>
    public string SourcePath { get; }

    /// <summary>The permissions the manifest requests, in file order; no permission appears twice.</summary>
    public IReadOnlyList<ManifestPermission> Permissions { get; }

    /// <summary>
    /// <c>ui_extension.content_security_policy.connect-src</c>; empty when that key is null or absent.
    /// Stripe enforces it only for fetches from UI extensions, not for server-to-server calls.
    /// </summary>
    public IReadOnlyList<string> ConnectSrc { get; }

    /// <summary>Whether the manifest requests <paramref name="permission"/> (exact, case-sensitive match).</summary>
    public bool Grants(string permission)
    {
        ArgumentNullException.ThrowIfNull(permission);
        return _granted.Contains(permission);
    }

    /// <inheritdoc />
    public override string ToString() => $"{Id} {Version} ({SourcePath})";
}
