using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Targets;

namespace SyncWorker.Forwarding.Tests.Delivery;

[TestFixture]
public sealed class ValidateTargetTests
{
    private const string Key = "Fulfillment:Targets:0";

    private static TargetOptions Valid() => DeliveryFixture.Target("https://wms.example/hooks");

    private static string[] Errors(Action<TargetOptions> change)
    {
        var target = Valid();
        change(target);
        return HttpTargetSender.ValidateTarget(target, Key).ToArray();
    }

    [Test]
    public void The_defaults_with_a_valid_secret_pass()
    {
        var target = new TargetOptions { Name = "wms", Url = "https://wms.example/hooks", SigningSecret = DeliveryFixture.Secret };

        Assert.That(HttpTargetSender.ValidateTarget(target, Key), Is.Empty);
        Assert.That(HttpTargetSender.ValidateTarget(Valid(), Key), Is.Empty);
    }

    public static IEnumerable<TestCaseData> OutOfRange()
    {
        TestCaseData Case(string name, Action<TargetOptions> change, string message) =>
            new TestCaseData(change, message).SetArgDisplayNames(name);

        yield return Case("TimeoutSeconds 0", t => t.TimeoutSeconds = 0, $"{Key}:TimeoutSeconds must be between 1 and 120 (got 0).");
        yield return Case("TimeoutSeconds 121", t => t.TimeoutSeconds = 121, $"{Key}:TimeoutSeconds must be between 1 and 120 (got 121).");
        yield return Case("TimeoutSeconds NaN", t => t.TimeoutSeconds = double.NaN, $"{Key}:TimeoutSeconds must be between 1 and 120 (got NaN).");
        yield return Case("MaxConcurrency 0", t => t.MaxConcurrency = 0, $"{Key}:MaxConcurrency must be between 1 and 64 (got 0).");
        yield return Case("MaxConcurrency 65", t => t.MaxConcurrency = 65, $"{Key}:MaxConcurrency must be between 1 and 64 (got 65).");
        yield return Case("MaxRetryAttempts -1", t => t.Retry.MaxRetryAttempts = -1, $"{Key}:Retry:MaxRetryAttempts must be between 0 and 20 (got -1).");
        yield return Case("MaxRetryAttempts 50", t => t.Retry.MaxRetryAttempts = 50, $"{Key}:Retry:MaxRetryAttempts must be between 0 and 20 (got 50).");
        yield return Case("BaseDelaySeconds 0.001", t => t.Retry.BaseDelaySeconds = 0.001, $"{Key}:Retry:BaseDelaySeconds must be between 0.01 and 60 (got 0.001).");
        yield return Case("BaseDelaySeconds 61", t =>
        {
            t.Retry.BaseDelaySeconds = 61;
            t.Retry.MaxDelaySeconds = 100;
        }, $"{Key}:Retry:BaseDelaySeconds must be between 0.01 and 60 (got 61).");
        yield return Case("MaxDelaySeconds below the base", t =>
        {
            t.Retry.BaseDelaySeconds = 2;
            t.Retry.MaxDelaySeconds = 1;
        }, $"{Key}:Retry:MaxDelaySeconds must be at least Retry:BaseDelaySeconds (2) and at most 3600 (got 1).");
        yield return Case("MaxDelaySeconds 3601", t => t.Retry.MaxDelaySeconds = 3601,
            $"{Key}:Retry:MaxDelaySeconds must be at least Retry:BaseDelaySeconds (0.01) and at most 3600 (got 3601).");
        yield return Case("MaxRetryAfterSeconds 0", t => t.Retry.MaxRetryAfterSeconds = 0, $"{Key}:Retry:MaxRetryAfterSeconds must be between 1 and 3600 (got 0).");
        yield return Case("MaxRetryAfterSeconds 3601", t => t.Retry.MaxRetryAfterSeconds = 3601, $"{Key}:Retry:MaxRetryAfterSeconds must be between 1 and 3600 (got 3601).");
        yield return Case("FailureRatio 0", t => t.CircuitBreaker.FailureRatio = 0, $"{Key}:CircuitBreaker:FailureRatio must be above 0 and at most 1 (got 0).");
        yield return Case("FailureRatio 1.5", t => t.CircuitBreaker.FailureRatio = 1.5, $"{Key}:CircuitBreaker:FailureRatio must be above 0 and at most 1 (got 1.5).");
        yield return Case("MinimumThroughput 1", t => t.CircuitBreaker.MinimumThroughput = 1, $"{Key}:CircuitBreaker:MinimumThroughput must be at least 2 (got 1).");
        yield return Case("SamplingDurationSeconds 0.4", t => t.CircuitBreaker.SamplingDurationSeconds = 0.4,
            $"{Key}:CircuitBreaker:SamplingDurationSeconds must be between 0.5 and 3600 (got 0.4).");
        yield return Case("SamplingDurationSeconds 3601", t => t.CircuitBreaker.SamplingDurationSeconds = 3601,
            $"{Key}:CircuitBreaker:SamplingDurationSeconds must be between 0.5 and 3600 (got 3601).");
        yield return Case("BreakDurationSeconds 0.4", t => t.CircuitBreaker.BreakDurationSeconds = 0.4,
            $"{Key}:CircuitBreaker:BreakDurationSeconds must be between 0.5 and 3600 (got 0.4).");
        yield return Case("BreakDurationSeconds 3601", t => t.CircuitBreaker.BreakDurationSeconds = 3601,
            $"{Key}:CircuitBreaker:BreakDurationSeconds must be between 0.5 and 3600 (got 3601).");
    }

