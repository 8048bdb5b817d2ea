using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using Spectre.Console;
using SyncWorker.Operations.Status;
using SyncWorker.Operations.Targets;

namespace SyncWorker.Operations.Cli;

/// <summary>
/// A target as <c>targets add</c> and <c>targets update</c> take it: the options, or <c>--file</c> with the API's JSON body.
/// </summary>
/// <remarks>Not a record, so that no generated <c>ToString</c> can print the signing secret or a header's value.</remarks>
internal sealed class TargetDefinition
{
    public string? Name { get; init; }

    public string? Url { get; init; }

    public string? Mode { get; init; }

    public string? Format { get; init; }

    public IReadOnlyList<string> Events { get; init; } = [];

    public IReadOnlyList<string> Accounts { get; init; } = [];

    public bool AllAccounts { get; init; }

    /// <summary><c>Name=Value</c>; in an update also <c>Name</c> alone (keep the stored value).</summary>
    public IReadOnlyList<string> Headers { get; init; } = [];

    public string? SigningSecret { get; init; }

    public int? MaxConcurrency { get; init; }

    public double? TimeoutSeconds { get; init; }

    /// <summary>The <c>--auth-*</c> options, when any was given.</summary>
    public TargetAuthArguments? Auth { get; init; }

    /// <summary>The <c>--template-file</c>, <c>--content-type</c>, <c>--method</c> and <c>--path</c> options, when any was given.</summary>
    public TargetRequestArguments? Request { get; init; }

    /// <summary>A file holding the API's JSON body; excludes every other field.</summary>
    public string? File { get; init; }

    /// <summary>
    /// The JSON body of <c>POST /admin/targets</c> (<paramref name="updating"/> null) or <c>PUT /admin/targets/{updating}</c>:
    /// the file as it is, or the options in the API's camelCase fields. A missing or contradictory option, an unreadable
    /// file or a malformed header is a usage error (exit 2) that never shows a header's value or a secret.
    /// </summary>
    public string Body(string? updating)
    {
        var verb = updating is null ? "targets add" : "targets update";
        if (File is not null)
        {
            return FileBody(verb);
        }

        var missing = new List<string>();
        if (updating is null && string.IsNullOrWhiteSpace(Name))
        {
            missing.Add("--name");
        }

        if (string.IsNullOrWhiteSpace(Url))
        {
            missing.Add("--url");
        }

        if (Mode is null)
        {
            missing.Add("--mode live|test");
        }

        if (Events.Count == 0)
        {
            missing.Add("--event (one per event type)");
        }

        if (Accounts.Count == 0 && !AllAccounts)
        {
            missing.Add("--account acct_… (one per merchant account) or --all-accounts");
        }

        if (missing.Count > 0)
        {
            throw CliException.Usage(
                $"{verb} needs {string.Join(", ", missing)}" +
                (updating is null ? "" : " (an update replaces the whole target)") +
                ", or --file with the target as JSON.");
        }

        if (Accounts.Count > 0 && AllAccounts)
        {
            throw CliException.Usage("Give --account (the merchant accounts the target serves) or --all-accounts (every account), not both.");
        }

        var body = new JsonObject
        {
            ["name"] = updating ?? Name!.Trim(),
            ["url"] = Url!.Trim(),
            ["events"] = new JsonArray([.. Events.Select(e => (JsonNode?)JsonValue.Create(e.Trim()))]),
            ["mode"] = Mode,
        };
        if (Format is not null)
        {
            body["format"] = Format;
        }

        if (AllAccounts)
        {
            body["allAccounts"] = true;
        }
        else
        {
            body["accounts"] = new JsonArray([.. Accounts.Select(a => (JsonNode?)JsonValue.Create(a.Trim()))]);
        }

        if (Headers.Count > 0)
        {
            body["headers"] = HeadersObject(updating is not null);
        }

        if (SigningSecret is not null)
        {
            body["signingSecret"] = SigningSecret;
        }

        if (Auth is not null)
        {
            body["auth"] = Auth.Json();
        }

        Request?.AddTo(body);

        if (MaxConcurrency is { } concurrency)
        {
            body["maxConcurrency"] = concurrency;
        }

        if (TimeoutSeconds is { } timeout)
        {
            body["timeoutSeconds"] = timeout;
        }

        return body.ToJsonString();
    }

