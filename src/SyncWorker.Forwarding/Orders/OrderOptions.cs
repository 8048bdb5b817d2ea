using Microsoft.Extensions.Options;

namespace SyncWorker.Forwarding.Orders;

/// <summary>The <c>Orders</c> section: how order actions keep their order.</summary>
public sealed class OrderOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Orders";

    /// <summary>The default of <see cref="WaitForPaymentHours"/>.</summary>
    public const double DefaultWaitForPaymentHours = 72;

    /// <summary>
    /// <c>Orders:WaitForPaymentHours</c>: how long a later action (a refund or dispute) waits for its order's
    /// <c>order.paid</c> to reach a target before it is dead-lettered with that reason. Default 72 (Stripe's webhook
    /// retries last up to three days), from 0.01 to 720.
    /// </summary>
    public double WaitForPaymentHours { get; set; } = DefaultWaitForPaymentHours;

    /// <summary><see cref="WaitForPaymentHours"/> as a span.</summary>
    public TimeSpan WaitForPayment => TimeSpan.FromHours(WaitForPaymentHours);
}

/// <summary>Start-up validation of <see cref="OrderOptions"/>, naming the key and the fix.</summary>
public sealed class OrderOptionsValidation : IValidateOptions<OrderOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, OrderOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.WaitForPaymentHours is >= 0.01 and <= 720
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(FormattableString.Invariant(
                $"Orders:WaitForPaymentHours is {options.WaitForPaymentHours}: set it to a number of hours from 0.01 to 720 (default {OrderOptions.DefaultWaitForPaymentHours}), how long a refund or dispute waits for its order's order.paid to reach a target."));
    }
}
