using System.Runtime.CompilerServices;
using Qwen3Gen.Definitions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// The definitions these tests load through ModelDirectory (which picks among registered definitions): the
/// Qwen3Gen.Definitions list and this assembly's test models, registered once when the test assembly loads.
/// </summary>
internal static class TestCatalog
{
#pragma warning disable CA2255 // a test assembly's one-time setup: xunit 2 has no assembly fixture
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register()
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
