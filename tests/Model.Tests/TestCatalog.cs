using Qwen3Gen.Definitions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// The definitions these tests load through ModelDirectory (which picks among registered definitions): the
/// Qwen3Gen.Definitions list and this assembly's test models. Registration is explicit, nothing registers by being
/// loaded: a test class that loads a model folder or GGUF file (or runs a command that does) declares
/// <c>IClassFixture&lt;TestCatalog&gt;</c>, which xunit builds before the class's first test; the fixtures that write
/// and load folders for a collection (ChatModelFolderFixture, ModelFolderFixture) call <see cref="Register"/> first.
/// </summary>
public sealed class TestCatalog
{
    public TestCatalog() => Register();

    /// <summary>Registers the definitions (ModelCatalog.Register replaces one of the same name: calling it again is harmless).</summary>
    public static void Register()
    {
        ModelCatalog.Register(CompiledDefinitions.All);
        ModelCatalog.Register(
            // TestModels.cs
            TrainTiny.Definition, Qwen3ChatTest.Definition, Qwen3ChatMoeTest.Definition,
            // GoldenModels.cs
            DenseTied.Definition, DenseUntied.Definition, MoeTied.Definition, MoeMixed.Definition, DenseOdd.Definition,
            DenseLong.Definition, DenseQ.Definition, DenseYarn.Definition, DenseYarnMscale.Definition, DenseLinear.Definition,
            DenseYarnUnscaled.Definition,
            // Inference/WorkBufferSizeTests.cs
            LongContextTiny.Definition);
    }
}