    private string FileBody(string verb)
    {
        if (Name is not null || Url is not null || Mode is not null || Format is not null || Events.Count > 0 || Accounts.Count > 0
            || AllAccounts || Headers.Count > 0 || SigningSecret is not null || MaxConcurrency is not null || TimeoutSeconds is not null || Auth is not null
            || Request is not null)
        {
            throw CliException.Usage($"{verb} --file takes the whole target from the file: give its fields there, not also as options.");
        }

        string text;
        try
        {
            text = System.IO.File.ReadAllText(File!);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw CliException.Usage($"--file '{File}' cannot be read: {exception.Message}");
        }

        try
        {
            if (JsonNode.Parse(text) is not JsonObject)
            {
                throw CliException.Usage($"--file '{File}' does not hold a JSON object: give the target as the API takes it, e.g. {{\"name\": \"warehouse\", \"url\": \"https://…\", …}}.");
            }
        }
        catch (JsonException exception)
        {
            throw CliException.Usage($"--file '{File}' is not valid JSON (line {exception.LineNumber + 1}, byte {exception.BytePositionInLine + 1}).");
        }

        return text;
    }

    private JsonObject HeadersObject(bool updating)
    {
        var headers = new JsonObject();
        foreach (var header in Headers)
        {
            var equals = header.IndexOf('=', StringComparison.Ordinal);
            var name = (equals < 0 ? header : header[..equals]).Trim();
            if (name.Length == 0)
            {
                throw CliException.Usage("A --header has no name: give it as Name=Value, e.g. --header X-Api-Key=… .");
            }

            if (equals < 0 && !updating)
            {
                throw CliException.Usage($"--header '{name}' has no value: give it as {name}=Value.");
            }

            if (headers.ContainsKey(name) || headers.Any(pair => string.Equals(pair.Key, name, StringComparison.OrdinalIgnoreCase)))
            {
                throw CliException.Usage($"--header '{name}' is given twice: give each header once.");
            }

            // In an update, a header without a value is sent as null: the worker keeps the value it stores.
            headers[name] = equals < 0 ? null : header[(equals + 1)..];
        }

        return headers;
    }
}

/// <summary>
/// <c>targets add</c>, <c>update</c>, <c>remove</c>, <c>show</c> and <c>rotate-secret</c>: the targets management API of a
/// worker's admin listener (<see cref="AdminTargetsApi"/>), the service the <c>/admin/targets</c> endpoints are.
/// </summary>
internal static class TargetAdminCommands
{
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    public static async Task<int> AddAsync(
        CliSession session, IConfiguration configuration, string? worker, TargetDefinition definition, bool json, CancellationToken cancellationToken)
    {
        var body = definition.Body(updating: null);
        using var api = AdminTargetsApi.Open(configuration, worker, "targets add calls the worker's POST /admin/targets (a token with Scope write)");
        var answer = await api.SendAsync(HttpMethod.Post, "targets", body, cancellationToken);
        if (answer.Status != 201)
        {
            throw Refused(api, answer, "targets add", write: true);
        }

        var view = ReadView(api, answer);
        if (json)
        {
            session.WriteJson(answer.Body);
            if (view.SigningSecret is not null)
            {
                session.Error.WriteLine("The signingSecret in this answer was generated and will not be shown again: store it now.");
            }

            return ExitCodes.Ok;
        }

        session.Console.WriteLine($"Created target '{view.Name}' on {api.WorkerDisplay}.");
        WriteView(session, view);
        if (view.SigningSecret is not null)
        {
            session.Console.WriteLine();
            session.Console.WriteLine($"Signing secret (generated): {view.SigningSecret}");
            session.Console.WriteLine(
                "It will not be shown again: store it now and give it to the partner, who verifies each delivery's " +
                "webhook-signature with it.");
        }

        return ExitCodes.Ok;
    }

