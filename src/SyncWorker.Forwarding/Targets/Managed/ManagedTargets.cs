using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using SyncWorker.Contracts;
using SyncWorker.Messaging;
using SyncWorker.Store;
using SyncWorker.Store.Audit;
using SyncWorker.Store.Targets;

namespace SyncWorker.Forwarding.Targets.Managed;

/// <summary>What became of a change asked of <see cref="ManagedTargets"/>.</summary>
public enum TargetChangeOutcome
{
    /// <summary>Created (201).</summary>
    Created,

    /// <summary>Replaced, rotated, or listed (200).</summary>
    Done,

    /// <summary>Removed at once (204).</summary>
    Removed,

    /// <summary>Removal accepted: draining or discarding first (202).</summary>
    Accepted,

    /// <summary>The input is invalid (400, with the fields).</summary>
    Invalid,

    /// <summary>
    /// The input is well-formed but a template is broken: it does not parse, or fails with the example order (a render
    /// error, a body that is not valid JSON for a JSON content type, a URL not allowed): 422, with the field and position.
    /// </summary>
    Unprocessable,

    /// <summary>No such target (404).</summary>
    NotFound,

    /// <summary>In conflict with what exists: a name in use, a file's target, queued deliveries, a target being removed (409).</summary>
    Conflict,

    /// <summary>The store (or its encryption key) cannot serve the change now (503).</summary>
    Unavailable,
}

/// <summary>A change's result: the outcome, the target as it now is, and what was wrong.</summary>
/// <param name="Outcome">What became of it.</param>
/// <param name="Target">The target, when there is one to show.</param>
/// <param name="Detail">Why not, in words that say what to do.</param>
/// <param name="Errors">Invalid fields (JSON paths) and what is wrong with each.</param>
/// <param name="Queued">Deliveries still queued or waiting, for a refused or accepted removal.</param>
/// <param name="Position">For <see cref="TargetChangeOutcome.Unprocessable"/>: where the first broken template fails, when known.</param>
public sealed record TargetChange(
    TargetChangeOutcome Outcome,
    TargetView? Target = null,
    string? Detail = null,
    IDictionary<string, string[]>? Errors = null,
    long? Queued = null,
    TemplateErrorPosition? Position = null);

/// <summary>Where a broken template fails: the field (<c>template</c> or <c>path</c>), the line and column, and of what.</summary>
/// <param name="Field">The API's field.</param>
/// <param name="Line">The line, from 1.</param>
/// <param name="Column">The column, from 1.</param>
/// <param name="In"><c>template</c> (a place in the template's text) or <c>output</c> (in the rendered body, when it is not valid JSON).</param>
public sealed record TemplateErrorPosition(string Field, int? Line, int? Column, string In);

