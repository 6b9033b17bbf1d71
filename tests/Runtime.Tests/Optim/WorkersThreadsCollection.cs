namespace Qwen3Gen.Runtime.Tests.Optim;

/// <summary>
/// Tests that set the global <see cref="Qwen3Gen.Threading.Workers.Threads"/> run in this collection: alone,
/// after the parallel tests, so no other test changes the thread count under them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class WorkersThreadsCollection
{
    public const string Name = "Workers.Threads (optimizer)";
}