    public static async Task<int> UpdateAsync(
        CliSession session, IConfiguration configuration, string? worker, string name, TargetDefinition definition, bool json, CancellationToken cancellationToken)
    {
        var body = definition.Body(updating: name);
        using var api = AdminTargetsApi.Open(configuration, worker, "targets update calls the worker's PUT /admin/targets/{name} (a token with Scope write)");
        var answer = await api.SendAsync(HttpMethod.Put, Path(name), body, cancellationToken);
        if (answer.Status != 200)
        {
            throw Refused(api, answer, "targets update", write: true);
        }

        var view = ReadView(api, answer);
        if (json)
        {
            session.WriteJson(answer.Body);
            return ExitCodes.Ok;
        }

        session.Console.WriteLine($"Updated target '{view.Name}' on {api.WorkerDisplay}.");
        WriteView(session, view);
        return ExitCodes.Ok;
    }

    public static async Task<int> RemoveAsync(
        CliSession session, IConfiguration configuration, string? worker, string name, bool drain, bool discard, CancellationToken cancellationToken)
    {
        if (drain && discard)
        {
            throw CliException.Usage("Give --drain (deliver what is queued, then remove) or --discard (record each as discarded, then remove), not both.");
        }

        using var api = AdminTargetsApi.Open(configuration, worker, "targets remove calls the worker's DELETE /admin/targets/{name} (a token with Scope write)");
        var query = drain ? "?drain=true" : discard ? "?discard=true" : "";
        var answer = await api.SendAsync(HttpMethod.Delete, Path(name) + query, null, cancellationToken);
        switch (answer.Status)
        {
            case 204:
                session.Console.WriteLine($"Removed target '{name}' from {api.WorkerDisplay}: nothing of it was queued or waiting.");
                return ExitCodes.Ok;
            case 202:
                var state = answer.Body is JsonObject view && view["state"] is JsonValue value && value.TryGetValue<string>(out var text)
                    ? text
                    : drain ? "draining" : "discarding";
                var count = answer.Body is JsonObject counted && counted["queued"] is JsonValue number && number.TryGetValue<long>(out var queuedNow)
                    ? $" ({Formats.Plural(queuedNow, "delivery", "deliveries")} then)"
                    : "";
                session.Console.WriteLine(state == "discarding"
                    ? $"Target '{name}' is discarding: each delivery queued or waiting for it{count} is recorded in the delivery ledger as discarded, then the target is removed."
                    : $"Target '{name}' is draining: forwarders deliver what is queued or waiting for it{count}, then the target is removed.");
                session.Console.WriteLine($"Until then it can no longer be changed; 'targets show {name}' shows its state (not found once it is gone).");
                return ExitCodes.Ok;
            case 409 when answer.Queued is { } queued:
                var refused = Refused(api, answer, "targets remove", write: true);
                throw CliException.Failed(
                    refused.Message + Environment.NewLine +
                    $"{Formats.Plural(queued, "delivery is", "deliveries are")} queued or waiting; nothing was removed. Remove it with " +
                    $"'targets remove {name} --drain' (deliver them first) or 'targets remove {name} --discard' (record each as discarded).");
            default:
                throw Refused(api, answer, "targets remove", write: true);
        }
    }

