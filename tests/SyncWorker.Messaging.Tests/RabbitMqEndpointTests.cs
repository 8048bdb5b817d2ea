namespace SyncWorker.Messaging.Tests;

public sealed class RabbitMqEndpointTests
{
    [TestCase("amqp://user:pass@broker:5672/orders", "broker", 5672, "orders", "user", "pass", false)]
    [TestCase("amqp://user:pass@broker/", "broker", 5672, "/", "user", "pass", false)]
    [TestCase("amqp://user:pass@broker", "broker", 5672, "/", "user", "pass", false)]
    [TestCase("amqp://user:pass@broker:5672/%2F", "broker", 5672, "/", "user", "pass", false)]
    [TestCase("amqps://svc:p%40ss%3Aword@rabbit.internal/prod", "rabbit.internal", 5671, "prod", "svc", "p@ss:word", true)]
    [TestCase("amqp://127.0.0.1:25672/vh-1", "127.0.0.1", 25672, "vh-1", "guest", "guest", false)]
    public void Parses_the_documented_forms(string uri, string host, int port, string vhost, string user, string password, bool tls)
    {
        Assert.That(RabbitMqEndpoint.TryParse(uri, out var endpoint, out var error), Is.True, error);
        Assert.That(endpoint, Is.EqualTo(new RabbitMqEndpoint(host, port, vhost, user, password, tls)));
    }

    [TestCase("", "RabbitMq:Uri is empty")]
    [TestCase("broker:5672", "scheme")]
    [TestCase("http://broker/", "use amqp:// or amqps://")]
    [TestCase("amqp://u:p@broker/a/b", "single segment")]
    public void Refuses_bad_values_naming_the_key(string uri, string expected)
    {
        Assert.That(RabbitMqEndpoint.TryParse(uri, out _, out var error), Is.False);
        Assert.That(error, Does.Contain(expected).And.Contain("RabbitMq:Uri"));
    }

    [Test]
    public void Text_form_never_shows_the_password()
    {
        Assert.That(RabbitMqEndpoint.TryParse("amqp://svc:TopSecret42@broker:5672/prod", out var endpoint, out _), Is.True);

        Assert.That(endpoint!.ToString(), Is.EqualTo("amqp://svc:***@broker:5672/prod"));
        Assert.That(endpoint.ToString(), Does.Not.Contain("TopSecret42"));
    }
}
