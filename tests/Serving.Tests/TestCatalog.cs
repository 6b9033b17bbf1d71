using Qwen3Gen.Models;

namespace Qwen3Gen.Serving.Tests;

/// <summary>
/// The server tests' model, registered explicitly so that serving its folder finds it: a test class that serves a
/// folder or file declares <c>IClassFixture&lt;TestCatalog&gt;</c>, which xunit builds before the class's first test.
/// </summary>
public sealed class TestCatalog
{
    public TestCatalog() => ModelCatalog.Register(Qwen3ServeTest.Definition);
}
