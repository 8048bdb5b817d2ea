using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace SyncWorker.Store;

/// <summary>The store cannot be reached or used right now (down, refusing, locked, out of disk); it may come back.</summary>
public sealed class StoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The store's schema does not fit this build (migrated by a newer version).</summary>
public sealed class StoreSchemaException(string message) : Exception(message);

/// <summary>Sorts database exceptions into "unavailable, try again later" and the rest.</summary>
public static class StoreErrors
{
    /// <summary>
    /// True for an exception that says the store is unreachable or unusable for now: a connection refused or lost, a
    /// timeout, PostgreSQL shutting down or out of connections, SQLite busy, locked, unable to open or out of disk.
    /// </summary>
    public static bool IsUnavailable(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case StoreUnavailableException:
                case SocketException:
                case TimeoutException:
                case NpgsqlException { IsTransient: true }:
                case PostgresException { SqlState: "57P01" or "57P02" or "57P03" or "53300" or "08006" or "08001" or "08004" }:
                // SQLITE_BUSY 5, SQLITE_LOCKED 6, SQLITE_IOERR 10, SQLITE_FULL 13, SQLITE_CANTOPEN 14, SQLITE_READONLY 8.
                case SqliteException { SqliteErrorCode: 5 or 6 or 8 or 10 or 13 or 14 }:
                    return true;
                case NpgsqlException when e.InnerException is IOException or SocketException or TimeoutException:
                    return true;
            }
        }

        return false;
    }

    /// <summary>A one-line reason for logs and health (the provider's message; connection strings are never part of it).</summary>
    public static string Describe(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var innermost = exception;
        while (innermost.InnerException is not null && innermost is not PostgresException and not SqliteException)
        {
            innermost = innermost.InnerException;
        }

        return innermost.Message.ReplaceLineEndings(" ");
    }
}