    public static async Task<int> RotateSecretAsync(
        CliSession session, IConfiguration configuration, string? worker, string name, double? overlapHours, string? signingSecret, bool json, CancellationToken cancellationToken)
    {
        using var api = AdminTargetsApi.Open(configuration, worker, "targets rotate-secret calls the worker's POST /admin/targets/{name}/rotate-secret (a token with Scope write)");
        var body = new JsonObject();
        if (signingSecret is not null)
        {
            body["signingSecret"] = signingSecret;
        }

        if (overlapHours is { } hours)
        {
            body["overlapHours"] = hours;
        }

        var answer = await api.SendAsync(HttpMethod.Post, Path(name) + "/rotate-secret", body.ToJsonString(), cancellationToken);
        if (answer.Status != 200)
        {
            throw Refused(api, answer, "targets rotate-secret", write: true);
        }

        var view = ReadView(api, answer);
        if (json)
        {
            session.WriteJson(answer.Body);
            if (signingSecret is null)
            {
                session.Error.WriteLine("The signingSecret in this answer was generated and will not be shown again: store it now.");
            }

            return ExitCodes.Ok;
        }

        if (signingSecret is null)
        {
            session.Console.WriteLine($"New signing secret of target '{view.Name}' (generated): {view.SigningSecret ?? "(not in the answer)"}");
            session.Console.WriteLine("It will not be shown again: store it now and give it to the partner.");
        }
        else
        {
            session.Console.WriteLine($"Target '{view.Name}' signs with the signing secret given (ending {view.SigningSecretLast4}).");
        }

        session.Console.WriteLine(view.PreviousSecretUntil is { } until
            ? $"Until {Formats.Time(until)} each request carries the signatures of both the previous and the new secret " +
              "(webhook-signature); after that, the new secret's only."
            : "No overlap: from now on each request carries the new secret's signature only.");
        return ExitCodes.Ok;
    }

    public static async Task<int> ShowAsync(
        CliSession session, IConfiguration configuration, string? worker, string name, bool json, CancellationToken cancellationToken)
    {
        using var api = AdminTargetsApi.Open(configuration, worker, "targets show calls the worker's GET /admin/targets/{name} (a token with Scope read or write)");
        var answer = await api.SendAsync(HttpMethod.Get, Path(name), null, cancellationToken);
        if (answer.Status != 200)
        {
            throw Refused(api, answer, "targets show", write: false);
        }

        var view = ReadView(api, answer);
        if (json)
        {
            session.WriteJson(answer.Body);
            return ExitCodes.Ok;
        }

        session.Console.WriteLine($"Target '{view.Name}' on {api.WorkerDisplay}.");
        WriteView(session, view);
        return ExitCodes.Ok;
    }

    /// <summary>
    /// <c>targets preview T</c> of a target the configuration file here does not have (or with <c>--worker</c>): the worker
    /// builds the request with its own copy of the target and its secrets, masked.
    /// </summary>
    public static async Task<int> PreviewAsync(
        CliSession session, IConfiguration configuration, string? worker, string name, byte[]? file, string? fileName, CancellationToken cancellationToken)
    {
        using var api = AdminTargetsApi.Open(configuration, worker,
            $"targets preview of '{name}', which {CliSession.TargetsSection} here does not list, calls the worker's POST /admin/targets/{{name}}/preview (a token with Scope write)");
        string? body = null;
        if (file is not null)
        {
            body = System.Text.Encoding.UTF8.GetString(file);
        }

        var answer = await api.SendAsync(HttpMethod.Post, Path(name) + "/preview", body, cancellationToken);
        if (answer.Status != 200)
        {
            if (answer.Status == 404 && answer.Detail is not null)
            {
                throw CliException.Usage($"Unknown target '{name}': neither {CliSession.TargetsSection} here nor the worker at {api.WorkerDisplay} has it (GET /admin/targets lists the worker's).");
            }

            var refused = Refused(api, answer, "targets preview", write: true);
            throw answer.Status == 400 && fileName is not null ? CliException.Usage($"--event {fileName} is not usable: {refused.Message}") : refused;
        }

        PreviewAnswer? preview = null;
        try
        {
            preview = answer.Body?.Deserialize<PreviewAnswer>(JsonOptions);
        }
        catch (JsonException)
        {
            preview = null;
        }

        if (preview is not { Method.Length: > 0, Url.Length: > 0 })
        {
            throw CliException.Failed($"The worker at {api.WorkerDisplay} answered {answer.Status} with something that is not a previewed request.");
        }

        session.Error.WriteLine($"# built by the worker at {api.WorkerDisplay}" + (preview.Note is { } note ? $"; {note}" : "") + "; not sent.");
        // The same text as a preview built here.
        var text = new Forwarding.RequestTemplates.PreviewedRequest(preview.Method, preview.Url, preview.Headers ?? [], preview.Body ?? "").ToText();
        session.Console.Profile.Out.Writer.Write(text);
        session.Console.Profile.Out.Writer.WriteLine();
        return ExitCodes.Ok;
    }

