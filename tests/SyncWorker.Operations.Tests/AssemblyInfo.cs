// Each broker fixture starts a private RabbitMQ node of its own, so fixtures can run side by side; the tests of one
// fixture run one after another.
[assembly: Parallelizable(ParallelScope.Fixtures)]
