using System.Diagnostics.CodeAnalysis;

namespace SyncWorker.Manifest;

/// <summary>One entry of the manifest's <c>permissions</c> array.</summary>
/// <param name="Permission">The permission ID, for example <c>event_read</c>.</param>
/// <param name="Purpose">The sentence Stripe shows merchants to explain why the app needs the permission.</param>
[SuppressMessage(
    "Naming",
    "CA1711:Identifiers should not have incorrect suffix",
    Justification = "The suffix is reserved for code-access-security permissions, which .NET no longer has; this type models the manifest's 'permissions' entries and is named after them.")]
public sealed record ManifestPermission(string Permission, string Purpose);