    [TestCaseSource(nameof(OutOfRange))]
    public void A_value_out_of_range_is_named_by_its_full_key_with_the_range_and_the_value(Action<TargetOptions> change, string message)
    {
        Assert.That(Errors(change), Is.EqualTo(new[] { message }));
    }

    public static IEnumerable<TestCaseData> Boundaries()
    {
        TestCaseData Case(string name, Action<TargetOptions> change) => new TestCaseData(change).SetArgDisplayNames(name);

        yield return Case("TimeoutSeconds 1 and MaxConcurrency 1", t => (t.TimeoutSeconds, t.MaxConcurrency) = (1, 1));
        yield return Case("TimeoutSeconds 120 and MaxConcurrency 64", t => (t.TimeoutSeconds, t.MaxConcurrency) = (120, 64));
        yield return Case("no retries", t => t.Retry.MaxRetryAttempts = 0);
        yield return Case("20 retries, delays at their limits", t =>
        {
            t.Retry.MaxRetryAttempts = 20;
            t.Retry.BaseDelaySeconds = 60;
            t.Retry.MaxDelaySeconds = 3600;
            t.Retry.MaxRetryAfterSeconds = 3600;
        });
        yield return Case("MaxDelaySeconds equal to the base", t => t.Retry.MaxDelaySeconds = t.Retry.BaseDelaySeconds);
        yield return Case("circuit at its lower limits", t =>
        {
            t.CircuitBreaker.FailureRatio = 0.01;
            t.CircuitBreaker.MinimumThroughput = 2;
            t.CircuitBreaker.SamplingDurationSeconds = 0.5;
            t.CircuitBreaker.BreakDurationSeconds = 0.5;
        });
        yield return Case("circuit at its upper limits", t =>
        {
            t.CircuitBreaker.FailureRatio = 1;
            t.CircuitBreaker.SamplingDurationSeconds = 3600;
            t.CircuitBreaker.BreakDurationSeconds = 3600;
        });
        yield return Case("a content header and an empty value", t => t.Headers = new() { ["Content-Language"] = "de", ["X-Empty"] = "" });
    }

    [TestCaseSource(nameof(Boundaries))]
    public void Values_at_the_limits_pass(Action<TargetOptions> change)
    {
        Assert.That(Errors(change), Is.Empty);
    }

    [Test]
    public void An_invalid_signing_secret_is_named_without_its_value()
    {
        string notASecret = "sk_live_51HxyzNotAWebhookSecret";

        string[] errors = Errors(t => t.SigningSecret = notASecret);

        Assert.That(errors, Has.Length.EqualTo(1));
        Assert.That(errors[0], Does.StartWith($"{Key}:SigningSecret must start with 'whsec_'"));
        Assert.That(errors[0], Does.Not.Contain(notASecret));
        Assert.That(Errors(t => t.SigningSecret = ""), Has.One.StartsWith($"{Key}:SigningSecret is empty"));
        Assert.That(
            Errors(t => t.SigningSecret = "whsec_" + Convert.ToBase64String(new byte[8])),
            Has.One.StartsWith($"{Key}:SigningSecret decodes to 8 bytes"));
    }

    [TestCase("webhook-id")]
    [TestCase("Webhook-Timestamp")]
    [TestCase("WEBHOOK-SIGNATURE")]
    [TestCase("idempotency-key")]
    [TestCase("Content-Type")]
    [TestCase("content-length")]
    [TestCase("Host")]
    [TestCase("User-Agent")]
    public void A_header_SyncWorker_sets_cannot_be_configured(string name)
    {
        string[] errors = Errors(t => t.Headers[name] = "sneaky-value");

        Assert.That(errors, Has.Length.EqualTo(1));
        Assert.That(errors[0], Does.StartWith($"{Key}:Headers:{name} cannot be configured"));
        Assert.That(errors[0], Does.Not.Contain("sneaky-value"));
    }

    [Test]
    public void A_header_value_with_a_line_break_is_refused_without_quoting_it()
    {
        string[] errors = Errors(t => t.Headers["X-Api-Key"] = "secret-part\r\nX-Injected: 1");

        Assert.That(errors, Is.EqualTo(new[]
        {
            $"{Key}:Headers:X-Api-Key must be a single line: the value contains a line break (CR or LF) or a NUL character.",
        }));
        Assert.That(Errors(t => t.Headers["X-Api-Key"] = "a\nb"), Has.Length.EqualTo(1));
    }

    [Test]
    public void A_header_without_a_name_or_with_an_invalid_name_is_refused()
    {
        Assert.That(Errors(t => t.Headers[""] = "value"), Is.EqualTo(new[]
        {
            $"{Key}:Headers has an entry without a name: give the header's name or remove the entry.",
        }));
        Assert.That(Errors(t => t.Headers["X Api Key"] = "value"), Has.One.StartsWith($"{Key}:Headers:X Api Key is not a valid HTTP header name"));
        Assert.That(Errors(t => t.Headers["X-Api:Key"] = "value"), Has.One.Contains("is not a valid HTTP header name"));
    }

    [Test]
    public void Every_problem_is_reported_at_once()
    {
        string[] errors = Errors(t =>
        {
            t.SigningSecret = "";
            t.TimeoutSeconds = 0;
            t.Retry.MaxRetryAttempts = 21;
            t.CircuitBreaker.MinimumThroughput = 0;
            t.Headers["Host"] = "evil.example";
        });

        Assert.That(errors, Has.Length.EqualTo(5));
        Assert.That(errors, Has.All.StartsWith(Key + ":"));
    }
}
