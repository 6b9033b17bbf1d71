using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Qwen3Gen.Kernels;
using Qwen3Gen.Rules;

namespace Qwen3Gen.Models;

/// <summary>
/// The hyper-parameters of a Qwen3 / Qwen3-MoE model, named as in the [Qwen3Model] attribute
/// (Hugging Face config.json names in comments). Every generated model exposes one; checkpoints
/// carry one; a model directory's config.json is read into one. One property per row of the field table
/// (Generator/Rules/HyperParameters.cs, shared with the generator): the defaults, the config.json reader and writer,
/// the fields compared when matching a definition and the attribute text all come from that table.
/// </summary>
public sealed record ModelConfig
{
    public int Vocab { get; init; }                 // vocab_size
    public int Hidden { get; init; }                // hidden_size
    public int Layers { get; init; }                // num_hidden_layers
    public int Heads { get; init; }                 // num_attention_heads
    public int KvHeads { get; init; }               // num_key_value_heads
    public int HeadDim { get; init; }               // head_dim
    public int Ffn { get; init; }                   // intermediate_size
    public double RopeTheta { get; init; } = HyperParameters.DefaultRopeTheta;   // rope_theta
    public double RmsNormEps { get; init; } = HyperParameters.DefaultRmsNormEps; // rms_norm_eps
    public bool TieEmbeddings { get; init; }        // tie_word_embeddings
    public int MaxPositions { get; init; } = HyperParameters.DefaultMaxPositions; // max_position_embeddings
    public int Experts { get; init; }               // num_experts (0 = dense)
    public int ExpertsPerToken { get; init; }       // num_experts_per_tok
    public int ExpertFfn { get; init; }             // moe_intermediate_size
    public bool NormTopKProb { get; init; }         // norm_topk_prob
    public int DecoderSparseStep { get; init; } = HyperParameters.DefaultDecoderSparseStep; // decoder_sparse_step
    public int[] MlpOnlyLayers { get; init; } = []; // mlp_only_layers
    public double RouterAuxLossCoef { get; init; } = HyperParameters.DefaultRouterAuxLossCoef; // router_aux_loss_coef
    public bool OutputRouterLogits { get; init; }   // output_router_logits

    /// <summary>
    /// rope_scaling / rope_parameters (default, linear or YaRN). Not among <see cref="Fields"/>: the RoPE tables are
    /// built at run time, so a compiled definition runs any scaling (<see cref="IQwen3Model.RopeScaling"/>).
    /// </summary>
    public RopeScaling RopeScaling { get; init; } = RopeScaling.None;

    /// <summary>The longest context: max_position_embeddings, or more with RoPE scaling (<see cref="RopeScaling.PositionLimit"/>).</summary>
    public int PositionLimit => RopeScaling.PositionLimit(MaxPositions);

    public bool IsMoe => Experts > 0;

    /// <summary>HF rule: layer i is sparse iff not in mlp_only_layers, E > 0 and (i+1) % decoder_sparse_step == 0.</summary>
    public bool IsSparse(int layer) => ShapeRules.IsSparse(Experts, MlpOnlyLayers, DecoderSparseStep, layer);

    /// <summary>
    /// The fields that define the computation (the table's ChangesComputation rows; MoE rows for MoE models, and
    /// Experts always: 0 is what makes a model dense), as (name, value) pairs, for comparisons and messages.
    /// </summary>
    public IEnumerable<(string Name, string Value)> Fields()
    {
        foreach (var field in HyperParameters.All)
            if (field.ChangesComputation && (field.Scope == FieldScope.All || IsMoe || field.Name == nameof(Experts)))
                yield return (field.Name, Format(Get(field)));
    }

    /// <summary>The fields whose values differ, as "Name: this vs other" lines (empty when the computations agree).</summary>
    public List<string> Differences(ModelConfig other)
    {
        var mine = Fields().ToDictionary(f => f.Name, f => f.Value);
        var theirs = other.Fields().ToDictionary(f => f.Name, f => f.Value);
        var result = new List<string>();
        foreach (var (name, value) in mine)
        {
            theirs.TryGetValue(name, out var otherValue);
            if (value != otherValue) result.Add($"{name}: {value} vs {otherValue ?? "(absent)"}");
        }
        foreach (var (name, value) in theirs)
            if (!mine.ContainsKey(name)) result.Add($"{name}: (absent) vs {value}");
        return result;
    }

    public override string ToString() => string.Join(", ", Fields().Select(f => $"{f.Name}={f.Value}"));

