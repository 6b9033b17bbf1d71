// Shared source: compiled into the generator and, as a linked file, into the runtime (like ShapeRules.cs), so the
// [Qwen3Model] attribute, the config.json readers of both sides, ModelConfig, its config.json writer and its attribute
// text all come from this one table. Plain C# only (the generator targets netstandard2.0).
using System;
using System.Collections.Generic;

namespace Qwen3Gen.Rules;

/// <summary>How a field is written: in the attribute (C# type) and in config.json (JSON kind).</summary>
internal enum FieldType { Int, Double, Bool, IntArray, String }

/// <summary>Which configs carry a field.</summary>
internal enum FieldScope
{
    /// <summary>Every model (model_type qwen3 and qwen3_moe).</summary>
    All,
    /// <summary>MoE models only: a qwen3 (dense) config.json may carry these keys, transformers' Qwen3Config ignores them.</summary>
    Moe,
    /// <summary>The RoPE scaling object (rope_scaling / rope_parameters): read by the RoPE readers, Key is inside that object.</summary>
    Rope,
}

/// <summary>One hyper-parameter: every reader, writer and message about it is derived from this row.</summary>
internal sealed class Field
{
    public Field(string name, string key, FieldType type, FieldScope scope, string doc)
    {
        Name = name; Key = key; Type = type; Scope = scope; Doc = doc;
    }

    /// <summary>The [Qwen3Model] property, the <c>ModelConfig</c> property and the generated constant.</summary>
    public string Name { get; }

    /// <summary>The Hugging Face config.json key (for <see cref="FieldScope.Rope"/>: the key inside the RoPE object).</summary>
    public string Key { get; }

    public FieldType Type { get; }
    public FieldScope Scope { get; }

    /// <summary>What the field means, for the attribute's XML doc (the default is appended from <see cref="DefaultText"/>).</summary>
    public string Doc { get; }

    /// <summary>
    /// config.json must carry it (a missing one is QG0012). The sizes are required: transformers' defaults for them
    /// describe some other model (Qwen3Config's hidden_size 4096 and 32 layers), never the one a config means.
    /// Inline, a missing required size reads 0 and the rules report it (QG0003).
    /// </summary>
    public bool Required { get; init; }

    /// <summary>The value when absent or null: transformers' Qwen3Config / Qwen3MoeConfig default (boxed; null: see <see cref="DefaultFrom"/>).</summary>
    public object? Default { get; init; }

    /// <summary>When absent or null, the value is another field's (transformers: num_key_value_heads None -> num_attention_heads).</summary>
    public string? DefaultFrom { get; init; }

    /// <summary>When absent or null, derived by the rules (head_dim = hidden_size / num_attention_heads, see ShapeRules.Check).</summary>
    public bool Derived { get; init; }

    /// <summary>
    /// Two definitions compute the same thing iff these fields agree: the compiled definition that serves a config.json is
    /// the one equal on every such field (ModelConfig.Differences). MaxPositions (a limit), the aux-loss settings (training
    /// only) and RoPE scaling (tables built at run time) do not select a definition.
    /// </summary>
    public bool ChangesComputation { get; init; }

    /// <summary>
    /// The C# type of the generated class's constant for this field ("int", "double", "float", "bool"), or null for a
    /// field the generated code has no constant for (the dense/sparse choice per layer is resolved by the generator into
    /// the layout and the passes; RoPE scaling tables are built at run time). The epsilon and the aux-loss coefficient
    /// are float constants: the kernels compute in float. MoE rows are constants of MoE models only.
    /// </summary>
    public string? Constant { get; init; }

    /// <summary>
    /// llama.cpp's GGUF metadata key, after the architecture prefix (<see cref="HyperParameters.GgufKey"/>: "qwen3." or
    /// "qwen3moe."), as its HF converter writes it and Qwen3Gen's GGUF reader and writer use it; null when GGUF has
    /// no key for the field (<see cref="GgufNone"/> says how a GGUF file gives it instead). Ints are written as
    /// uint32, doubles as float32.
    /// </summary>
    public string? GgufKey { get; init; }

    /// <summary>
    /// A second GGUF key written with the same value (head_dim is both attention.key_length and value_length); the
    /// reader refuses a file where it differs from <see cref="GgufKey"/>: Qwen3 uses one head_dim for K and V.
    /// </summary>
    public string? GgufSameKey { get; init; }

    /// <summary>Why a row has no <see cref="GgufKey"/>: where a GGUF file's value comes from instead.</summary>
    public string? GgufNone { get; init; }

