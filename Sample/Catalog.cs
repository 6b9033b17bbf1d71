using System.Runtime.CompilerServices;
using Qwen3Gen.Definitions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample;

/// <summary>The definitions compiled into Qwen3Gen.Definitions (they register themselves from a module initializer).</summary>
internal static class Catalog
{
    /// <summary>Every compiled definition, by name.</summary>
    public static IReadOnlyList<ModelDefinition> All
    {
        get
        {
            // Module initializers run when the module is first touched; make sure the Definitions assembly has been.
            RuntimeHelpers.RunModuleConstructor(typeof(Qwen3Shakespeare).Module.ModuleHandle);
            return ModelCatalog.All;
        }
    }

    /// <summary>The definition called <paramref name="name"/> (case-insensitive); throws naming the ones that exist.</summary>
    public static ModelDefinition Find(string name)
    {
        var all = All;
        return all.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"No model definition named '{name}'. Compiled definitions: {string.Join(", ", all.Select(d => d.Name))}.");
    }
}
