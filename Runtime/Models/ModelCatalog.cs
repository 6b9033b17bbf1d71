namespace Qwen3Gen.Models;

/// <summary>
/// A compiled definition: its name, hyper-parameters and factories (the generated class's static <c>Definition</c>): <see cref="Create"/>
/// allocates zeroed weights of a format; <see cref="FromWeights"/> wraps existing weights (e.g. mapped from a GGUF file),
/// built from the layout (<see cref="TensorTable"/>, <see cref="ParameterCount"/>, <see cref="VectorStart"/>) without
/// allocating a model first. <see cref="Shape"/> is the generated <c>Shape</c> struct as a value, for runtime code that
/// is generic over it (tensor-parallel ranks).
/// </summary>
public sealed record ModelDefinition(string Name, ModelConfig Config, Func<WeightFormat, IQwen3Model> Create,
                                     Func<Weights, IQwen3Model>? FromWeights = null, IReadOnlyList<TensorSpec>? TensorTable = null,
                                     long ParameterCount = 0, long VectorStart = 0, Layers.ModelShapeType? Shape = null);

/// <summary>
/// The compiled definitions a program has registered, so that tools can list them and <c>ModelDirectory.Load</c> can
/// pick the one whose hyper-parameters equal a checkpoint's config.json. Registration is explicit: every generated class
/// has a static <c>Definition</c>, and the program registers the ones it wants, e.g.
/// <c>ModelCatalog.Register(Qwen3_0_6B.Definition)</c> or <c>ModelCatalog.Register(CompiledDefinitions.All)</c> (the
/// Qwen3Gen.Definitions assembly's list). Nothing registers itself.
/// </summary>
public static class ModelCatalog
{
    private static readonly List<ModelDefinition> _definitions = [];
    private static readonly Lock _lock = new();

    /// <summary>Adds definitions (one of the same name is replaced). Idempotent.</summary>
    public static void Register(params IEnumerable<ModelDefinition> definitions)
    {
        ArgumentNullException.ThrowIfNull(definitions);
        lock (_lock)
            foreach (var definition in definitions)
            {
                ArgumentNullException.ThrowIfNull(definition);
                _definitions.RemoveAll(d => d.Name == definition.Name);
                _definitions.Add(definition);
            }
    }

    public static IReadOnlyList<ModelDefinition> All
    {
        get { lock (_lock) return _definitions.OrderBy(d => d.Name, StringComparer.Ordinal).ToArray(); }
    }

    public static ModelDefinition? Find(string name) => All.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The definition whose computation equals <paramref name="config"/>, or null.</summary>
    public static ModelDefinition? Match(ModelConfig config) => All.FirstOrDefault(d => d.Config.Differences(config).Count == 0);

    /// <summary>The definition with the fewest differing fields (for error messages), and those differences.</summary>
    public static (ModelDefinition? Definition, List<string> Differences) Closest(ModelConfig config)
    {
        ModelDefinition? best = null;
        List<string> bestDiff = [];
        foreach (var d in All)
        {
            var diff = d.Config.Differences(config);
            if (best is null || diff.Count < bestDiff.Count) (best, bestDiff) = (d, diff);
        }
        return (best, bestDiff);
    }
}