/// <summary>
/// Targets managed at run time: the service behind <c>/admin/targets</c> (and the <c>targets add|update|remove</c> verbs,
/// which call it over HTTP). Input is checked exactly as <c>Fulfillment:Targets</c> is at start (manifest connect-src and
/// permissions, name rules, secret format, mode, https for live targets in Production, the Stripe key an order target's
/// mode needs), plus <c>accounts</c> or an explicit <c>allAccounts</c>. Secrets are sealed with <c>Store:EncryptionKey</c>
/// before they reach the store and never shown again. Every change is written to the audit log with the actor (the
/// admin token's name) and applied to this instance's <see cref="TargetRegistry"/> at once; the other forwarders read
/// it from the store within <see cref="ManagedTargetRefresher.PollInterval"/>.
/// </summary>
public sealed partial class ManagedTargets(
    TargetRegistry registry,
    SqlTargetStore store,
    AuditLog audit,
    FulfillmentOptionsValidation validation,
    ManagedTargetRefresher refresher,
    IConfiguration configuration,
    TimeProvider time,
    ILogger<ManagedTargets> logger,
    BrokerAdmin? broker = null)
{
    /// <summary>Default of <c>Targets:SecretOverlapHours</c>: how long a rotated-out secret still signs.</summary>
    public const double DefaultSecretOverlapHours = 24;

    private const string Key = "@target";

    /// <summary>JSON as the admin API reads and writes it (camelCase, web defaults).</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary><c>Targets:SecretOverlapHours</c> (0 to 720, default 24).</summary>
    public TimeSpan SecretOverlap => TimeSpan.FromHours(double.TryParse(configuration["Targets:SecretOverlapHours"], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var hours) && hours is >= 0 and <= 720 ? hours : DefaultSecretOverlapHours);

    /// <summary>Every target: the configuration file's, then those of the API.</summary>
    public IReadOnlyList<TargetView> List() => registry.Routes.Select(route => View(route)).ToList();

    /// <summary>The target called <paramref name="name"/>, or null.</summary>
    public TargetView? Get(string name) => registry.Find(name) is { } route ? View(route) : null;

    /// <summary>Creates a target from <paramref name="document"/>.</summary>
    public async Task<TargetChange> CreateAsync(TargetDocument document, string actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(document);
        if (!store.CanSeal)
        {
            return NoKey();
        }

        var generated = string.IsNullOrEmpty(document.SigningSecret);
        var secrets = new TargetSecrets
        {
            SigningSecret = generated ? NewSecret() : document.SigningSecret!,
            Headers = (document.Headers ?? []).Where(pair => pair.Value is not null).ToDictionary(pair => pair.Key, pair => pair.Value!),
            Auth = ManagedTargetAuth.Secrets(document.Auth, null),
        };
        if (document.Headers?.Any(pair => pair.Value is null) == true)
        {
            return Invalid("headers", "A header's value is null: give every header a value (null keeps a stored value only in a PUT).");
        }

        var (options, errors) = Compile(document, document.Name, secrets);
        if (errors is not null)
        {
            return errors;
        }

        if (registry.IsConfigured(options.Name))
        {
            return new TargetChange(TargetChangeOutcome.Conflict, Detail: $"The name '{options.Name}' is used by a target of the configuration file (Fulfillment:Targets): choose another name.");
        }

        if (await NoRoomAsync(cancellationToken) is { } full)
        {
            return new TargetChange(TargetChangeOutcome.Conflict, Detail: full);
        }

        try
        {
            if (!await store.CreateAsync(options.Name, Definition(options, document.AllAccounts == true), Serialize(secrets), actor, cancellationToken))
            {
                var existing = await store.GetAsync(options.Name, cancellationToken);
                return new TargetChange(TargetChangeOutcome.Conflict, Detail: existing?.State is StoredTargetStates.Draining or StoredTargetStates.Discarding
                    ? $"A target named '{options.Name}' is being removed ({existing.State}): wait until it is gone, or choose another name."
                    : $"A target named '{options.Name}' exists: change it with PUT /admin/targets/{options.Name}, or choose another name.");
            }

            await audit.RecordAsync(actor, "targets.create", options.Name, Describe(options), cancellationToken);
        }
        catch (StoreUnavailableException exception)
        {
            return Unavailable(exception.Message);
        }

        // The answer shows the target even when the store cannot be read back now: a generated secret is shown only here.
        var now = time.GetUtcNow();
        var route = await RefreshedAsync(options.Name, cancellationToken)
            ?? new TargetRoute(options, new ManagedTargetState(StoredTargetStates.Active, 1, null, null, now, actor, now, actor));
        LogChanged(logger, options.Name, "created", actor);
        return new TargetChange(TargetChangeOutcome.Created, View(route, generated ? secrets.SigningSecret : null));
    }

    /// <summary>
    /// Why one more target would not be consumed, or null: every forwarder consumes each target on a channel of its bus
    /// connection, and the broker grants the lower of <c>RabbitMq:ChannelMax</c> and its <c>channel_max</c>.
    /// </summary>
    private async Task<string?> NoRoomAsync(CancellationToken cancellationToken)
    {
        if (broker is null)
        {
            return null;
        }

        // While the broker cannot be asked, the requested limit judges; the endpoint supervisor says more if needed.
        var channels = await broker.ChannelLimitAsync(cancellationToken);
        var targets = registry.Routes.Count;
        return targets < channels.Capacity
            ? null
            : $"No room for another target: each forwarder consumes every target on a channel of its own and {channels.Limit}, room for " +
              $"{channels.Capacity} targets; there are {targets}. {channels.Fix(targets + 1)} on every forwarder's broker, or remove targets " +
              "no longer used (README 'Sizing').";
    }

    /// <summary>Replaces the target called <paramref name="name"/> with <paramref name="document"/> (a PUT).</summary>
    public async Task<TargetChange> ReplaceAsync(string name, TargetDocument document, string actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(document);
        if (registry.IsConfigured(name))
        {
            return ReadOnly(name);
        }

        if (!store.CanSeal)
        {
            return NoKey();
        }

        if (document.Name is { } given && given != name)
        {
            return Invalid("name", $"The body names '{given}' but the path '{name}': a target cannot be renamed; create one with the new name and remove this one.");
        }

        TargetSecrets current;
        try
        {
            var (_, opened, refusal) = await ChangeableAsync(name, cancellationToken);
            if (refusal is not null)
            {
                return refusal;
            }

            current = opened!;
        }
        catch (StoreUnavailableException exception)
        {
            return Unavailable(exception.Message);
        }

        var secrets = new TargetSecrets
        {
            SigningSecret = string.IsNullOrEmpty(document.SigningSecret) ? current.SigningSecret : document.SigningSecret,
            PreviousSigningSecret = current.PreviousSigningSecret,
            PreviousUntil = current.PreviousUntil,
            Auth = ManagedTargetAuth.Secrets(document.Auth, current.Auth),
        };
        foreach (var (header, value) in document.Headers ?? [])
        {
            if (value is not null)
            {
                secrets.Headers[header] = value;
            }
            else if (current.Headers.TryGetValue(header, out var kept))
            {
                secrets.Headers[header] = kept;
            }
            else
            {
                return Invalid($"headers.{header}", $"The header '{header}' has no stored value to keep: give its value.");
            }
        }

        var (options, errors) = Compile(document, name, secrets);
        if (errors is not null)
        {
            return errors;
        }

        try
        {
            if (!await store.ReplaceAsync(name, Definition(options, document.AllAccounts == true), Serialize(secrets), actor, cancellationToken))
            {
                return NotFound(name);
            }

            await audit.RecordAsync(actor, "targets.update", name, Describe(options), cancellationToken);
        }
        catch (StoreUnavailableException exception)
        {
            return Unavailable(exception.Message);
        }

        var route = await RefreshedAsync(name, cancellationToken);
        LogChanged(logger, name, "replaced", actor);
        return new TargetChange(TargetChangeOutcome.Done, route is null ? null : View(route));
    }

    /// <summary>
    /// Removes the target called <paramref name="name"/>: at once when nothing of it is queued or waiting; with
    /// <paramref name="drain"/> after delivering what is; with <paramref name="discard"/> after ending that as discarded.
    /// </summary>
    public async Task<TargetChange> RemoveAsync(string name, bool drain, bool discard, string actor, CancellationToken cancellationToken)
    {
        if (registry.IsConfigured(name))
        {
            return ReadOnly(name);
        }

        if (drain && discard)
        {
            return Invalid("drain", "Give drain=true or discard=true, not both.");
        }

        try
        {
            var stored = await store.GetAsync(name, cancellationToken);
            if (stored is null)
            {
                return NotFound(name);
            }

            var queued = await QueuedAsync(name, cancellationToken);
            if (queued == 0 && stored.State == StoredTargetStates.Active)
            {
                if (!await store.ChangeStateAsync(name, StoredTargetStates.Removed, [StoredTargetStates.Active], actor, cancellationToken))
                {
                    return NotFound(name);
                }

                await audit.RecordAsync(actor, "targets.remove", name, "removed; nothing was queued", cancellationToken);
                await RefreshedAsync(name, cancellationToken);
                LogChanged(logger, name, "removed", actor);
                return new TargetChange(TargetChangeOutcome.Removed, Queued: 0);
            }

            if (!drain && !discard)
            {
                return new TargetChange(TargetChangeOutcome.Conflict, Queued: queued, Detail: stored.State == StoredTargetStates.Active
                    ? $"Target '{name}' still has {queued} deliveries queued or waiting for a redelivery: remove it with ?drain=true (deliver them first) or ?discard=true (record each as discarded)."
                    : $"Target '{name}' is already being removed ({stored.State}); {queued} deliveries are left.");
            }

            var state = drain ? StoredTargetStates.Draining : StoredTargetStates.Discarding;
            if (!await store.ChangeStateAsync(name, state, [StoredTargetStates.Active, StoredTargetStates.Draining, StoredTargetStates.Discarding], actor, cancellationToken))
            {
                return NotFound(name);
            }

            await audit.RecordAsync(actor, drain ? "targets.drain" : "targets.discard", name, $"{queued} deliveries queued or waiting", cancellationToken);
            var route = await RefreshedAsync(name, cancellationToken);
            LogChanged(logger, name, state, actor);
            return new TargetChange(TargetChangeOutcome.Accepted, route is null ? null : View(route) with { Queued = queued }, Queued: queued);
        }
        catch (StoreUnavailableException exception)
        {
            return Unavailable(exception.Message);
        }
    }

    /// <summary>
    /// Gives the target a new signing secret (<paramref name="request"/>'s, or a generated one, returned once); for the
    /// overlap, requests carry the signatures of both secrets.
    /// </summary>
    public async Task<TargetChange> RotateSecretAsync(string name, RotateSecretRequest request, string actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (registry.IsConfigured(name))
        {
            return ReadOnly(name);
        }

        if (!store.CanSeal)
        {
            return NoKey();
        }

        if (request.OverlapHours is { } hours && !(hours is >= 0 and <= 720))
        {
            return Invalid("overlapHours", "overlapHours must be between 0 and 720.");
        }

        var secret = string.IsNullOrEmpty(request.SigningSecret) ? NewSecret() : request.SigningSecret;
        if (!Delivery.StandardWebhookSigner.TryParseSecret(secret, out _, out var secretError))
        {
            return Invalid("signingSecret", $"signingSecret {secretError}");
        }

        try
        {
            var (stored, secrets, refusal) = await ChangeableAsync(name, cancellationToken);
            if (refusal is not null)
            {
                return refusal;
            }

            var overlap = request.OverlapHours is { } given ? TimeSpan.FromHours(given) : SecretOverlap;
            secrets!.PreviousSigningSecret = overlap > TimeSpan.Zero ? secrets.SigningSecret : null;
            secrets.PreviousUntil = overlap > TimeSpan.Zero ? time.GetUtcNow() + overlap : null;
            secrets.SigningSecret = secret;
            if (!await store.ReplaceAsync(name, stored!.Definition, Serialize(secrets!), actor, cancellationToken))
            {
                return NotFound(name);
            }

            await audit.RecordAsync(actor, "targets.rotate-secret", name,
                overlap > TimeSpan.Zero ? $"new signing secret; the previous one signs too until {secrets.PreviousUntil:O}" : "new signing secret; no overlap", cancellationToken);
            var route = await RefreshedAsync(name, cancellationToken);
            LogChanged(logger, name, "given a new signing secret", actor);
            return new TargetChange(TargetChangeOutcome.Done, route is null ? null : View(route, secret));
        }
        catch (StoreUnavailableException exception)
        {
            return Unavailable(exception.Message);
        }
    }

    /// <summary>
    /// This instance's route of <paramref name="name"/> after reading the store again; the route it had when the store
    /// cannot be read now (the change is stored; every forwarder picks it up on its next read).
    /// </summary>
    private async Task<TargetRoute?> RefreshedAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            return await refresher.RefreshAsync(name, cancellationToken);
        }
        catch (Exception exception) when (exception is StoreUnavailableException or SecretBoxException)
        {
            return registry.Find(name);
        }
    }

    /// <summary>The stored target and its secrets when it may be changed; else the answer that says why not.</summary>
    private async Task<(StoredTarget? Stored, TargetSecrets? Secrets, TargetChange? Refusal)> ChangeableAsync(string name, CancellationToken cancellationToken)
    {
        var stored = await store.GetAsync(name, cancellationToken);
        if (stored is null)
        {
            return (null, null, NotFound(name));
        }

        if (stored.State != StoredTargetStates.Active)
        {
            return (null, null, new TargetChange(TargetChangeOutcome.Conflict, Detail: $"Target '{name}' is being removed ({stored.State}): it can no longer be changed."));
        }

        return stored.Secrets is null
            ? (null, null, Unavailable(stored.Unreadable ?? $"The secrets of target '{name}' cannot be read."))
            : (stored, JsonSerializer.Deserialize<TargetSecrets>(stored.Secrets, Json)!, null);
    }

    /// <summary>Deliveries of <paramref name="name"/> ready in its queue plus those the ledger has not ended.</summary>
    internal async Task<long> QueuedAsync(string name, CancellationToken cancellationToken)
    {
        long ready = 0;
        var queue = Topology.TargetQueue(name);
        if (broker is not null && await broker.TryFindAsync(queue, cancellationToken))
        {
            ready = await broker.ReadyCountAsync(queue, cancellationToken) ?? 0;
        }

        return ready + await store.OpenDeliveriesAsync(name, cancellationToken);
    }

    /// <summary>The stored target compiled into a route; null (and logged) when it cannot be.</summary>
    internal static TargetRoute? ToRoute(StoredTarget stored)
    {
        if (stored.Secrets is null)
        {
            return null;
        }

        var options = JsonSerializer.Deserialize<TargetOptions>(stored.Definition, Json)!;
        var secrets = JsonSerializer.Deserialize<TargetSecrets>(stored.Secrets, Json)!;
        options.SigningSecret = secrets.SigningSecret;
        options.Headers = new Dictionary<string, string>(secrets.Headers);
        options.Auth = ManagedTargetAuth.Compile(options.Auth, secrets.Auth);
        return new TargetRoute(options, new ManagedTargetState(
            stored.State, stored.Revision, secrets.PreviousSigningSecret, secrets.PreviousUntil,
            stored.CreatedAt, stored.CreatedBy, stored.UpdatedAt, stored.UpdatedBy));
    }

    /// <summary>
    /// The target <paramref name="document"/> describes, checked as <c>Fulfillment:Targets</c> is; else the refusal: 422
    /// when every message is about a broken template (the rest of the target is valid), 400 otherwise (all messages).
    /// </summary>
    private (TargetOptions Options, TargetChange? Refusal) Compile(TargetDocument document, string? name, TargetSecrets secrets)
    {
        var defaults = new TargetOptions();
        var options = new TargetOptions
        {
            Name = name ?? "",
            Url = document.Url ?? "",
            Events = document.Events ?? [],
            Mode = document.Mode,
            Format = document.Format ?? TargetOptions.OrderFormat,
            Accounts = document.Accounts ?? [],
            SigningSecret = secrets.SigningSecret,
            Headers = secrets.Headers,
            Auth = ManagedTargetAuth.Compile(document.Auth, secrets.Auth),
            Template = string.IsNullOrEmpty(document.Template) ? null : document.Template,
            ContentType = string.IsNullOrWhiteSpace(document.ContentType) ? null : document.ContentType,
            Method = string.IsNullOrWhiteSpace(document.Method) ? null : document.Method.Trim().ToUpperInvariant(),
            Path = string.IsNullOrEmpty(document.Path) ? null : document.Path,
            TimeoutSeconds = document.TimeoutSeconds ?? defaults.TimeoutSeconds,
            MaxConcurrency = document.MaxConcurrency ?? defaults.MaxConcurrency,
            Retry = document.Retry ?? new TargetRetryOptions(),
            CircuitBreaker = document.CircuitBreaker ?? new TargetCircuitBreakerOptions(),
            Redelivery = document.Redelivery ?? new TargetRedeliveryOptions(),
            RateLimit = document.RateLimit ?? new TargetRateLimitOptions(),
            DisableAfterHours = document.DisableAfterHours ?? defaults.DisableAfterHours,
        };
        var messages = validation.ValidateOne(options, Key).Concat(validation.ValidateStripeKeys([options])).ToList();
        if (document.AllAccounts == true && options.Accounts.Count > 0)
        {
            messages.Add($"{Key}:AllAccounts is true while {Key}:Accounts lists accounts: give one of them.");
        }
        else if (document.AllAccounts != true && options.Accounts.Count == 0)
        {
            messages.Add($"{Key}:Accounts is empty: list the merchant accounts (acct_…) the target serves, or say \"allAccounts\": true for a target of every account.");
        }

        if (messages.Count == 0)
        {
            return (options, null);
        }

        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        foreach (var message in messages)
        {
            var (field, text) = Rename(message);
            errors[field] = errors.TryGetValue(field, out var earlier) ? [.. earlier, text] : [text];
        }

        if (messages.All(RequestTemplates.TargetRequestValidation.IsBrokenTemplate))
        {
            var (field, text) = Rename(messages[0]);
            var position = PositionOf(field, text);
            var where = position.Line is { } line ? $" at line {line}, column {position.Column} of the {position.In}" : "";
            return (options, new TargetChange(TargetChangeOutcome.Unprocessable, Errors: errors, Position: position,
                Detail: $"The target's {field} does not work with the example order{where}: see errors; correct it and send the target again."));
        }

        return (options, new TargetChange(TargetChangeOutcome.Invalid, Errors: errors, Detail: "The target is not valid: see errors."));
    }

    /// <summary>The field and the first line and column <paramref name="message"/> names (of the output when it says so).</summary>
    private static TemplateErrorPosition PositionOf(string field, string message)
    {
        var match = LineColumn().Match(message);
        return match.Success
            ? new TemplateErrorPosition(field,
                int.Parse(match.Groups["line"].Value, System.Globalization.CultureInfo.InvariantCulture),
                int.Parse(match.Groups["column"].Value, System.Globalization.CultureInfo.InvariantCulture),
                match.Groups["output"].Success ? "output" : "template")
            : new TemplateErrorPosition(field, null, null, "template");
    }

    /// <summary>A validation message with the configuration's field paths renamed to the API's JSON paths; the first path names the field.</summary>
    private static (string Field, string Message) Rename(string message)
    {
        string? first = null;
        var text = FieldPath().Replace(message, match =>
        {
            var path = match.Groups[1].Value;
            var parts = path.Split(':', StringSplitOptions.RemoveEmptyEntries);
            var json = parts.Length == 0 ? "target" : string.Join(".", parts.Select((part, i) =>
                i > 0 && parts[i - 1] == "Headers" ? part : char.IsDigit(part[0]) ? part : char.ToLowerInvariant(part[0]) + part[1..]));
            json = NumberedPath().Replace(json, "[$1]");
            if (json != "target")
            {
                first ??= json;
            }

            return json;
        });
        text = ConfiguredLabel().Replace(text, "the target");
        return (first ?? "target", text);
    }

    private TargetView View(TargetRoute route, string? fullSecret = null)
    {
        var options = route.Options;
        var managed = route.Managed;
        return new TargetView
        {
            Name = options.Name,
            Source = managed is null ? "configuration" : "api",
            State = managed?.State ?? StoredTargetStates.Active,
            Url = options.Url,
            Events = options.Events,
            Mode = (options.Mode ?? "").ToLowerInvariant(),
            Format = options.Format,
            Accounts = options.Accounts,
            AllAccounts = options.Accounts.Count == 0,
            Headers = (options.Headers ?? []).ToDictionary(pair => pair.Key, pair => Last4(pair.Value)),
            SigningSecretLast4 = Last4(options.SigningSecret),
            Auth = ManagedTargetAuth.View(options.Auth),
            Template = string.IsNullOrEmpty(options.Template) ? null : options.Template,
            TemplatePath = string.IsNullOrWhiteSpace(options.TemplatePath) ? null : options.TemplatePath,
            ContentType = options.ContentType,
            Method = options.Method,
            Path = options.Path,
            SigningSecret = fullSecret,
            PreviousSecretUntil = managed?.PreviousUntil is { } until && until > time.GetUtcNow() ? until : null,
            TimeoutSeconds = options.TimeoutSeconds,
            MaxConcurrency = options.MaxConcurrency,
            Retry = options.Retry,
            CircuitBreaker = options.CircuitBreaker,
            Redelivery = options.Redelivery,
            RateLimit = options.RateLimit,
            DisableAfterHours = options.DisableAfterHours,
            CreatedAt = managed?.CreatedAt,
            CreatedBy = managed?.CreatedBy,
            UpdatedAt = managed?.UpdatedAt,
            UpdatedBy = managed?.UpdatedBy,
        };
    }

    /// <summary>The last four characters behind an ellipsis (<c>…abcd</c>); nothing of a value shorter than 12.</summary>
    internal static string Last4(string? value) => value is { Length: >= 12 } ? "…" + value[^4..] : "…";

    private static string Definition(TargetOptions options, bool allAccounts)
    {
        var copy = JsonSerializer.Deserialize<TargetOptions>(JsonSerializer.Serialize(options, Json), Json)!;
        copy.SigningSecret = "";
        copy.Headers = [];
        copy.Auth = ManagedTargetAuth.WithoutSecrets(copy.Auth);
        if (allAccounts)
        {
            copy.Accounts = [];
        }

        return JsonSerializer.Serialize(copy, Json);
    }

    private static string Serialize(TargetSecrets secrets) => JsonSerializer.Serialize(secrets, Json);

    private static string Describe(TargetOptions options) =>
        $"{options.Mode} {options.Format} target to {new Uri(options.Url).GetLeftPart(UriPartial.Authority)}; events {string.Join(", ", options.Events)}; accounts {(options.Accounts.Count == 0 ? "all" : string.Join(", ", options.Accounts))}; headers {string.Join(", ", options.Headers.Keys)}" +
        $"; request {options.Method ?? "POST"}{(string.IsNullOrEmpty(options.Path) ? "" : " " + options.Path)}, {(string.IsNullOrEmpty(options.Template) ? "no template" : $"template ({options.Template.Length} characters)")}" +
        $"{(string.IsNullOrWhiteSpace(options.ContentType) ? "" : ", " + options.ContentType)}; auth {options.Auth?.Kind ?? TargetAuthOptions.None}";

    /// <summary>A new Standard Webhooks secret: <c>whsec_</c> and 32 random bytes in base64.</summary>
    private static string NewSecret() => Delivery.StandardWebhookSigner.SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    private static TargetChange Invalid(string field, string message) =>
        new(TargetChangeOutcome.Invalid, Errors: new Dictionary<string, string[]> { [field] = [message] }, Detail: "The request is not valid: see errors.");

    private static TargetChange NotFound(string name) =>
        new(TargetChangeOutcome.NotFound, Detail: $"No target is named '{name}': GET /admin/targets lists them.");

    private static TargetChange ReadOnly(string name) =>
        new(TargetChangeOutcome.Conflict, Detail: $"Target '{name}' comes from the configuration file (Fulfillment:Targets) and is read-only here: change it in the configuration and restart.");

    private static TargetChange NoKey() =>
        new(TargetChangeOutcome.Unavailable, Detail: "No encryption key is configured for target secrets: set Store:EncryptionKey (32 random bytes in base64, e.g. `openssl rand -base64 32`) or Store:EncryptionKeyFile on every SyncWorker sharing the store, and restart.");

    private static TargetChange Unavailable(string message) =>
        new(TargetChangeOutcome.Unavailable, Detail: message + " Try again later; see /health/ready.");

    [GeneratedRegex(@"@target((?::[^\s:()',]+)*)")]
    private static partial Regex FieldPath();

    [GeneratedRegex(@"\.(\d+)")]
    private static partial Regex NumberedPath();

    [GeneratedRegex(@"line (?<line>\d+), column (?<column>\d+)(?<output> of the output)?", RegexOptions.CultureInvariant)]
    private static partial Regex LineColumn();

    [GeneratedRegex(@"Fulfillment:Targets:\d+ \('[^']*'\)|Fulfillment:Targets:\d+")]
    private static partial Regex ConfiguredLabel();

    [LoggerMessage(EventId = 2311, Level = LogLevel.Information, Message = "Target {Target} was {Change} through the admin API by {Actor}")]
    private static partial void LogChanged(ILogger logger, string target, string change, string actor);
}
