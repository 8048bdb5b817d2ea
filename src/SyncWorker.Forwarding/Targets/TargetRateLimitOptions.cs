using static System.FormattableString;

namespace SyncWorker.Forwarding.Targets;

/// <summary>
/// <c>Fulfillment:Targets:N:RateLimit:*</c> (<c>rateLimit</c> in the admin API): requests per second to the target, per
/// SyncWorker instance, as a token bucket. Off by default. Every HTTP attempt (retries too) takes a permit; a delivery
/// without one waits for it before its attempt (outside the per-attempt timeout), holding its consumer slot, and is
/// never failed or dead-lettered for it. With N forwarder instances the target sees up to N times the limit: give each
/// instance the partner's limit divided by N.
/// </summary>
public sealed class TargetRateLimitOptions
{
    /// <summary>Smallest <see cref="PerSecond"/>: a delivery never waits for a permit much longer than a few minutes.</summary>
    public const double MinPerSecond = 0.1;

    /// <summary>Largest <see cref="PerSecond"/>.</summary>
    public const double MaxPerSecond = 10_000;

    /// <summary>Largest <see cref="Burst"/>.</summary>
    public const int MaxBurst = 10_000;

    /// <summary>
    /// <c>PerSecond</c>: requests per second, on average, from this instance. Default 0: no limit. Otherwise 0.1 to 10000.
    /// </summary>
    public double PerSecond { get; set; }

    /// <summary>
    /// <c>Burst</c>: requests that may go at once after a quiet spell (the bucket's size). Default 0: the whole-number
    /// ceiling of <see cref="PerSecond"/> (at least 1). Otherwise 1 to 10000, and at least <see cref="PerSecond"/> ÷ 20
    /// (permits are added every 50 ms at most).
    /// </summary>
    public int Burst { get; set; }

    /// <summary>True when a limit is set.</summary>
    public bool Enabled => PerSecond > 0;

    /// <summary>The bucket's size: <see cref="Burst"/>, or <see cref="PerSecond"/> rounded up when it is 0.</summary>
    public int EffectiveBurst => Burst > 0 ? Burst : Math.Max(1, (int)Math.Ceiling(PerSecond));
}

/// <summary>Start-up and admin API checks of <see cref="TargetRateLimitOptions"/>.</summary>
public static class TargetRateLimitValidation
{
    /// <summary>What is wrong with the target's <c>RateLimit</c>; <paramref name="key"/> is its path, <c>Fulfillment:Targets:0</c>.</summary>
    public static IEnumerable<string> Validate(TargetOptions target, string key)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (target.RateLimit is not { } limit)
        {
            yield return $"{key}:RateLimit is missing: remove the null to send without a limit.";
            yield break;
        }

        if (!(limit.PerSecond == 0 || limit.PerSecond is >= TargetRateLimitOptions.MinPerSecond and <= TargetRateLimitOptions.MaxPerSecond))
        {
            yield return Invariant(
                $"{key}:RateLimit:PerSecond must be 0 (no limit) or between {TargetRateLimitOptions.MinPerSecond} and {TargetRateLimitOptions.MaxPerSecond} (got {limit.PerSecond}). It is per instance: with N forwarders, give each the partner's limit divided by N.");
        }

        if (limit.Burst is < 0 or > TargetRateLimitOptions.MaxBurst)
        {
            yield return Invariant($"{key}:RateLimit:Burst must be between 1 and {TargetRateLimitOptions.MaxBurst}, or 0 for the ceiling of RateLimit:PerSecond (got {limit.Burst}).");
        }
        else if (limit.Burst > 0 && limit.PerSecond == 0)
        {
            yield return $"{key}:RateLimit:Burst is set without RateLimit:PerSecond: set PerSecond too, or remove Burst.";
        }
        else if (limit.Burst > 0 && limit.Burst < Math.Ceiling(limit.PerSecond / 20))
        {
            yield return Invariant(
                $"{key}:RateLimit:Burst must be at least RateLimit:PerSecond ÷ 20, here {Math.Ceiling(limit.PerSecond / 20)} (got {limit.Burst}): permits are added every 50 ms at most, so a smaller bucket could not reach the rate.");
        }
    }
}
