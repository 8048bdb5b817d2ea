using System.Net;
using System.Net.Sockets;

namespace SyncWorker.Testing;

/// <summary>Free TCP ports on 127.0.0.1, for the private brokers, databases and worker processes of the tests.</summary>
public static class LoopbackPorts
{
    /// <summary>A port nothing listens on right now (the OS's pick for an ephemeral listener, released again).</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
