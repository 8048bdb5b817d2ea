using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.RequestTemplates;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Forwarding.Targets.Managed;

namespace SyncWorker.Hosting;

/// <summary>
/// The targets management API, under the admin group (its listener, its tokens: <see cref="AdminEndpoints"/>):
/// <c>GET/POST /admin/targets</c>, <c>GET/PUT/DELETE /admin/targets/{name}</c> (<c>?drain=true</c> or <c>?discard=true</c>
/// when deliveries are queued), <c>POST /admin/targets/{name}/rotate-secret</c> and <c>POST /admin/targets/{name}/preview</c>. Changes need a write token; each is
/// written to the audit log under the token's name. Errors are RFC 7807 problems (<c>application/problem+json</c>); invalid
/// input lists each field (<c>errors</c>) with what to do.
/// </summary>
internal static class AdminTargetEndpoints
{
    /// <summary>The tag of these endpoints in the OpenAPI document.</summary>
    private const string Tag = "targets";

    public static void MapAdminTargets(this RouteGroupBuilder admin)
    {
        admin.MapGet("/targets", (ManagedTargets targets) => TypedResults.Ok(targets.List()))
            .WithTags(Tag).WithSummary("Every target: the configuration file's (read-only here) and those managed through this API.");

        admin.MapGet("/targets/{name}", Results<Ok<TargetView>, ProblemHttpResult> (string name, ManagedTargets targets) =>
                targets.Get(name) is { } view
                    ? TypedResults.Ok(view)
                    : TypedResults.Problem($"No target is named '{name}': GET /admin/targets lists them.", statusCode: StatusCodes.Status404NotFound))
            .WithTags(Tag).WithSummary("One target; secrets show their last four characters only.");

        admin.MapPost("/targets", async Task<IResult> (HttpContext context, ManagedTargets targets) =>
            {
                var (document, problem) = await ReadAsync<TargetDocument>(context.Request, allowEmpty: false);
                return problem ?? Answer(await targets.CreateAsync(document!, AdminEndpoints.Actor(context), context.RequestAborted));
            })
            .Accepts<TargetDocument>("application/json")
            .Produces<TargetView>(StatusCodes.Status201Created)
            .ProducesValidationProblem()
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .WithTags(Tag).WithSummary("Creates a target; signingSecret, when left out, is generated and returned once, in this answer.");

        admin.MapPut("/targets/{name}", async Task<IResult> (string name, HttpContext context, ManagedTargets targets) =>
            {
                var (document, problem) = await ReadAsync<TargetDocument>(context.Request, allowEmpty: false);
                return problem ?? Answer(await targets.ReplaceAsync(name, document!, AdminEndpoints.Actor(context), context.RequestAborted));
            })
            .Accepts<TargetDocument>("application/json")
            .Produces<TargetView>()
            .ProducesValidationProblem()
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .WithTags(Tag).WithSummary("Replaces a target of the API as a whole; signingSecret left out keeps the current one, a header set to null keeps its value.");

        admin.MapDelete("/targets/{name}", async Task<IResult> (string name, bool? drain, bool? discard, HttpContext context, ManagedTargets targets) =>
                Answer(await targets.RemoveAsync(name, drain == true, discard == true, AdminEndpoints.Actor(context), context.RequestAborted)))
            .Produces(StatusCodes.Status204NoContent)
            .Produces<TargetView>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .WithTags(Tag).WithSummary("Removes a target of the API: at once when nothing is queued; else with ?drain=true (deliver, then remove) or ?discard=true (record each as discarded), or 409 with the count.");

        admin.MapPost("/targets/{name}/rotate-secret", async Task<IResult> (string name, HttpContext context, ManagedTargets targets) =>
            {
                var (request, problem) = await ReadAsync<RotateSecretRequest>(context.Request, allowEmpty: true);
                return problem ?? Answer(await targets.RotateSecretAsync(name, request ?? new RotateSecretRequest(), AdminEndpoints.Actor(context), context.RequestAborted));
            })
            .Accepts<RotateSecretRequest>("application/json")
            .Produces<TargetView>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .WithTags(Tag).WithSummary("A new signing secret (given or generated, returned once); for the overlap, requests carry both secrets' signatures.");

        admin.MapPost("/targets/{name}/preview", PreviewAsync)
            .Accepts<JsonElement>("application/json")
            .Produces<TargetPreview>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .WithTags(Tag).WithSummary(
                "The exact request the target would get, not sent: method, URL, headers (the signature and header values masked to their last four " +
                "characters; no Authorization header, no token is fetched) and body. The body of this call: a Stripe event or an order document; " +
                "none for the example order. For an order target an event is mapped without line items (Stripe is not called).");
    }

    /// <summary>
    /// <c>POST /admin/targets/{name}/preview</c>: the request the target would get, not sent (see
    /// <see cref="TargetRequestPreview"/>); works for every target this instance forwards to, of the file or of the API,
    /// with the worker's own secrets, masked.
    /// </summary>
    private static async Task<IResult> PreviewAsync(string name, HttpContext context, TargetRegistry registry, TargetRequestBuilder builder, TimeProvider time)
    {
        if (registry.Find(name) is not { } route)
        {
            return TypedResults.Problem($"No target is named '{name}': GET /admin/targets lists them.", statusCode: StatusCodes.Status404NotFound);
        }

        byte[]? file = null;
        if (context.Request.ContentLength is not (0 or null) || context.Request.HasJsonContentType())
        {
            if (!context.Request.HasJsonContentType())
            {
                return TypedResults.Problem("Send the event or order document as JSON with Content-Type: application/json, or no body for the example order.",
                    statusCode: StatusCodes.Status415UnsupportedMediaType);
            }

            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
            file = buffer.Length == 0 ? null : buffer.ToArray();
        }

        ReadOnlyMemory<byte> input;
        string? note;
        try
        {
            input = TargetRequestPreview.Input(route.Options, file, out note);
        }
        catch (Exception exception) when (exception is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return TypedResults.ValidationProblem(
                new Dictionary<string, string[]> { ["body"] = [$"body is not a usable Stripe event or order document: {exception.Message}"] },
                "Send a Stripe event (\"object\": \"event\") or an order document (\"object\": \"syncworker.order\"), or no body for the example order.",
                title: "The request is not valid");
        }

        try
        {
            var request = TargetRequestPreview.Build(builder, route.Options, input, time.GetUtcNow());
            return TypedResults.Ok(new TargetPreview(note, request.Method, request.Url, request.Headers, request.Body));
        }
        catch (DeliveryFailedException exception)
        {
            return TypedResults.Problem(exception.Message, statusCode: StatusCodes.Status422UnprocessableEntity,
                title: "The target's request cannot be built from this input (a delivery would fail the same way)");
        }
    }

