using static System.FormattableString;

namespace SyncWorker.Forwarding.Health;

/// <summary>
/// Start-up and admin API checks of <c>Fulfillment:Targets:N:DisableAfterHours</c> (<c>disableAfterHours</c> in the admin
/// API): 0 (never disable) or 1 to <see cref="MaxHours"/>.
/// </summary>
public static class TargetDisableValidation
{
    /// <summary>The default: three days, as long as the default redelivery schedule and Stripe's own retries.</summary>
    public const int DefaultHours = 72;

    /// <summary>Largest value: a year.</summary>
    public const int MaxHours = 8760;

    /// <summary>What is wrong with the target's <c>DisableAfterHours</c>; <paramref name="key"/> is its path, <c>Fulfillment:Targets:0</c>.</summary>
    public static IEnumerable<string> Validate(Targets.TargetOptions target, string key)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (target.DisableAfterHours is < 0 or > MaxHours)
        {
            yield return Invariant(
                $"{key}:DisableAfterHours must be between 1 and {MaxHours} (hours without a single successful delivery before the target is disabled), or 0 never to disable it (got {target.DisableAfterHours}).");
        }
    }
}
