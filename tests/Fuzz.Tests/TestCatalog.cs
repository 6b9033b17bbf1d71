using Qwen3Gen.Models;

namespace Qwen3Gen.Fuzz.Tests;

/// <summary>
/// The fuzz tests' GGUF-shaped definition, registered explicitly so that a damaged file that still parses meets it:
/// a test class that loads GGUF files declares <c>IClassFixture&lt;TestCatalog&gt;</c>, which xunit builds before the
/// class's first test.
/// </summary>
public sealed class TestCatalog
{
    public TestCatalog() => ModelCatalog.Register(FuzzDenseQ.Definition);
}
