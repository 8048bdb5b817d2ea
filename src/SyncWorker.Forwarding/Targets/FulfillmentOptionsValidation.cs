using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Manifest;

namespace SyncWorker.Forwarding.Targets;

/// <summary>
/// Start-up validation of <c>Fulfillment:Targets</c> against the manifest: every message names the target's key, the
/// target and the fix; no secret or header value is ever part of one. In the Production environment a live target's
/// <c>Url</c> must be https, unless its host is a loopback address (a sidecar or local proxy on the same machine).
/// </summary>
public sealed partial class FulfillmentOptionsValidation(
    AppManifest manifest,
    PermissionPolicy policy,
    IOptions<StripeApiOptions> stripeApi,
    IHostEnvironment environment,
    SyncWorker.Messaging.MessagingTransport? transport = null,
    IOptions<TargetTemplatesOptions>? templates = null) : IValidateOptions<FulfillmentOptions>
{
    private readonly ConnectSrcPolicy _connectSrc = new(manifest);

    public ValidateOptionsResult Validate(string? name, FulfillmentOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < options.Targets.Count; i++)
        {
            var target = options.Targets[i];
            var key = $"Fulfillment:Targets:{i}";
            errors.AddRange(ValidateOne(target, key));
            if (!string.IsNullOrWhiteSpace(target.Name) && NamePattern().IsMatch(target.Name) && !names.TryAdd(target.Name, i))
            {
                errors.Add($"{key}:Name '{target.Name}' is already used by Fulfillment:Targets:{names[target.Name]}: target names must be unique.");
            }
        }

        errors.AddRange(ValidateStripeKeys(options.Targets));
        if (transport is { IsInMemory: false } && options.Targets.Count > SyncWorker.Messaging.RabbitMqClusterSettings.TargetCapacity(transport.ChannelMax))
        {
            // Each target's consumer holds a channel of the forwarder's bus connection.
            var needed = options.Targets.Count + SyncWorker.Messaging.RabbitMqClusterSettings.ReservedChannels;
            errors.Add($"Fulfillment:Targets has {options.Targets.Count} targets, more than one forwarder can consume with " +
                $"{SyncWorker.Messaging.RabbitMqClusterSettings.ChannelMaxKey} {transport.ChannelMax} (room for " +
                $"{SyncWorker.Messaging.RabbitMqClusterSettings.TargetCapacity(transport.ChannelMax)}: each target's consumer holds a channel of " +
                $"the bus connection). Set {SyncWorker.Messaging.RabbitMqClusterSettings.ChannelMaxKey} and the broker's channel_max (rabbitmq.conf) " +
                $"to at least {needed} (README 'Sizing').");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>
    /// Every check of one target but the uniqueness of its name and the Stripe keys its mode needs: name rules, Url (and
    /// the manifest's connect-src, https for live in Production), Mode, Events (permitted by the manifest), Format,
    /// Accounts, delivery settings and redelivery. <paramref name="key"/> prefixes every field named in a message
    /// (<c>Fulfillment:Targets:0</c>; the admin API passes its own and renames the fields).
    /// </summary>
    internal IEnumerable<string> ValidateOne(TargetOptions target, string key)
    {
        var errors = new List<string>();
        var label = string.IsNullOrWhiteSpace(target.Name) ? key : $"{key} ('{target.Name}')";
        if (string.IsNullOrWhiteSpace(target.Name))
        {
            errors.Add($"{key}:Name is required: a short unique name such as 'warehouse' (lower-case letters, digits, dashes); it names the target's queue.");
        }
        else if (!NamePattern().IsMatch(target.Name))
        {
            errors.Add($"{key}:Name '{target.Name}' is not allowed: use 1 to 48 lower-case letters, digits and dashes, starting with a letter or digit (it becomes the queue name {Contracts.Topology.TargetQueue("<name>")}).");
        }

        ValidateUrl(target, key, label, errors);
        ValidateMode(target, key, errors);
        ValidateEvents(target, key, label, errors);

        if (target.Format is not (TargetOptions.OrderFormat or TargetOptions.EventFormat))
        {
            errors.Add($"{key}:Format must be 'order' (the order document) or 'event' (the raw Stripe event); got '{target.Format}'.");
        }

        for (var a = 0; a < (target.Accounts?.Count ?? 0); a++)
        {
            if (string.IsNullOrWhiteSpace(target.Accounts![a]) || !target.Accounts[a].StartsWith("acct_", StringComparison.Ordinal))
            {
                errors.Add($"{key}:Accounts:{a} must be a Stripe account id (acct_…); got '{target.Accounts[a]}'. Leave Accounts empty to serve every installing account.");
            }
        }

        errors.AddRange(HttpTargetSender.ValidateTarget(target, key));
        errors.AddRange(TargetAuthValidation.Validate(target, key, _connectSrc, environment.IsProduction(), manifest.SourcePath));
        errors.AddRange(RequestTemplates.TargetRequestValidation.Validate(target, key, label, templates?.Value ?? new TargetTemplatesOptions(), manifest));
        errors.AddRange(TargetRateLimitValidation.Validate(target, key));
        errors.AddRange(Health.TargetDisableValidation.Validate(target, key));
        ValidateRedelivery(target, key, errors);
        return errors;
    }

    /// <summary>What the Stripe keys miss for <paramref name="targets"/> (order targets need their mode's key).</summary>
    internal IEnumerable<string> ValidateStripeKeys(IReadOnlyList<TargetOptions> targets) =>
        targets.Any(target => target.Format == TargetOptions.OrderFormat)
            ? StripeApiOptionsValidation.Validate(stripeApi.Value, targets)
            : [];

    private void ValidateUrl(TargetOptions target, string key, string label, List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(target.Url))
        {
            errors.Add($"{key}:Url is required: the partner's endpoint, for example https://fulfillment.example.com/webhooks/stripe-orders.");
            return;
        }

        var parsed = Uri.TryCreate(target.Url, UriKind.Absolute, out var url);
        if (parsed && !string.IsNullOrEmpty(url!.UserInfo))
        {
            errors.Add($"{key}:Url contains credentials (user:password@…), which are not allowed in a target URL and are not shown here: put the partner's credentials in {key}:Headers instead.");
            return;
        }

        if (!parsed || url!.Scheme is not ("https" or "http"))
        {
            // Not echoed: a malformed URL may still hold credentials.
            errors.Add($"{key}:Url must be an absolute http or https URL, for example https://fulfillment.example.com/webhooks/stripe-orders (the value given is not shown).");
            return;
        }

        if (url.Scheme == Uri.UriSchemeHttp && target.IsLive && environment.IsProduction() && !IsLoopback(url))
        {
            errors.Add(
                $"{key}:Url uses http://{url.Authority}, but '{target.Name}' is a live target (Mode live) and this is the Production environment: " +
                "live customer data goes over HTTPS only. Use the partner's https:// URL (listed in the manifest's connect-src), or " +
                $"set {key}:Mode to test for a test-mode partner; in Production, http:// is allowed only to a loopback host " +
                "(localhost, 127.0.0.0/8, ::1).");
        }

        if (!_connectSrc.Allows(url))
        {
            errors.Add(
                $"{label} sends to {url.AbsoluteUri} ({key}:Url), which the manifest {manifest.SourcePath} does not allow: " +
                "add that URL, or a folder URL ending in '/' above it, to ui_extension.content_security_policy.connect-src " +
                "(merchants' data goes nowhere the manifest does not list), or correct the target's Url.");
        }
    }

    /// <summary>
    /// True for <c>localhost</c> and literal loopback addresses (127.0.0.0/8, <c>::1</c>); names that merely resolve to one
    /// (<c>127.0.0.1.nip.io</c>) are not, since what they resolve to can change.
    /// </summary>
    private static bool IsLoopback(Uri url) =>
        string.Equals(url.IdnHost, "localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(url.IdnHost, out var address) && IPAddress.IsLoopback(address));

    private static void ValidateMode(TargetOptions target, string key, List<string> errors)
    {
        if (target.Mode is null || !(target.Mode.Equals("live", StringComparison.OrdinalIgnoreCase) || target.Mode.Equals("test", StringComparison.OrdinalIgnoreCase)))
        {
            errors.Add(
                $"{key}:Mode must be 'live' or 'test'{(target.Mode is null ? " and has no default" : $" (got '{target.Mode}')")}: " +
                "a live target receives only live-mode events, a test target only test-mode events.");
        }
    }

    private void ValidateEvents(TargetOptions target, string key, string label, List<string> errors)
    {
        if (target.Events.Count == 0)
        {
            errors.Add($"{key}:Events is empty: list the event types the target wants, for example checkout.session.completed and checkout.session.async_payment_succeeded, or checkout.session.*.");
            return;
        }

        for (var e = 0; e < target.Events.Count; e++)
        {
            var text = target.Events[e];
            if (string.IsNullOrWhiteSpace(text))
            {
                errors.Add($"{key}:Events:{e} is empty.");
                continue;
            }

            var pattern = new EventPattern(text);
            if (!pattern.IsWildcard)
            {
                var decision = policy.Evaluate(pattern.Text);
                if (!decision.IsAllowed)
                {
                    errors.Add($"{label} subscribes to '{pattern.Text}' ({key}:Events:{e}), which the app can never receive: {decision.Detail}");
                }
            }
            else if (!policy.PermittedEventTypes.Any(pattern.Matches))
            {
                errors.Add(
                    $"{label} subscribes to '{pattern.Text}' ({key}:Events:{e}), which matches no event type the manifest {manifest.SourcePath} permits: " +
                    "grant the permission those events need in the manifest, or remove the pattern.");
            }
        }

        // Refunds and disputes wait for the order's order.paid at the target: one that never gets it would only wait.
        var patterns = target.Events.Where(e => !string.IsNullOrWhiteSpace(e)).Select(e => new EventPattern(e)).ToList();
        if (target.Format == TargetOptions.OrderFormat
            && patterns.Any(p => p.Matches(Orders.OrderActions.ChargeRefunded) || p.Matches(Orders.OrderActions.DisputeCreated) || p.Matches(Orders.OrderActions.DisputeClosedEvent))
            && !patterns.Any(p => p.Matches(Orders.OrderEventClassifier.Completed)))
        {
            errors.Add(
                $"{label} has Format order and subscribes to refunds or disputes but not to checkout.session.completed: its refund and dispute " +
                $"documents wait for the order's order.paid, which it would never get. Add checkout.session.completed and " +
                $"checkout.session.async_payment_succeeded (or checkout.session.*) to {key}:Events, or use Format event for raw charge events.");
        }
    }

    private static void ValidateRedelivery(TargetOptions target, string key, List<string> errors)
    {
        var redelivery = target.Redelivery;
        if (redelivery is null)
        {
            errors.Add($"{key}:Redelivery is empty; remove it to use the default schedule.");
            return;
        }

        var delays = redelivery.DelaysSeconds ?? [.. TargetRedeliveryOptions.DefaultDelaysSeconds];
        if (delays.Length is 0 or > 30)
        {
            errors.Add($"{key}:Redelivery:DelaysSeconds has {delays.Length} entries; give 1 to 30 (or set Redelivery:Enabled to false).");
        }

        for (var d = 0; d < delays.Length; d++)
        {
            if (!(delays[d] is >= 1 and <= 86400))
            {
                errors.Add(FormattableString.Invariant($"{key}:Redelivery:DelaysSeconds:{d} must be between 1 and 86400 seconds (got {delays[d]})."));
            }
        }

        if (!(redelivery.Jitter is >= 0 and <= 0.5))
        {
            errors.Add(FormattableString.Invariant($"{key}:Redelivery:Jitter must be between 0 and 0.5 (got {redelivery.Jitter})."));
        }
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,47}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();
}
