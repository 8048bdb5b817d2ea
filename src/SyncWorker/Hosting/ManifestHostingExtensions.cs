using SyncWorker.Manifest;

namespace SyncWorker.Hosting;

/// <summary>Loads the app manifest at start and shares its permission policy with every stage.</summary>
public static class ManifestHostingExtensions
{
    /// <summary>Configuration key of the manifest file path.</summary>
    public const string PathKey = "Manifest:Path";

    /// <summary>Default manifest path, relative to the working directory.</summary>
    public const string DefaultPath = "manifest/stripe-app.json";

    /// <summary>
    /// Loads <c>Manifest:Path</c> now. A relative path is looked up in the working directory first, then in the
    /// application's directory (where the build copies the repository's manifest). A missing or
    /// invalid manifest throws <see cref="ManifestException"/> naming the file and the field; the process does not start.
    /// </summary>
    public static IHostApplicationBuilder AddAppManifest(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var configured = builder.Configuration[PathKey];
        var path = Resolve(string.IsNullOrWhiteSpace(configured) ? DefaultPath : configured, builder.Environment.ContentRootPath);

        var manifest = ManifestLoader.Load(path);
        var table = EventPermissionTable.LoadEmbedded();
        builder.Services.AddSingleton(manifest);
        builder.Services.AddSingleton(table);
        builder.Services.AddSingleton(new PermissionPolicy(manifest, table));
        return builder;
    }

    private static string Resolve(string configured, string applicationDirectory)
    {
        if (Path.IsPathRooted(configured))
        {
            return configured;
        }

        var fromWorkingDirectory = Path.GetFullPath(configured);
        if (File.Exists(fromWorkingDirectory))
        {
            return fromWorkingDirectory;
        }

        var fromApplication = Path.GetFullPath(configured, applicationDirectory);
        // When neither exists, report the working-directory path: that is where an operator expects it.
        return File.Exists(fromApplication) ? fromApplication : fromWorkingDirectory;
    }
}
