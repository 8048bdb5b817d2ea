namespace SyncWorker.Forwarding.Orders;

/// <summary>The mode a Stripe API key works in.</summary>
internal enum StripeKeyMode
{
    Test,
    Live,
}

/// <summary>What a key's prefix tells, without ever returning any part of the key.</summary>
internal static class StripeKeys
{
    /// <summary>
    /// <see cref="StripeKeyMode.Live"/> for <c>sk_live_</c> and <c>rk_live_</c>, <see cref="StripeKeyMode.Test"/> for
    /// <c>sk_test_</c> and <c>rk_test_</c>, null for anything else (the mode cannot be told).
    /// </summary>
    public static StripeKeyMode? ModeOf(string? key) =>
        key is null ? null
        : key.StartsWith("sk_live_", StringComparison.Ordinal) || key.StartsWith("rk_live_", StringComparison.Ordinal) ? StripeKeyMode.Live
        : key.StartsWith("sk_test_", StringComparison.Ordinal) || key.StartsWith("rk_test_", StringComparison.Ordinal) ? StripeKeyMode.Test
        : null;
}