    private sealed record PreviewAnswer(string? Note, string Method, string Url, IReadOnlyList<Forwarding.RequestTemplates.PreviewedHeader>? Headers, string? Body);

    private static string Path(string name) => "targets/" + Uri.EscapeDataString(name);

    /// <summary>
    /// The error of an answer that is not what the verb wanted: the problem's <c>detail</c> and each field of its
    /// <c>errors</c>; 401 and 403 as configuration errors (exit 78) naming <c>Admin:Token</c> and the scope needed.
    /// </summary>
    private static CliException Refused(AdminTargetsApi api, AdminAnswer answer, string verb, bool write)
    {
        var scope = write ? "a token with Scope write" : "a token with Scope read or write";
        switch (answer.Status)
        {
            case 401:
                return CliException.Configuration(
                    $"The worker at {api.WorkerDisplay} refused {StatusSettings.TokenKey} (401): it is not one of the worker's admin tokens. " +
                    $"{verb} needs {scope}: set {StatusSettings.TokenKey} (environment variable Admin__Token) to the worker's Admin:Token, " +
                    "or to one of its Admin:Tokens:N:Token" + (write ? " with Scope write." : "."));
            case 403:
                return CliException.Configuration(
                    $"The worker at {api.WorkerDisplay} accepted {StatusSettings.TokenKey} for reading only (403): {verb} needs {scope}. " +
                    $"Set {StatusSettings.TokenKey} (environment variable Admin__Token) to the worker's Admin:Token or to an " +
                    "Admin:Tokens:N:Token with Scope write." + (answer.Detail is { } forbidden ? $" (The worker: {forbidden})" : ""));
            case 404 when answer.Detail is null:
                return CliException.Failed(
                    $"The worker at {api.WorkerDisplay} ({api.WorkerSource}) has no targets API (404): this is its webhook port rather than " +
                    $"its admin address ({AdminTargetsApi.AdminUrlsKey}, default {AdminTargetsApi.DefaultAdminUrl}), or it runs without an " +
                    "admin token (admin endpoints off), or it is a version without the targets API.");
        }

        var lines = new List<string>
        {
            answer.Detail is { } detail
                ? $"{detail} ({answer.Status} from {api.WorkerDisplay})"
                : $"The worker at {api.WorkerDisplay} answered {answer.Status}" + (answer.Status is >= 200 and < 300 ? $", not what {verb} expects." : "."),
        };
        foreach (var (field, messages) in answer.Errors)
        {
            lines.AddRange(messages.Select(message => $"  {field}: {message}"));
        }

        return CliException.Failed(string.Join(Environment.NewLine, lines));
    }

    private static TargetViewAnswer ReadView(AdminTargetsApi api, AdminAnswer answer)
    {
        TargetViewAnswer? view = null;
        try
        {
            view = answer.Body?.Deserialize<TargetViewAnswer>(JsonOptions);
        }
        catch (JsonException)
        {
            view = null;
        }

        return view is { Name.Length: > 0 }
            ? view
            : throw CliException.Failed($"The worker at {api.WorkerDisplay} answered {answer.Status} with something that is not a target.");
    }

