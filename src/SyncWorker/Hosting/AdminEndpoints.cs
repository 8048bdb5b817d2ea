using Microsoft.AspNetCore.Http.HttpResults;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Consumers;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Hosting;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Messaging;
using SyncWorker.Operations.Cli;
using SyncWorker.Store;
using SyncWorker.Store.Ledger;
using SyncWorker.Webhooks.Receiving;

namespace SyncWorker.Hosting;

/// <summary>
/// <c>GET /admin/status</c>: this instance's <see cref="InstanceStatus"/>, for the <c>status</c> verb; on forwarding
/// instances <c>GET /admin/orders/{id}</c>: what the delivery ledger knows of an order (<c>cs_…</c>, or its payment intent
/// <c>pi_…</c>) or an event (<c>evt_…</c>), the JSON of <c>orders show --json</c> (404 when it knows nothing, 400 for another
/// kind of id, 503 while the store is unreachable), and
/// <c>GET /admin/deliveries?target=&amp;state=&amp;since=&amp;until=&amp;limit=&amp;after=</c>: a page of the ledger, the JSON of
/// <c>deliveries list --json</c> (400 naming a bad parameter). Only when an admin token is configured (otherwise the
/// endpoints do not exist), only on the admin listener (<see cref="AdminSettings"/>: <c>Admin:Urls</c>), and only for
/// requests carrying <c>Authorization: Bearer &lt;token&gt;</c> of a configured token (compared in constant time); every
/// endpoint here reads, so a <c>read</c> token is enough.
/// </summary>
public static class AdminEndpoints
{
    /// <summary>
    /// Maps the admin endpoints when <paramref name="settings"/> are given (a token is configured): under <c>/admin</c>,
    /// answering only connections to the admin listener's ports (404 on the webhook listener's), 401 without a known
    /// bearer token, 403 for a read token on a change.
    /// </summary>
    public static WebApplication MapAdminEndpoints(this WebApplication app, WorkerRole role, AdminSettings? settings)
    {
        ArgumentNullException.ThrowIfNull(app);
        if (settings is null)
        {
            return app;
        }

        var guard = Guard(settings);
        var admin = app.MapGroup("/admin").AddEndpointFilter(guard);

        // The OpenAPI document of the admin endpoints, behind the same listener and tokens (checked in as docs/admin-openapi.json).
        app.MapOpenApi("/admin/openapi.json").AddEndpointFilter(guard);

        var startedAt = DateTimeOffset.UtcNow;
        admin.MapGet("/status", (HttpContext context) =>
        {
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
                        supervisor.NotReady(route.Name),
                        supervisor.IsDisabled(route.Name)));
                }
            }

            return TypedResults.Ok(new InstanceStatus(
                $"{Environment.MachineName}/{Environment.ProcessId}", role.ToString(), startedAt, time.GetUtcNow(), receiver, targets));
        }).WithTags("status");
        if (role.Forwards())
        {
            admin.MapGet("/orders/{id}", async Task<Results<Ok<OrderHistory>, NotFound<OrderHistory>, ProblemHttpResult>> (
                string id, HttpContext context, IDeliveryLedger ledger, IOrderRegistry orders, StoreSettings store) =>
            {
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
                    return StoreUnreachable();
                }
            }).WithTags("orders");
            admin.MapGet("/deliveries", async Task<Results<Ok<DeliveryListing>, ProblemHttpResult>> (
                HttpContext context, IDeliveryLedger ledger, StoreSettings store, TimeProvider time,
                string? target, string? state, string? since, string? until, int? limit, string? after) =>
            {
                if (!DeliveryListQuery.TryParse(target, state, since, until, limit, after, time.GetUtcNow(), out var query, out var error))
                {
                    return TypedResults.Problem(error, statusCode: StatusCodes.Status400BadRequest);
                }

                try
                {
                    return TypedResults.Ok(await DeliveryListing.LoadAsync(ledger, store.Description, query!, context.RequestAborted));
                }
                catch (StoreUnavailableException)
                {
                    return StoreUnreachable();
                }
            }).WithTags("deliveries");
        }

        if (role.Forwards())
        {
            admin.MapAdminTargets();
            admin.MapAdminTargetHealth();
        }

        return app;
    }

    /// <summary>The name of the token a request to the admin endpoints was let in with: the actor of its changes in the audit log.</summary>
    public static string Actor(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Items.TryGetValue(TokenNameItem, out var name) && name is string text ? $"token:{text}" : "token:?";
    }

    private const string TokenNameItem = "syncworker.admin.token";

    /// <summary>
    /// The admin endpoints' filter: only connections to the admin listener's ports (404 on the webhook listener's), 401
    /// without a known bearer token, 403 for a read token on a change.
    /// </summary>
    private static Func<EndpointFilterInvocationContext, EndpointFilterDelegate, ValueTask<object?>> Guard(AdminSettings settings) =>
        async (context, next) =>
        {
            var http = context.HttpContext;
            if (!settings.Ports.Contains(http.Connection.LocalPort))
            {
                // Not on the webhook listener: as if it did not exist.
                return TypedResults.NotFound();
            }

            var needed = HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method) ? AdminScope.Read : AdminScope.Write;
            switch (settings.Authorize(http.Request.Headers.Authorization.ToString(), needed, out var name))
            {
                case AdminAccess.Granted:
                    http.Items[TokenNameItem] = name;
                    return await next(context);
                case AdminAccess.Forbidden:
                    return TypedResults.Problem($"The token '{name}' may read only; this needs a token with Scope write.", statusCode: StatusCodes.Status403Forbidden);
                default:
                    http.Response.Headers.WWWAuthenticate = "Bearer";
                    return TypedResults.Unauthorized();
            }
        };

    private static ProblemHttpResult StoreUnreachable() =>
        TypedResults.Problem("The store (delivery ledger) is unreachable; see /health/ready. Try again later.", statusCode: StatusCodes.Status503ServiceUnavailable);
}
