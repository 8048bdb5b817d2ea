namespace SyncWorker.Hosting;

/// <summary>
/// <c>Worker:Role</c>: what this instance runs. <c>All</c> (default) receives webhooks and forwards them;
/// <c>Receiver</c> only answers Stripe and queues events; <c>Forwarder</c> only consumes the queues. Run any number of
/// each against one RabbitMQ: receivers share the load behind a load balancer, forwarders compete for each queue.
/// </summary>
public enum WorkerRole
{
    /// <summary>Receive and forward.</summary>
    All,

    /// <summary>Receive only: <c>POST /webhooks/stripe</c>, publish to the intake queue.</summary>
    Receiver,

    /// <summary>Forward only: consume the intake and target queues.</summary>
    Forwarder,
}

/// <summary>Reads <c>Worker:Role</c>.</summary>
public static class WorkerRoles
{
    /// <summary>The configuration key.</summary>
    public const string Key = "Worker:Role";

    /// <summary>The configured role; an unknown value stops the process with a message naming the key.</summary>
    public static WorkerRole Resolve(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var text = configuration[Key];
        if (string.IsNullOrWhiteSpace(text))
        {
            return WorkerRole.All;
        }

        return Enum.TryParse<WorkerRole>(text, ignoreCase: true, out var role) && Enum.IsDefined(role)
            ? role
            : throw new Messaging.MessagingConfigurationException($"{Key} is '{text}'; use All (default), Receiver or Forwarder.");
    }

    /// <summary>True when the role answers Stripe.</summary>
    public static bool Receives(this WorkerRole role) => role is WorkerRole.All or WorkerRole.Receiver;

    /// <summary>True when the role consumes the queues.</summary>
    public static bool Forwards(this WorkerRole role) => role is WorkerRole.All or WorkerRole.Forwarder;
}
