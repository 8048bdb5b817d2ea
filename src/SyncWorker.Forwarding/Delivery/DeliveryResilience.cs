using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using Polly.Timeout;
using SyncWorker.Forwarding.Targets;

namespace SyncWorker.Forwarding.Delivery;

/// <summary>
/// One target's resilience pipeline, outer to inner: retry (each retry is a new attempt through the rest), circuit
/// breaker (counts every failed attempt), pace (<see cref="TargetPace"/>: a 429's hold and the rate limit), per-attempt timeout. Time comes from the DI <see cref="TimeProvider"/>, so
/// backoff, <c>Retry-After</c>, the circuit's window and the timeout all follow a fake clock in tests.
/// </summary>
internal static class DeliveryResilience
{
    /// <summary>The pipeline's name within the client; the registry's name is <c>{client name}-delivery</c>.</summary>
    public const string PipelineName = "delivery";

    public static void Configure(ResiliencePipelineBuilder<HttpResponseMessage> builder, IServiceProvider services, TargetOptions target)
    {
        // Polly.Extensions already gives the builder the DI TimeProvider; set it here so that does not depend on it,
        // and use the same clock for Retry-After dates.
        TimeProvider time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        builder.TimeProvider = time;

        TargetRetryOptions retry = target.Retry;
        TimeSpan maxRetryAfter = TimeSpan.FromSeconds(retry.MaxRetryAfterSeconds);

        // Polly's retry strategy needs at least one retry; with none configured the pipeline has no retry strategy.
        if (retry.MaxRetryAttempts > 0)
        {
            builder.AddRetry(new HttpRetryStrategyOptions
            {
                MaxRetryAttempts = retry.MaxRetryAttempts,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromSeconds(retry.BaseDelaySeconds),
                MaxDelay = TimeSpan.FromSeconds(retry.MaxDelaySeconds),

                // Only transient failures; an open circuit (BrokenCircuitException) ends the retries.
                ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Outcome, maxRetryAfter, time)),

                // Honour Retry-After (ShouldRetryAfterHeader = true does too, but reads HTTP dates against the system
                // clock). A delay from here is not capped by MaxDelay; ShouldRetry refuses one over MaxRetryAfterSeconds.
                // null: the exponential backoff with jitter, capped by MaxDelay.
                DelayGenerator = args => ValueTask.FromResult(RetryAfter(args.Outcome.Result, time)),
            });
        }

        TargetCircuitBreakerOptions circuit = target.CircuitBreaker;
        var circuits = services.GetService<TargetCircuitStates>();
        builder.AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
        {
            // The gate that holds deliveries while the circuit is open follows the breaker.
            OnOpened = args =>
            {
                circuits?.Opened(target.Name, args.BreakDuration);
                return ValueTask.CompletedTask;
            },
            OnClosed = _ =>
            {
                circuits?.Closed(target.Name);
                return ValueTask.CompletedTask;
            },
            FailureRatio = circuit.FailureRatio,
            MinimumThroughput = circuit.MinimumThroughput,
            SamplingDuration = TimeSpan.FromSeconds(circuit.SamplingDurationSeconds),
            BreakDuration = TimeSpan.FromSeconds(circuit.BreakDurationSeconds),
            StateProvider = circuits?.For(target.Name),
        });

        // Waits while a 429's Retry-After holds the target, then for a rate-limit permit; outside the attempt's timeout.
        TargetPace.AddTo(builder, services, target, time);
        builder.AddTimeout(new HttpTimeoutStrategyOptions { Timeout = TimeSpan.FromSeconds(target.TimeoutSeconds) });
    }

    /// <summary>408, 429 and 5xx: worth another attempt. Every other status is the target's final word.</summary>
    public static bool IsRetryableStatus(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;

    /// <summary>
    /// Network errors, attempt timeouts, and 408/429/5xx answers unless they ask (<c>Retry-After</c>) for a longer wait
    /// than <paramref name="maxRetryAfter"/>. Never another 4xx, a 3xx, an open circuit or a cancellation.
    /// </summary>
    public static bool ShouldRetry(Outcome<HttpResponseMessage> outcome, TimeSpan maxRetryAfter, TimeProvider time) => outcome switch
    {
        { Exception: HttpRequestException or TimeoutRejectedException } => true,
        { Exception: TargetAuthException auth } => !auth.IsPermanent,
        { Exception: not null } => false,
        { Result: { } response } => IsRetryableStatus(response.StatusCode) && !(RetryAfter(response, time) > maxRetryAfter),
        _ => false,
    };

    /// <summary>
    /// The wait a response's <c>Retry-After</c> asks for (seconds, or an HTTP date measured against
    /// <paramref name="time"/>; a date in the past is zero), or <see langword="null"/> when it has none.
    /// </summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage? response, TimeProvider time)
    {
        var header = response?.Headers.RetryAfter;
        TimeSpan? delay = header switch
        {
            { Delta: TimeSpan delta } => delta,
            { Date: DateTimeOffset date } => date - time.GetUtcNow(),
            _ => null,
        };
        return delay < TimeSpan.Zero ? TimeSpan.Zero : delay;
    }
}