    private static IResult Answer(TargetChange change) => change.Outcome switch
    {
        TargetChangeOutcome.Created => TypedResults.Created($"/admin/targets/{change.Target?.Name}", change.Target),
        TargetChangeOutcome.Done => TypedResults.Ok(change.Target),
        TargetChangeOutcome.Removed => TypedResults.NoContent(),
        TargetChangeOutcome.Accepted => TypedResults.Accepted($"/admin/targets/{change.Target?.Name}", change.Target),
        TargetChangeOutcome.Invalid => TypedResults.ValidationProblem(change.Errors ?? new Dictionary<string, string[]>(), change.Detail, title: "The target is not valid"),
        TargetChangeOutcome.Unprocessable => Unprocessable(change),
        TargetChangeOutcome.NotFound => TypedResults.Problem(change.Detail, statusCode: StatusCodes.Status404NotFound),
        TargetChangeOutcome.Conflict => TypedResults.Problem(change.Detail, statusCode: StatusCodes.Status409Conflict,
            extensions: change.Queued is { } queued ? new Dictionary<string, object?> { ["queued"] = queued } : null),
        _ => TypedResults.Problem(change.Detail, statusCode: StatusCodes.Status503ServiceUnavailable),
    };

    /// <summary>
    /// 422: a broken template, with <c>errors</c> as in a 400 and <c>field</c>, <c>line</c>, <c>column</c> and <c>in</c>
    /// (<c>template</c>, or <c>output</c> for a rendered body that is not valid JSON) of the first.
    /// </summary>
    private static ProblemHttpResult Unprocessable(TargetChange change)
    {
        var problem = new HttpValidationProblemDetails(change.Errors ?? new Dictionary<string, string[]>())
        {
            Status = StatusCodes.Status422UnprocessableEntity,
            Title = "A template of the target is broken",
            Detail = change.Detail,
        };
        if (change.Position is { } position)
        {
            problem.Extensions["field"] = position.Field;
            problem.Extensions["line"] = position.Line;
            problem.Extensions["column"] = position.Column;
            problem.Extensions["in"] = position.In;
        }

        return TypedResults.Problem(problem);
    }

    /// <summary>The JSON body; a problem (415, or 400 naming the field) when it cannot be read.</summary>
    private static async Task<(T? Value, IResult? Problem)> ReadAsync<T>(HttpRequest request, bool allowEmpty)
        where T : class
    {
        if (allowEmpty && request.ContentLength is 0 or null && !request.HasJsonContentType())
        {
            return (null, null);
        }

        if (!request.HasJsonContentType())
        {
            return (null, TypedResults.Problem("Send the body as JSON with Content-Type: application/json.", statusCode: StatusCodes.Status415UnsupportedMediaType));
        }

        try
        {
            var value = await JsonSerializer.DeserializeAsync<T>(request.Body, ManagedTargets.Json, request.HttpContext.RequestAborted);
            return value is null && !allowEmpty
                ? (null, TypedResults.Problem("The body is empty (null): send the target as a JSON object.", statusCode: StatusCodes.Status400BadRequest))
                : (value, null);
        }
        catch (JsonException exception)
        {
            var unmapped = System.Text.RegularExpressions.Regex.Match(exception.Message, "The JSON property '([^']+)' could not be mapped");
            var field = unmapped.Success ? unmapped.Groups[1].Value
                : string.IsNullOrEmpty(exception.Path) || exception.Path == "$" ? "body" : exception.Path.TrimStart('$', '.');
            var why = unmapped.Success
                ? TargetDocument.RefusedFields.TryGetValue(field, out var refused)
                    ? $"is not taken here: {refused}"
                    : "is not a field of a target: see GET /admin/openapi.json for the fields (camelCase)"
                : "has the wrong type or is not valid JSON: see GET /admin/openapi.json for each field's type";
            return (null, TypedResults.ValidationProblem(
                new Dictionary<string, string[]> { [field] = [$"{field} {why} (at line {exception.LineNumber + 1}, byte {exception.BytePositionInLine + 1})."] },
                "The body could not be read.",
                title: "The request is not valid"));
        }
    }
}

/// <summary>What <c>POST /admin/targets/{name}/preview</c> answers: the request, not sent.</summary>
/// <param name="Note">What the request was built from, when not the body given as it is (the example order, or an event mapped without line items).</param>
/// <param name="Method">POST, PUT or PATCH.</param>
/// <param name="Url">The URL, its path rendered.</param>
/// <param name="Headers">The headers in the order they are sent; the signature and the values of the target's headers show their last four characters only.</param>
/// <param name="Body">The body as text.</param>
internal sealed record TargetPreview(string? Note, string Method, string Url, IReadOnlyList<PreviewedHeader> Headers, string Body);
