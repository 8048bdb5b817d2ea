using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Consumers;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Hosting;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Messaging;
using SyncWorker.Store;
using SyncWorker.Store.Ledger;
using SyncWorker.Webhooks.Receiving;

namespace SyncWorker.Hosting;

/// <summary>
/// <c>GET /admin/status</c>: this instance's <see cref="InstanceStatus"/>, for the <c>status</c> verb; on forwarding
/// instances <c>GET /admin/orders/{id}</c>: what the delivery ledger knows of an order (<c>cs_…</c>, or its payment intent
/// <c>pi_…</c>) or an event (<c>evt_…</c>), the JSON of <c>orders show --json</c> (404 when it knows nothing, 400 for another kind of id, 503 while
/// the store is unreachable). Only when
/// <c>Admin:Token</c> is set (otherwise the endpoint does not exist); requests must carry
/// <c>Authorization: Bearer &lt;token&gt;</c>, compared in constant time.
/// </summary>
public static class AdminEndpoints
{
    /// <summary>Configuration key of the bearer token.</summary>
    public const string TokenKey = "Admin:Token";

    /// <summary>Maps the admin endpoints when a token is configured.</summary>
    /// <exception cref="MessagingConfigurationException">The token is too short.</exception>
    public static WebApplication MapAdminEndpoints(this WebApplication app, WorkerRole role)
    {
        ArgumentNullException.ThrowIfNull(app);
        var token = app.Configuration[TokenKey];
        if (string.IsNullOrEmpty(token))
        {
            return app;
        }

        if (token.Length < 24)
        {
            throw new MessagingConfigurationException(
                $"{TokenKey} is set but shorter than 24 characters: use a long random value (for example `openssl rand -base64 32`), or remove it to turn the admin endpoints off.");
        }

        var expected = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        var startedAt = DateTimeOffset.UtcNow;
        app.MapGet("/admin/status", Results<Ok<InstanceStatus>, UnauthorizedHttpResult> (HttpContext context) =>
        {
            if (!Authorized(context, expected))
            {
                return TypedResults.Unauthorized();
            }

            var services = context.RequestServices;
            var time = services.GetRequiredService<TimeProvider>();
            ReceiverStatus? receiver = role.Receives()
                ? new ReceiverStatus(ReceiverActivity.WindowMinutes, services.GetRequiredService<ReceiverActivity>().Totals())
                : null;
            var targets = new List<TargetInstanceStatus>();
            if (role.Forwards())
            {
                var supervisor = services.GetRequiredService<TargetEndpointSupervisor>();
                var circuits = services.GetRequiredService<TargetCircuitStates>();
                var activity = services.GetRequiredService<TargetActivity>();
                foreach (var route in services.GetRequiredService<TargetRegistry>().Routes)
                {
                    var seen = activity.Of(route.Name);
                    targets.Add(new TargetInstanceStatus(
                        route.Name,
                        route.Options.Mode ?? "",
                        route.Options.Format,
                        supervisor.IsConsuming(route.Name),
                        supervisor.IsPaused(route.Name),
                        circuits.StateOf(route.Name).ToString(),
                        seen.InFlight,
                        seen.LastSuccessAt,
                        seen.LastFailureAt,
                        seen.LastFailureReason,
                        supervisor.NotReady(route.Name)));
                }
            }

            return TypedResults.Ok(new InstanceStatus(
                $"{Environment.MachineName}/{Environment.ProcessId}", role.ToString(), startedAt, time.GetUtcNow(), receiver, targets));
        });
        if (role.Forwards())
        {
            app.MapGet("/admin/orders/{id}", async Task<Results<Ok<OrderHistory>, UnauthorizedHttpResult, NotFound<OrderHistory>, ProblemHttpResult>> (
                string id, HttpContext context, IDeliveryLedger ledger, IOrderRegistry orders, StoreSettings store) =>
            {
                if (!Authorized(context, expected))
                {
                    return TypedResults.Unauthorized();
                }

                if (!OrderHistory.IsSubject(id))
                {
                    return TypedResults.Problem(
                        "Give a Checkout Session id (cs_…), a payment intent id (pi_…) or a Stripe event id (evt_…).",
                        statusCode: StatusCodes.Status400BadRequest);
                }

                try
                {
                    var history = await OrderHistory.LoadAsync(ledger, orders, store.Description, id, context.RequestAborted);
                    return history.Deliveries.Count == 0 ? TypedResults.NotFound(history) : TypedResults.Ok(history);
                }
                catch (StoreUnavailableException)
                {
                    return TypedResults.Problem("The store (delivery ledger) is unreachable; see /health/ready. Try again later.", statusCode: StatusCodes.Status503ServiceUnavailable);
                }
            });
        }

        return app;
    }

    private static bool Authorized(HttpContext context, byte[] expected)
    {
        var header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            return false;
        }

        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(presented, expected);
    }
}