    /// <summary>The fields a config.json of this model carries: every model's, and the MoE ones for a MoE model.</summary>
    internal IEnumerable<Field> ConfigFieldsOfThisModel() =>
        HyperParameters.All.Where(f => f.Scope == FieldScope.All || (f.Scope == FieldScope.Moe && IsMoe));

    /// <summary>
    /// The order config.json files are written in (the table's keys and the fixed ones below; Qwen3MoeConfig's keys last);
    /// a key of a new table row not listed here goes at the end.
    /// </summary>
    private static readonly string[] KeyOrder =
    [
        "architectures", "model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim", "hidden_act", "max_position_embeddings", "initializer_range", "rms_norm_eps", "rope_theta",
        "rope_scaling", "tie_word_embeddings", "attention_bias", "attention_dropout", "use_sliding_window", "sliding_window",
        "max_window_layers", "use_cache", "torch_dtype",
        "decoder_sparse_step", "mlp_only_layers", "moe_intermediate_size", "num_experts", "num_experts_per_tok", "norm_topk_prob",
        "output_router_logits", "router_aux_loss_coef",
    ];

    /// <summary>A Hugging Face config.json for this model (what Qwen3ForCausalLM / Qwen3MoeForCausalLM read).</summary>
    public string ToHuggingFaceJson(string torchDtype = "float32")
    {
        var values = new Dictionary<string, System.Text.Json.Nodes.JsonNode?>(StringComparer.Ordinal)
        {
            ["architectures"] = new System.Text.Json.Nodes.JsonArray(IsMoe ? "Qwen3MoeForCausalLM" : "Qwen3ForCausalLM"),
            ["model_type"] = IsMoe ? "qwen3_moe" : "qwen3",
            // What transformers writes besides the table's fields: the values Qwen3Gen implements (ConfigFields refuses others).
            ["hidden_act"] = "silu",
            ["initializer_range"] = 0.02,
            ["rope_scaling"] = RopeScaling.ToJsonObject(),
            ["attention_bias"] = false,
            ["attention_dropout"] = 0.0,
            ["use_sliding_window"] = false,
            ["sliding_window"] = null,
            ["max_window_layers"] = Layers,
            ["use_cache"] = true,
            ["torch_dtype"] = torchDtype,
        };
        foreach (var field in ConfigFieldsOfThisModel())
            values[field.Key] = Get(field) switch
            {
                int[] array => new System.Text.Json.Nodes.JsonArray(array.Select(i => (System.Text.Json.Nodes.JsonNode?)i).ToArray()),
                int i => i,
                double d => d,
                bool b => b,
                var other => throw new InvalidOperationException($"No config.json writer for {field.Name} ({other?.GetType().Name})."),
            };
        var o = new System.Text.Json.Nodes.JsonObject();
        foreach (var key in KeyOrder.Where(values.ContainsKey).Concat(values.Keys.Except(KeyOrder).Order(StringComparer.Ordinal)))
            o[key] = values[key];
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>
    /// Reads a Hugging Face config.json (model_type qwen3 or qwen3_moe) with the generator's reader and rules
    /// (Generator/Rules/ConfigFields.cs, RopeRules.cs and ShapeRules.cs, compiled into both): absent or null optional fields take
    /// transformers' defaults; a missing size, a field of the wrong JSON kind or a value out of range is an
    /// <see cref="InvalidDataException"/>, a feature no generated model implements (sliding windows, biases, layer types
    /// other than full attention, an activation other than SiLU, RoPE types other than default, linear and yarn) a
    /// <see cref="NotSupportedException"/>, each with the QG id and the message the generator reports for that file.
    /// </summary>
    public static ModelConfig FromHuggingFaceJson(string json, string source = "config.json")
    {
        using (JsonFiles.ParseObject(json, source)) { }                 // not JSON or not an object: System.Text.Json's message
        var root = Parse(json, source);
        var problems = new List<ShapeProblem>();
        var values = ConfigFields.Read(root, source, problems);
        var ropeDraft = RopeRules.ReadConfig(root, source, problems);
        ThrowFirst(problems);
        int headDim = ShapeRules.Check(values!, problems);
        var rope = RopeRules.Check(ropeDraft, values!.MaxPositions, fromConfig: true, p => RopeRules.ConfigName(p, ropeDraft.Object), problems);
        var errors = problems.Where(p => !p.IsWarning).Select(p => $"{p.Id}: {p.Message}").ToList();
        if (errors.Count > 0) throw new InvalidDataException($"{source}: {string.Join("; ", errors)}.");
        return FromValues(values, headDim, rope switch
        {
            null => RopeScaling.None,
            { Type: "linear" } => RopeScaling.Linear(rope.Factor, rope.OriginalMaxPositions),
            _ => RopeScaling.Yarn(rope.Factor, rope.OriginalMaxPositions, rope.BetaFast, rope.BetaSlow, rope.AttentionFactor, truncate: rope.Truncate),
        });
    }

    /// <summary>
    /// The config of read values (every row of the table but RoPE scaling, set through its property), with the head
    /// dimension the rules resolved (<see cref="ShapeValues.HeadDim"/> is null when not given).
    /// </summary>
    internal static ModelConfig FromValues(ShapeValues values, int headDim, RopeScaling rope)
    {
        var config = new ModelConfig { RopeScaling = rope };
        foreach (var field in HyperParameters.All)
            if (field.Get is not null && !field.Derived) Accessors[field.Name].Set(config, field.Get(values));
        return config with { HeadDim = headDim };
    }

    /// <summary>
    /// Throws for a feature of <paramref name="json"/> that no generated model implements (the unsupported-feature part of
    /// <see cref="FromHuggingFaceJson"/>, for files read elsewhere).
    /// </summary>
    internal static void CheckSupported(string json, string source)
    {
        using var document = JsonFiles.ParseObject(json, source);
        var problems = new List<ShapeProblem>();
        ConfigFields.RejectUnsupported(Parse(json, source), source, problems);
        ThrowFirst(problems);
    }

    private static Rules.JsonValue Parse(string json, string source)
    {
        try { return Json.Parse(json); }
        catch (JsonParseException e) { throw new InvalidDataException($"{source}: not valid JSON: {e.Message} at line {e.Line}, column {e.Column}.", e); }
    }

    /// <summary>QG0014 (an unsupported feature) as <see cref="NotSupportedException"/>, the others as <see cref="InvalidDataException"/>.</summary>
    private static void ThrowFirst(List<ShapeProblem> problems)
    {
        if (problems.FirstOrDefault(p => !p.IsWarning) is not { } first) return;
        string message = $"{first.Id}: {first.Message}.";
        throw first.Id == ConfigFields.UnsupportedId ? new NotSupportedException(message) : new InvalidDataException(message);
    }

    /// <summary>The value of a table field on this config.</summary>
    internal object? Get(Field field) => Accessors[field.Name].Get(this);

    /// <summary>
    /// Each row's property as a getter and a setter, bound once to delegates (PropertyInfo.SetValue would switch from
    /// interpreted to emitted code on its second call: a one-time cost paid inside a later load).
    /// </summary>
    private static readonly Dictionary<string, (Func<ModelConfig, object?> Get, Action<ModelConfig, object?> Set)> Accessors = BindAccessors();

    private static Dictionary<string, (Func<ModelConfig, object?>, Action<ModelConfig, object?>)> BindAccessors()
    {
        var accessors = new Dictionary<string, (Func<ModelConfig, object?>, Action<ModelConfig, object?>)>(StringComparer.Ordinal);
        foreach (var field in HyperParameters.All)
        {
            if (field.Scope == FieldScope.Rope) continue;         // held by RopeScaling
            var p = typeof(ModelConfig).GetProperty(field.Name)
                ?? throw new InvalidOperationException($"ModelConfig has no property {field.Name} for the table's row.");
            accessors[field.Name] = p.PropertyType == typeof(int) ? Bind<int>(p)
                : p.PropertyType == typeof(double) ? Bind<double>(p)
                : p.PropertyType == typeof(bool) ? Bind<bool>(p)
                : p.PropertyType == typeof(int[]) ? Bind<int[]>(p)
                : throw new InvalidOperationException($"ModelConfig.{field.Name} is a {p.PropertyType.Name}: no accessor for it.");
        }
        return accessors;
    }

    private static (Func<ModelConfig, object?>, Action<ModelConfig, object?>) Bind<T>(PropertyInfo p)
    {
        var get = p.GetMethod!.CreateDelegate<Func<ModelConfig, T>>();
        var set = p.SetMethod!.CreateDelegate<Action<ModelConfig, T>>();
        return (c => get(c), (c, value) => set(c, (T)value!));
    }

    /// <summary>A field's value as messages and comparisons write it (doubles round-trip, invariant culture).</summary>
    internal static string Format(object? value) => value switch
    {
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        int[] a => "[" + string.Join(", ", a) + "]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value?.ToString() ?? "",
    };
}
