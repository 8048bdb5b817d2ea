using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SyncWorker.Testing;

/// <summary>
/// A certificate authority made for one test run (ECDSA P-256, in memory), which issues server certificates for the names
/// a test chooses. Everything is written as PEM, the format RabbitMQ's <c>ssl_options</c> and
/// <c>RabbitMq:CaCertificatePath</c> read. Nothing touches the machine's trust store.
/// </summary>
public sealed class TestCertificateAuthority : IDisposable
{
    private readonly ECDsa _key;

    private TestCertificateAuthority(X509Certificate2 certificate, ECDsa key)
    {
        Certificate = certificate;
        _key = key;
    }

    /// <summary>The CA's self-signed certificate (public part).</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>A new CA named <c>CN={name}</c>, valid from a day ago for a week.</summary>
    public static TestCertificateAuthority Create(string name)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = TimeProvider.System.GetUtcNow();
        var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(7));
        return new TestCertificateAuthority(X509CertificateLoader.LoadCertificate(certificate.Export(X509ContentType.Cert)), key);
    }

    /// <summary>Writes the CA certificate as PEM to <paramref name="path"/> and returns the path.</summary>
    public string WritePem(string path)
    {
        File.WriteAllText(path, Certificate.ExportCertificatePem() + "\n");
        return path;
    }

    /// <summary>
    /// A server certificate signed by this CA whose subject alternative names are exactly <paramref name="dnsNames"/> and
    /// <paramref name="addresses"/> (the common name is the first of them, which TLS clients do not use for the name check).
    /// </summary>
    public ServerCertificate Issue(IReadOnlyList<string> dnsNames, IReadOnlyList<IPAddress>? addresses = null)
    {
        ArgumentNullException.ThrowIfNull(dnsNames);
        addresses ??= [];
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var commonName = dnsNames.Count > 0 ? dnsNames[0] : addresses[0].ToString();
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        foreach (var dns in dnsNames)
        {
            names.AddDnsName(dns);
        }

        foreach (var address in addresses)
        {
            names.AddIpAddress(address);
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));
        var now = TimeProvider.System.GetUtcNow();
        var serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7F;
        using var signed = request.Create(Certificate.SubjectName, X509SignatureGenerator.CreateForECDsa(_key), now.AddDays(-1), now.AddDays(6), serial);
        return new ServerCertificate(signed.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem(), Certificate.ExportCertificatePem());
    }

    public void Dispose()
    {
        _key.Dispose();
        Certificate.Dispose();
    }
}

/// <summary>A server certificate, its private key and the certificate of the CA that signed it, all PEM.</summary>
public sealed record ServerCertificate(string CertificatePem, string PrivateKeyPem, string CaCertificatePem)
{
    /// <summary>Writes <c>ca.pem</c>, <c>cert.pem</c> and <c>key.pem</c> into <paramref name="directory"/>.</summary>
    public (string CaFile, string CertificateFile, string KeyFile) WriteTo(string directory)
    {
        Directory.CreateDirectory(directory);
        var ca = Path.Combine(directory, "ca.pem");
        var certificate = Path.Combine(directory, "cert.pem");
        var key = Path.Combine(directory, "key.pem");
        File.WriteAllText(ca, CaCertificatePem + "\n");
        File.WriteAllText(certificate, CertificatePem + "\n");
        File.WriteAllText(key, PrivateKeyPem + "\n");
        return (ca, certificate, key);
    }
}
