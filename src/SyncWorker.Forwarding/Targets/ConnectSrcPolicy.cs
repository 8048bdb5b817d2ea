using SyncWorker.Manifest;

namespace SyncWorker.Forwarding.Targets;

/// <summary>
/// Stripe's <c>connect-src</c> rule applied to fulfillment targets: a URL is allowed when the manifest lists it exactly,
/// or lists a folder URL ending in <c>/</c> that it starts with. URLs are compared in normalised form (scheme and host
/// lower-cased, default port dropped, dot segments resolved), so <c>https://a.example/hooks/../admin</c> is not under
/// <c>https://a.example/hooks/</c>.
/// </summary>
public sealed class ConnectSrcPolicy
{
    private readonly IReadOnlyList<(string Normalised, bool IsFolder)> _entries;

    /// <summary>Reads the allowed URLs from the manifest.</summary>
    public ConnectSrcPolicy(AppManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        _entries = manifest.ConnectSrc
            .Select(entry => Uri.TryCreate(entry, UriKind.Absolute, out var uri) ? (uri.AbsoluteUri, entry.EndsWith('/')) : (null, false))
            .Where(entry => entry.Item1 is not null)
            .Select(entry => (entry.Item1!, entry.Item2))
            .ToList();
    }

    /// <summary>True when the manifest allows sending to <paramref name="url"/>.</summary>
    public bool Allows(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!string.IsNullOrEmpty(url.UserInfo))
        {
            // Credentials in a URL are never what the manifest lists; refuse rather than compare around them.
            return false;
        }

        var candidate = url.AbsoluteUri;
        foreach (var (allowed, isFolder) in _entries)
        {
            if (isFolder
                    ? candidate.StartsWith(allowed, StringComparison.Ordinal)
                    : string.Equals(candidate, allowed, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
