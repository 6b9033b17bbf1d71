namespace Qwen3Gen.Generator.Tests.Infrastructure;

/// <summary>Test data copied next to the test assembly (Configs/ and the Definitions' config.json files).</summary>
public static class TestFiles
{
    public static string Read(string relativePath) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, relativePath));
}
