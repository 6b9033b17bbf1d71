namespace Qwen3Gen.Fuzz.Tests;

/// <summary>
/// Test classes that swap Console.Out / Console.Error to capture a command's output run one at a time (xunit runs the
/// classes of one collection sequentially): two swapping in parallel would capture each other's lines.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ConsoleCollection
{
    public const string Name = "Console";
}
