using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Configuration;

namespace SyncWorker.Store.Targets;

/// <summary>
/// Encrypts the secrets of targets managed at run time before they reach the store, with a key the store never holds:
/// AES-256-GCM (.NET's own), a fresh 96-bit nonce per value, the target's name as associated data (a value copied to
/// another target's row does not decrypt). A sealed value reads <c>v1.{key id}.{base64(nonce | tag | ciphertext)}</c>;
/// the key id (the first 8 hex digits of the key's SHA-256) tells a wrong key from a damaged value.
/// The key is 32 random bytes, base64, from <c>Store:EncryptionKey</c> (an environment variable such as
/// <c>Store__EncryptionKey</c>, or a Kubernetes secret) or the file <c>Store:EncryptionKeyFile</c> names.
/// </summary>
public sealed class SecretBox
{
    private const string Version = "v1";
    private const int NonceBytes = 12;
    private const int TagBytes = 16;

    private readonly byte[] _key;

    /// <summary>A box over a 32-byte key.</summary>
    public SecretBox(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length != 32)
        {
            throw new ArgumentException("The key must be 32 bytes.", nameof(key));
        }

        _key = key.ToArray();
        KeyId = Convert.ToHexStringLower(SHA256.HashData(_key))[..8];
    }

    /// <summary>The key's id: the first 8 hex digits of its SHA-256 (not secret).</summary>
    public string KeyId { get; }

    /// <summary>
    /// The box of <c>Store:EncryptionKey</c> or <c>Store:EncryptionKeyFile</c> (relative to <paramref name="appDirectory"/>),
    /// null when neither is set. Throws <see cref="StoreConfigurationException"/> naming the key and the fix (never the value).
    /// </summary>
    public static SecretBox? FromConfiguration(IConfiguration configuration, string appDirectory)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var text = configuration["Store:EncryptionKey"];
        var file = configuration["Store:EncryptionKeyFile"];
        string source;
        if (!string.IsNullOrWhiteSpace(text))
        {
            if (!string.IsNullOrWhiteSpace(file))
            {
                throw new StoreConfigurationException("Store:EncryptionKey and Store:EncryptionKeyFile are both set: set one of them.");
            }

            source = "Store:EncryptionKey";
        }
        else if (!string.IsNullOrWhiteSpace(file))
        {
            var path = Path.GetFullPath(file.Trim(), appDirectory);
            try
            {
                text = File.ReadAllText(path);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                throw new StoreConfigurationException($"Store:EncryptionKeyFile names {path}, which cannot be read ({exception.GetType().Name}): give the path of a file holding the key, readable by SyncWorker.");
            }

            source = $"Store:EncryptionKeyFile ({path})";
        }
        else
        {
            return null;
        }

        byte[] key;
        try
        {
            key = Convert.FromBase64String(text.Trim());
        }
        catch (FormatException)
        {
            key = [];
        }

        if (key.Length != 32)
        {
            throw new StoreConfigurationException(
                $"{source} must be 32 random bytes in base64 (44 characters), for example from `openssl rand -base64 32`; the value given is not (it is not shown).");
        }

        return new SecretBox(key);
    }

    /// <summary>Seals <paramref name="plain"/> for the row of <paramref name="name"/>.</summary>
    public string Seal(string name, string plain)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(plain);
        var data = Encoding.UTF8.GetBytes(plain);
        var sealedBytes = new byte[NonceBytes + TagBytes + data.Length];
        var nonce = sealedBytes.AsSpan(0, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagBytes);
        aes.Encrypt(nonce, data, sealedBytes.AsSpan(NonceBytes + TagBytes), sealedBytes.AsSpan(NonceBytes, TagBytes), Encoding.UTF8.GetBytes(name));
        return $"{Version}.{KeyId}.{Convert.ToBase64String(sealedBytes)}";
    }

    /// <summary>Opens a value <see cref="Seal"/> made for <paramref name="name"/>; throws <see cref="SecretBoxException"/> saying why not.</summary>
    public string Open(string name, string sealedText)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(sealedText);
        var parts = sealedText.Split('.');
        if (parts.Length != 3 || parts[0] != Version)
        {
            throw new SecretBoxException($"The secrets of target '{name}' are not in a format this SyncWorker reads.");
        }

        if (parts[1] != KeyId)
        {
            throw new SecretBoxException(
                $"The secrets of target '{name}' were encrypted with another key (id {parts[1]}; the configured Store:EncryptionKey has id {KeyId}): configure the key they were written with.");
        }

        byte[] sealedBytes;
        try
        {
            sealedBytes = Convert.FromBase64String(parts[2]);
        }
        catch (FormatException)
        {
            throw new SecretBoxException($"The secrets of target '{name}' are damaged (not base64).");
        }

        if (sealedBytes.Length < NonceBytes + TagBytes)
        {
            throw new SecretBoxException($"The secrets of target '{name}' are damaged (too short).");
        }

        var plain = new byte[sealedBytes.Length - NonceBytes - TagBytes];
        try
        {
            using var aes = new AesGcm(_key, TagBytes);
            aes.Decrypt(sealedBytes.AsSpan(0, NonceBytes), sealedBytes.AsSpan(NonceBytes + TagBytes), sealedBytes.AsSpan(NonceBytes, TagBytes), plain, Encoding.UTF8.GetBytes(name));
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new SecretBoxException($"The secrets of target '{name}' do not decrypt with the configured key: they were changed, or copied from another target's row.");
        }

        return Encoding.UTF8.GetString(plain);
    }
}

/// <summary>A sealed value could not be opened; the message says why, never the value.</summary>
public sealed class SecretBoxException(string message) : Exception(message);
