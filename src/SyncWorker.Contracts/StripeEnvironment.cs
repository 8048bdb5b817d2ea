namespace SyncWorker.Contracts;

/// <summary>
/// Where a Stripe event comes from, which decides the API key its Stripe calls use: live mode, test mode, or a sandbox
/// (the managed sandbox's endpoint, whose secret is tagged <c>Mode: sandbox</c>). A sandbox event is a test-mode event
/// (<c>livemode: false</c>) for targets; only the key differs.
/// </summary>
public enum StripeEnvironment
{
    /// <summary>A live-mode event (<c>livemode: true</c>).</summary>
    Live,

    /// <summary>A test-mode event (<c>livemode: false</c>) verified by a secret not tagged as a sandbox's.</summary>
    Test,

    /// <summary>A test-mode event verified by a secret tagged <c>Mode: sandbox</c>: its Stripe calls use <c>Stripe:ApiKeys:Sandbox</c>.</summary>
    Sandbox,
}

/// <summary>Names of <see cref="StripeEnvironment"/> values in messages and logs.</summary>
public static class StripeEnvironments
{
    /// <summary>The environment of an event of <paramref name="livemode"/> verified by a sandbox secret or not.</summary>
    public static StripeEnvironment Of(bool livemode, bool sandbox) =>
        sandbox ? StripeEnvironment.Sandbox : livemode ? StripeEnvironment.Live : StripeEnvironment.Test;

    /// <summary><c>live</c>, <c>test</c> or <c>sandbox</c>.</summary>
    public static string Name(this StripeEnvironment environment) => environment switch
    {
        StripeEnvironment.Live => "live",
        StripeEnvironment.Test => "test",
        _ => "sandbox",
    };
}
