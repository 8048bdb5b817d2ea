using SyncWorker.Hosting;

// Composition only: SyncWorkerApp wires receive -> queue -> forward and turns bad configuration into a clear message.
return await SyncWorkerApp.RunAsync(args);

/// <summary>Entry point; public so tests can host the app.</summary>
public partial class Program;
