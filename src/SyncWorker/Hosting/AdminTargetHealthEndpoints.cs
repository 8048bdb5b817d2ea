using Microsoft.AspNetCore.Http.HttpResults;
using SyncWorker.Forwarding.Health;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Store;
using SyncWorker.Store.Audit;

namespace SyncWorker.Hosting;

/// <summary>The answer of <c>POST /admin/targets/{name}/enable</c>.</summary>
/// <param name="Target">The target.</param>
/// <param name="WasDisabled">It was disabled for failing; false: it was not, and nothing changed but its failing window.</param>
/// <param name="FailingSince">When its failing began, as recorded when it was disabled.</param>
/// <param name="DisabledAt">When it was disabled.</param>
public sealed record TargetEnabled(string Target, bool WasDisabled, DateTimeOffset? FailingSince, DateTimeOffset? DisabledAt);

/// <summary>
/// <c>POST /admin/targets/{name}/enable</c>: enables a target disabled for failing (<c>DisableAfterHours</c>), as
/// <c>targets enable</c> does. Needs a write token; written to the audit log under the token's name.
/// </summary>
internal static class AdminTargetHealthEndpoints
{
    public static void MapAdminTargetHealth(this RouteGroupBuilder admin)
    {
        admin.MapPost("/targets/{name}/enable", async Task<Results<Ok<TargetEnabled>, ProblemHttpResult>> (
                string name, HttpContext context, TargetRegistry targets, TargetHealthMonitor health, AuditLog audit) =>
            {
                if (targets.Find(name) is null)
                {
                    return TypedResults.Problem($"No target is named '{name}': GET /admin/targets lists them.", statusCode: StatusCodes.Status404NotFound);
                }

                try
                {
                    var actor = AdminEndpoints.Actor(context);
                    var result = await health.EnableAsync(name, actor, context.RequestAborted);
                    await audit.RecordAsync(actor, "targets.enable", name,
                        result.WasDisabled ? $"enabled (disabled at {result.DisabledAt:o}, failing since {result.FailingSince:o})" : "was not disabled; failing window restarted",
                        context.RequestAborted);
                    return TypedResults.Ok(new TargetEnabled(name, result.WasDisabled, result.FailingSince, result.DisabledAt));
                }
                catch (StoreUnavailableException)
                {
                    return TypedResults.Problem("The store (delivery ledger) is unreachable; see /health/ready. Try again later.", statusCode: StatusCodes.Status503ServiceUnavailable);
                }
            })
            .WithTags("targets")
            .WithSummary("Enables a target disabled for failing (DisableAfterHours): forwarders take its queued deliveries again, and its failing window starts now.");
    }
}
