using Qwen3Gen.Models;

namespace Qwen3Gen.Definitions;

/// <summary>
/// Every definition of this assembly, for <c>ModelCatalog.Register(CompiledDefinitions.All)</c>: a program registers the
/// definitions it wants <c>ModelDirectory.Load</c> to choose from, explicitly (nothing registers itself). A definition
/// added to this assembly is added here too (tests/Model.Tests/ModelFolders/ModelCatalogTests.cs checks the list is whole).
/// </summary>
public static class CompiledDefinitions
{
    public static IReadOnlyList<ModelDefinition> All { get; } =
    [
        // OfficialDense.cs
        Qwen3_0_6B.Definition, Qwen3_1_7B.Definition, Qwen3_4B.Definition, Qwen3_8B.Definition, Qwen3_14B.Definition, Qwen3_32B.Definition,
        // OfficialMoe.cs
        Qwen3_30B_A3B.Definition, Qwen3_235B_A22B.Definition, Qwen3ShakespeareMoe.Definition, Qwen3SmallMoe.Definition,
        // Small.cs
        Qwen3Shakespeare.Definition, Qwen3FullVocab.Definition, Qwen3Tiny.Definition,
    ];
}