    private static void WriteView(CliSession session, TargetViewAnswer view)
    {
        void Line(string label, string? value) => session.Console.WriteLine($"  {label,-16}{(string.IsNullOrEmpty(value) ? "-" : value)}");

        Line("source", view.Source == "configuration" ? "configuration (the file; read-only through the API)" : view.Source);
        Line("state", view.State);
        Line("url", view.Url);
        Line("mode", view.Mode);
        Line("format", view.Format);
        Line("events", string.Join(", ", view.Events ?? []));
        Line("accounts", view.AllAccounts == true ? "every account" : string.Join(", ", view.Accounts ?? []));
        Line("headers", string.Join(", ", (view.Headers ?? new Dictionary<string, string>()).Select(pair => $"{pair.Key}: {pair.Value}")));
        Line("signing secret", view.SigningSecretLast4);
        Line("auth", TargetAuthLine(view.Auth));
        var path = view.Url?.EndsWith('/') == true && view.Path?.StartsWith('/') == true ? view.Path[1..] : view.Path;
        Line("request", $"{view.Method ?? "POST"} {view.Url}{path}; {view.ContentType ?? "application/json"}");
        Line("template", TemplateLine(view));
        if (view.PreviousSecretUntil is { } until)
        {
            Line("previous secret", $"signs too until {Formats.Time(until)}");
        }

        Line("timeout", view.TimeoutSeconds is { } timeout ? timeout.ToString("0.###", CultureInfo.InvariantCulture) + " s per attempt" : null);
        Line("concurrency", view.MaxConcurrency is { } concurrency ? concurrency.ToString(CultureInfo.InvariantCulture) + " per forwarder" : null);
        if (view.CreatedAt is not null)
        {
            Line("created", $"{Formats.Time(view.CreatedAt)} by {view.CreatedBy ?? "-"}");
        }

        if (view.UpdatedAt is not null)
        {
            Line("updated", $"{Formats.Time(view.UpdatedAt)} by {view.UpdatedBy ?? "-"}");
        }
    }

    /// <summary>The body template in a line: its size and first line (or its file), not the whole of it.</summary>
    private static string TemplateLine(TargetViewAnswer view)
    {
        if (!string.IsNullOrEmpty(view.TemplatePath))
        {
            return $"file {view.TemplatePath}";
        }

        if (string.IsNullOrEmpty(view.Template))
        {
            return "none (the document is sent as it is)";
        }

        var lines = view.Template.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');
        var first = lines.FirstOrDefault(line => line.Trim().Length > 0)?.Trim() ?? "";
        first = first.Length > 60 ? first[..60] + "…" : first;
        return $"inline, {Formats.Plural(view.Template.Length, "character", "characters")}, {Formats.Plural(lines.Length, "line", "lines")}: {first}";
    }

    /// <summary>The <c>auth</c> of a view in a line: the type and its fields, secrets by their last four characters (as answered).</summary>
    private static string TargetAuthLine(JsonObject? auth) =>
        auth is null ? "None" : string.Join(", ", auth.Select(pair => pair.Key == "type" ? pair.Value?.ToString() : $"{pair.Key} {pair.Value}"));

    /// <summary>The fields of the API's <c>TargetView</c> the verbs print (the JSON answer is printed whole with <c>--json</c>).</summary>
    private sealed record TargetViewAnswer(
        string? Name,
        string? Source,
        string? State,
        string? Url,
        IReadOnlyList<string>? Events,
        string? Mode,
        string? Format,
        IReadOnlyList<string>? Accounts,
        bool? AllAccounts,
        IReadOnlyDictionary<string, string>? Headers,
        string? SigningSecretLast4,
        string? SigningSecret,
        JsonObject? Auth,
        string? Template,
        string? TemplatePath,
        string? ContentType,
        string? Method,
        string? Path,
        DateTimeOffset? PreviousSecretUntil,
        double? TimeoutSeconds,
        int? MaxConcurrency,
        DateTimeOffset? CreatedAt,
        string? CreatedBy,
        DateTimeOffset? UpdatedAt,
        string? UpdatedBy);
}