    /// <summary>Reads / writes the field on <see cref="ShapeValues"/> (null for RoPE rows, held by the RoPE readers).</summary>
    public Func<ShapeValues, object?>? Get { get; init; }
    public Action<ShapeValues, object>? Set { get; init; }

    /// <summary>The default as a person reads it (attribute docs, docs/architecture.md).</summary>
    public string DefaultText =>
        Required ? "required" :
        Derived ? "derived" :
        DefaultFrom is not null ? "default " + DefaultFrom :
        Default is null ? "" :
        Default is bool b ? "default " + (b ? "true" : "false") :
        Default is int[] a ? "default " + (a.Length == 0 ? "none" : string.Join(", ", a)) :
        Default is string s ? "default \"" + s + "\"" :
        "default " + Convert.ToString(Default, System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// The hyper-parameter table: name, Hugging Face key, type, default, validation (ShapeRules.Check, by name) and whether
/// the field changes the computation. Defaults are transformers' (Qwen3Config, Qwen3MoeConfig), for inline definitions
/// and config.json files alike, at compile time and at run time.
/// Adding a hyper-parameter = one row here (plus its ShapeValues field, ModelShape parameter and ModelConfig property,
/// which FieldTableTests checks against the rows) and the math that uses it.
/// </summary>
internal static class HyperParameters
{
    // transformers' defaults, as constants for ModelConfig's initialisers.
    public const double DefaultRopeTheta = 10000.0;       // Qwen3Config(rope_theta=10000.0)
    public const double DefaultRmsNormEps = 1e-6;         // Qwen3Config(rms_norm_eps=1e-06)
    public const int DefaultMaxPositions = 32768;         // Qwen3Config(max_position_embeddings=32768)
    public const int DefaultDecoderSparseStep = 1;        // Qwen3MoeConfig(decoder_sparse_step=1)
    public const double DefaultRouterAuxLossCoef = 0.001; // Qwen3MoeConfig(router_aux_loss_coef=0.001)

    /// <summary>Every field, in the order the attribute, ModelConfig and the attribute text list them.</summary>
    public static readonly Field[] All =
    {
        new("Vocab", "vocab_size", FieldType.Int, FieldScope.All, "vocab_size")
            { Required = true, ChangesComputation = true, Get = v => v.Vocab, Set = (v, x) => v.Vocab = (int)x,
              Constant = "int", GgufNone = "the length of tokenizer.ggml.tokens (checked against token_embd.weight)" },
        new("Hidden", "hidden_size", FieldType.Int, FieldScope.All, "hidden_size")
            { Required = true, ChangesComputation = true, Get = v => v.Hidden, Set = (v, x) => v.Hidden = (int)x,
              Constant = "int", GgufKey = "embedding_length" },
        new("Layers", "num_hidden_layers", FieldType.Int, FieldScope.All, "num_hidden_layers")
            { Required = true, ChangesComputation = true, Get = v => v.Layers, Set = (v, x) => v.Layers = (int)x,
              Constant = "int", GgufKey = "block_count" },
        new("Heads", "num_attention_heads", FieldType.Int, FieldScope.All, "num_attention_heads")
            { Required = true, ChangesComputation = true, Get = v => v.Heads, Set = (v, x) => v.Heads = (int)x,
              Constant = "int", GgufKey = "attention.head_count" },
        new("KvHeads", "num_key_value_heads", FieldType.Int, FieldScope.All, "num_key_value_heads (Heads must be a multiple of it)")
            { DefaultFrom = "Heads", ChangesComputation = true, Get = v => v.KvHeads, Set = (v, x) => v.KvHeads = (int)x,
              Constant = "int", GgufKey = "attention.head_count_kv" },
        new("HeadDim", "head_dim", FieldType.Int, FieldScope.All, "head_dim (independent of Hidden / Heads; when not given, Hidden / Heads)")
            { Derived = true, ChangesComputation = true, Get = v => v.HeadDim, Set = (v, x) => v.HeadDim = (int)x,
              Constant = "int", GgufKey = "attention.key_length", GgufSameKey = "attention.value_length" },
        new("Ffn", "intermediate_size", FieldType.Int, FieldScope.All, "intermediate_size of the dense SwiGLU MLP")
            { Required = true, ChangesComputation = true, Get = v => v.Ffn, Set = (v, x) => v.Ffn = (int)x,
              Constant = "int", GgufKey = "feed_forward_length" },
        new("RopeTheta", "rope_theta", FieldType.Double, FieldScope.All, "rope_theta (Qwen3 checkpoints: 1e6)")
            { Default = DefaultRopeTheta, ChangesComputation = true, Get = v => v.RopeTheta, Set = (v, x) => v.RopeTheta = (double)x,
              Constant = "double", GgufKey = "rope.freq_base" },
        new("RmsNormEps", "rms_norm_eps", FieldType.Double, FieldScope.All, "rms_norm_eps (added inside the square root)")
            { Default = DefaultRmsNormEps, ChangesComputation = true, Get = v => v.RmsNormEps, Set = (v, x) => v.RmsNormEps = (double)x,
              Constant = "float", GgufKey = "attention.layer_norm_rms_epsilon" },
        new("TieEmbeddings", "tie_word_embeddings", FieldType.Bool, FieldScope.All, "tie_word_embeddings: when true, the LM head is the embedding matrix (no lm_head.weight)")
            { Default = false, ChangesComputation = true, Get = v => v.TieEmbeddings, Set = (v, x) => v.TieEmbeddings = (bool)x,
              Constant = "bool", GgufNone = "tied iff the file has no output.weight tensor" },
        new("MaxPositions", "max_position_embeddings", FieldType.Int, FieldScope.All, "max_position_embeddings (Qwen3 checkpoints: 40960)")
            { Default = DefaultMaxPositions, Get = v => v.MaxPositions, Set = (v, x) => v.MaxPositions = (int)x,
              Constant = "int", GgufKey = "context_length" },
        new("Experts", "num_experts", FieldType.Int, FieldScope.Moe, "num_experts (0 = dense model)")
            { Required = true, ChangesComputation = true, Get = v => v.Experts, Set = (v, x) => v.Experts = (int)x,
              Constant = "int", GgufKey = "expert_count" },
        new("ExpertsPerToken", "num_experts_per_tok", FieldType.Int, FieldScope.Moe, "num_experts_per_tok (top-k)")
            { Required = true, ChangesComputation = true, Get = v => v.ExpertsPerToken, Set = (v, x) => v.ExpertsPerToken = (int)x,
              Constant = "int", GgufKey = "expert_used_count" },
        new("ExpertFfn", "moe_intermediate_size", FieldType.Int, FieldScope.Moe, "moe_intermediate_size")
            { Required = true, ChangesComputation = true, Get = v => v.ExpertFfn, Set = (v, x) => v.ExpertFfn = (int)x,
              Constant = "int", GgufKey = "expert_feed_forward_length" },
        new("NormTopKProb", "norm_topk_prob", FieldType.Bool, FieldScope.Moe, "norm_topk_prob: renormalise the k routing weights to sum 1")
            { Default = false, ChangesComputation = true, Get = v => v.NormTopKProb, Set = (v, x) => v.NormTopKProb = (bool)x,
              Constant = "bool", GgufNone = "llama.cpp hard-codes it for qwen3moe: the top-k weights are renormalised (true)" },
        new("DecoderSparseStep", "decoder_sparse_step", FieldType.Int, FieldScope.Moe, "decoder_sparse_step: layer i is sparse iff (i+1) % step == 0")
            { Default = DefaultDecoderSparseStep, ChangesComputation = true, Get = v => v.DecoderSparseStep, Set = (v, x) => v.DecoderSparseStep = (int)x,
              GgufNone = "llama.cpp makes every qwen3moe layer sparse (step 1)" },
        new("MlpOnlyLayers", "mlp_only_layers", FieldType.IntArray, FieldScope.Moe, "mlp_only_layers: layers that keep a dense MLP")
            { Default = new int[0], ChangesComputation = true, Get = v => v.MlpOnlyLayers, Set = (v, x) => v.MlpOnlyLayers = (int[])x,
              GgufNone = "llama.cpp makes every qwen3moe layer sparse (none dense)" },
        new("RouterAuxLossCoef", "router_aux_loss_coef", FieldType.Double, FieldScope.Moe, "router_aux_loss_coef")
            { Default = DefaultRouterAuxLossCoef, Get = v => v.RouterAuxLossCoef, Set = (v, x) => v.RouterAuxLossCoef = (double)x,
              Constant = "float" },
        new("OutputRouterLogits", "output_router_logits", FieldType.Bool, FieldScope.Moe, "output_router_logits: add coef * aux loss to the training loss, as in Hugging Face")
            { Default = false, Get = v => v.OutputRouterLogits, Set = (v, x) => v.OutputRouterLogits = (bool)x,
              Constant = "bool" },
        new("RopeType", "rope_type", FieldType.String, FieldScope.Rope, "rope_scaling.rope_type: \"default\" (no scaling), \"linear\" or \"yarn\"")
            { Default = "default" },
        new("RopeFactor", "factor", FieldType.Double, FieldScope.Rope, "rope_scaling.factor: the context extension (Qwen3 with YaRN: 4.0); required by linear and yarn"),
        new("RopeOriginalMaxPositions", "original_max_position_embeddings", FieldType.Int, FieldScope.Rope, "rope_scaling.original_max_position_embeddings (Qwen3: 32768)")
            { DefaultFrom = "MaxPositions" },
        new("RopeBetaFast", "beta_fast", FieldType.Double, FieldScope.Rope, "rope_scaling.beta_fast (YaRN)") { Default = 32.0 },
        new("RopeBetaSlow", "beta_slow", FieldType.Double, FieldScope.Rope, "rope_scaling.beta_slow (YaRN)") { Default = 1.0 },
        new("RopeAttentionFactor", "attention_factor", FieldType.Double, FieldScope.Rope, "rope_scaling.attention_factor (YaRN; when not given, 0.1 ln(factor) + 1, or from RopeMscale / RopeMscaleAllDim)"),
        new("RopeMscale", "mscale", FieldType.Double, FieldScope.Rope, "rope_scaling.mscale (YaRN, with RopeMscaleAllDim)"),
        new("RopeMscaleAllDim", "mscale_all_dim", FieldType.Double, FieldScope.Rope, "rope_scaling.mscale_all_dim (YaRN, with RopeMscale)"),
        new("RopeTruncate", "truncate", FieldType.Bool, FieldScope.Rope, "rope_scaling.truncate (YaRN): round the ramp bounds to whole dimensions") { Default = true },
    };

    private static readonly Dictionary<string, Field> ByName = Index();

    private static Dictionary<string, Field> Index()
    {
        var d = new Dictionary<string, Field>(StringComparer.Ordinal);
        foreach (var f in All) d[f.Name] = f;
        return d;
    }

    /// <summary>The row of <paramref name="name"/> (a [Qwen3Model] property), or null.</summary>
    public static Field? Find(string name) => ByName.TryGetValue(name, out var f) ? f : null;

    /// <summary>The config.json key of a property as messages write it (RoPE fields as rope_scaling.KEY).</summary>
    public static string JsonKey(string name) =>
        Find(name) is not { } f ? name : f.Scope == FieldScope.Rope ? "rope_scaling." + f.Key : f.Key;

    /// <summary>general.architecture of a GGUF file of a dense / MoE model, and the prefix of its hyper-parameter keys.</summary>
    public const string GgufDense = "qwen3", GgufMoe = "qwen3moe";

    /// <summary>The GGUF key of <paramref name="key"/> (a row's <see cref="Field.GgufKey"/>) in a file of <paramref name="architecture"/>.</summary>
    public static string GgufKey(string architecture, string key) => architecture + "." + key;

    /// <summary>The rows a GGUF file of a dense (<paramref name="moe"/> false) or MoE model carries keys for, in table order.</summary>
    public static IEnumerable<Field> GgufFields(bool moe)
    {
        foreach (var f in All)
            if (f.GgufKey is not null && (f.Scope == FieldScope.All || (f.Scope == FieldScope.Moe && moe))) yield return f;
    }

    /// <summary>The RoPE scaling fields other than RopeType.</summary>
    public static IEnumerable<Field> RopeScaling()
    {
        foreach (var f in All) if (f.Scope == FieldScope.Rope && f.Name != "RopeType") yield return f;
    }

    /// <summary>The MoE-only fields (giving any of them inline without Experts is QG0021).</summary>
    public static IEnumerable<Field> MoeOnly()
    {
        foreach (var f in All) if (f.Scope == FieldScope.Moe && f.Name != "Experts") yield return f;
    }

    /// <summary>Sets <paramref name="field"/> on <paramref name="values"/> to its default (absent or null in the source).</summary>
    public static void ApplyDefault(ShapeValues values, Field field)
    {
        if (field.Set is null) return;
        if (field.Required) field.Set(values, field.Type == FieldType.IntArray ? new int[0] : (object)0);
        else if (field.Derived) values.HeadDim = null;
        else if (field.DefaultFrom is { } other) field.Set(values, Find(other)!.Get!(values)!);
        else if (field.Default is int[] array) field.Set(values, array.Clone());
        else if (field.Default is { } value) field.Set(values, value);
    }
}
