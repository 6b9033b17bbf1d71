using Qwen3Gen.Definitions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample;

/// <summary>The definitions the CLI knows: Qwen3Gen.Definitions' list, registered with <see cref="ModelCatalog"/> on first use.</summary>
internal static class Catalog
{
    private static readonly Lazy<bool> Registered = new(() => { ModelCatalog.Register(CompiledDefinitions.All); return true; });

    /// <summary>Registers the definitions (once), so that <see cref="Inference.ModelDirectory"/> can match a config.json to them.</summary>
    public static void Register() => _ = Registered.Value;

    /// <summary>Every compiled definition, by name.</summary>
    public static IReadOnlyList<ModelDefinition> All
    {
        get
        {
            Register();
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
