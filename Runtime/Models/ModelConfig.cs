using System.Globalization;
using System.Text.Json;
using Qwen3Gen.Kernels;

namespace Qwen3Gen.Models;

/// <summary>
/// The hyper-parameters of a Qwen3 / Qwen3-MoE model, named as in the [Qwen3Model] attribute
/// (Hugging Face config.json names in comments). Every generated model exposes one; checkpoints
/// carry one; a model directory's config.json is read into one.
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
    public double RopeTheta { get; init; } = 1e6;   // rope_theta
    public double RmsNormEps { get; init; } = 1e-6; // rms_norm_eps
    public bool TieEmbeddings { get; init; }        // tie_word_embeddings
    public int MaxPositions { get; init; } = 40960; // max_position_embeddings
    public int Experts { get; init; }               // num_experts (0 = dense)
    public int ExpertsPerToken { get; init; }       // num_experts_per_tok
    public int ExpertFfn { get; init; }             // moe_intermediate_size
    public bool NormTopKProb { get; init; }         // norm_topk_prob
    public int DecoderSparseStep { get; init; } = 1; // decoder_sparse_step
    public int[] MlpOnlyLayers { get; init; } = []; // mlp_only_layers
    public double RouterAuxLossCoef { get; init; } = 0.001; // router_aux_loss_coef
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
    public bool IsSparse(int layer) => Experts > 0 && Array.IndexOf(MlpOnlyLayers, layer) < 0 && (layer + 1) % DecoderSparseStep == 0;

    /// <summary>The fields that define the computation, as (name, value) pairs, for comparisons and messages.</summary>
    public IEnumerable<(string Name, string Value)> Fields()
    {
        static string D(double d) => d.ToString("R", CultureInfo.InvariantCulture);
        yield return (nameof(Vocab), Vocab.ToString(CultureInfo.InvariantCulture));
        yield return (nameof(Hidden), Hidden.ToString(CultureInfo.InvariantCulture));
        yield return (nameof(Layers), Layers.ToString(CultureInfo.InvariantCulture));
        yield return (nameof(Heads), Heads.ToString(CultureInfo.InvariantCulture));
        yield return (nameof(KvHeads), KvHeads.ToString(CultureInfo.InvariantCulture));
        yield return (nameof(HeadDim), HeadDim.ToString(CultureInfo.InvariantCulture));
        yield return (nameof(Ffn), Ffn.ToString(CultureInfo.InvariantCulture));
        yield return (nameof(RopeTheta), D(RopeTheta));
        yield return (nameof(RmsNormEps), D(RmsNormEps));
        yield return (nameof(TieEmbeddings), TieEmbeddings ? "true" : "false");
        yield return (nameof(Experts), Experts.ToString(CultureInfo.InvariantCulture));
        if (IsMoe)
        {
            yield return (nameof(ExpertsPerToken), ExpertsPerToken.ToString(CultureInfo.InvariantCulture));
            yield return (nameof(ExpertFfn), ExpertFfn.ToString(CultureInfo.InvariantCulture));
            yield return (nameof(NormTopKProb), NormTopKProb ? "true" : "false");
            yield return (nameof(DecoderSparseStep), DecoderSparseStep.ToString(CultureInfo.InvariantCulture));
            yield return (nameof(MlpOnlyLayers), "[" + string.Join(", ", MlpOnlyLayers) + "]");
        }
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

    /// <summary>A Hugging Face config.json for this model (what Qwen3ForCausalLM / Qwen3MoeForCausalLM read).</summary>
    public string ToHuggingFaceJson(string torchDtype = "float32")
    {
        var o = new System.Text.Json.Nodes.JsonObject
        {
            ["architectures"] = new System.Text.Json.Nodes.JsonArray(IsMoe ? "Qwen3MoeForCausalLM" : "Qwen3ForCausalLM"),
            ["model_type"] = IsMoe ? "qwen3_moe" : "qwen3",
            ["vocab_size"] = Vocab,
            ["hidden_size"] = Hidden,
            ["intermediate_size"] = Ffn,
            ["num_hidden_layers"] = Layers,
            ["num_attention_heads"] = Heads,
            ["num_key_value_heads"] = KvHeads,
            ["head_dim"] = HeadDim,
            ["hidden_act"] = "silu",
            ["max_position_embeddings"] = MaxPositions,
            ["initializer_range"] = 0.02,
            ["rms_norm_eps"] = RmsNormEps,
            ["rope_theta"] = RopeTheta,
            ["rope_scaling"] = RopeScaling.ToJsonObject(),
            ["tie_word_embeddings"] = TieEmbeddings,
            ["attention_bias"] = false,
            ["attention_dropout"] = 0.0,
            ["use_sliding_window"] = false,
            ["sliding_window"] = null,
            ["max_window_layers"] = Layers,
            ["use_cache"] = true,
            ["torch_dtype"] = torchDtype,
        };
        if (IsMoe)
        {
            o["decoder_sparse_step"] = DecoderSparseStep;
            o["mlp_only_layers"] = new System.Text.Json.Nodes.JsonArray(MlpOnlyLayers.Select(i => (System.Text.Json.Nodes.JsonNode?)i).ToArray());
            o["moe_intermediate_size"] = ExpertFfn;
            o["num_experts"] = Experts;
            o["num_experts_per_tok"] = ExpertsPerToken;
            o["norm_topk_prob"] = NormTopKProb;
            o["output_router_logits"] = OutputRouterLogits;
            o["router_aux_loss_coef"] = RouterAuxLossCoef;
        }
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>
    /// Reads a Hugging Face config.json (model_type qwen3 or qwen3_moe) with the generator's rules: a field of the wrong
    /// JSON kind, a non-integer size or a value out of range is an <see cref="InvalidDataException"/> naming
    /// <paramref name="source"/>, the field and the rule (the QG id and message the generator would report).
    /// Absent or null optional fields take transformers' defaults.
    /// </summary>
    public static ModelConfig FromHuggingFaceJson(string json, string source = "config.json")
    {
        using (var document = JsonFiles.ParseObject(json, source))
        {
            var root = document.RootElement;
            string modelType = root.TryGetProperty("model_type", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString()! : "";
            if (modelType != "qwen3" && modelType != "qwen3_moe")
                throw new InvalidDataException($"{source}: model_type is '{modelType}', expected 'qwen3' or 'qwen3_moe'.");

            JsonElement? Field(JsonElement obj, string name) =>
                obj.TryGetProperty(name, out var e) && e.ValueKind != JsonValueKind.Null ? e : null;
            InvalidDataException Wrong(string name, JsonElement e, string expected) =>
                new($"{source}: '{name}' is {Describe(e)}; expected {expected}.");
            int ToInt(string name, JsonElement e)
            {
                if (e.ValueKind != JsonValueKind.Number || !e.TryGetDouble(out double d) || Math.Floor(d) != d)
                    throw Wrong(name, e, "an integer");
                if (!e.TryGetInt32(out int value)) throw Wrong(name, e, "an integer within int range (at most 2147483647)");
                return value;
            }
            int Int(string name, int? fallback = null) => Field(root, name) is JsonElement e ? ToInt(name, e)
                : fallback ?? throw new InvalidDataException($"{source}: missing field '{name}'.");
            double Dbl(JsonElement obj, string name, double fallback) => Field(obj, name) is not JsonElement e ? fallback
                : e.ValueKind == JsonValueKind.Number ? e.GetDouble() : throw Wrong(name, e, "a number");
            bool Bool(string name, bool fallback) => Field(root, name) is not JsonElement e ? fallback
                : e.ValueKind is JsonValueKind.True or JsonValueKind.False ? e.GetBoolean() : throw Wrong(name, e, "true or false");

            bool moe = modelType == "qwen3_moe";
            int hidden = Int("hidden_size"), heads = Int("num_attention_heads");
            int? headDim = Field(root, "head_dim") is JsonElement hd ? ToInt("head_dim", hd) : null;
            double theta = Dbl(root, "rope_theta", 10000.0);
            if (Field(root, "rope_parameters") is { ValueKind: JsonValueKind.Object } rp) theta = Dbl(rp, "rope_theta", theta);
            int[] mlpOnly = [];
            if (moe && Field(root, "mlp_only_layers") is JsonElement mol)
            {
                if (mol.ValueKind != JsonValueKind.Array) throw Wrong("mlp_only_layers", mol, "an array of integers");
                mlpOnly = mol.EnumerateArray().Select((e, i) => ToInt($"mlp_only_layers[{i}]", e)).ToArray();
            }
            var values = new Rules.ShapeValues
            {
                Vocab = Int("vocab_size"), Hidden = hidden, Layers = Int("num_hidden_layers"), Heads = heads,
                KvHeads = Int("num_key_value_heads", heads), HeadDim = headDim, Ffn = Int("intermediate_size"),
                RopeTheta = theta, RmsNormEps = Dbl(root, "rms_norm_eps", 1e-6),
                TieEmbeddings = Bool("tie_word_embeddings", false), MaxPositions = Int("max_position_embeddings", 32768),
                Experts = moe ? Int("num_experts") : 0,
                ExpertsPerToken = moe ? Int("num_experts_per_tok") : 0,
                ExpertFfn = moe ? Int("moe_intermediate_size") : 0,
                DecoderSparseStep = moe ? Int("decoder_sparse_step", 1) : 1,
                MlpOnlyLayers = mlpOnly,
                RouterAuxLossCoef = moe ? Dbl(root, "router_aux_loss_coef", 0.001) : 0.001,
                NameOf = HuggingFaceKey,
            };
            var problems = new List<Rules.ShapeProblem>();
            int resolvedHeadDim = Rules.ShapeRules.Check(values, problems);
            var errors = problems.Where(p => !p.IsWarning).Select(p => $"{p.Id}: {p.Message}").ToList();
            if (errors.Count > 0) throw new InvalidDataException($"{source}: {string.Join("; ", errors)}.");
            var ropeScaling = RopeScalingJson.Read(root, values.MaxPositions, source);
            return new ModelConfig
            {
                Vocab = values.Vocab,
                Hidden = hidden,
                Layers = values.Layers,
                Heads = heads,
                KvHeads = values.KvHeads,
                HeadDim = resolvedHeadDim,
                Ffn = values.Ffn,
                RopeTheta = theta,
                RmsNormEps = values.RmsNormEps,
                TieEmbeddings = values.TieEmbeddings,
                MaxPositions = values.MaxPositions,
                RopeScaling = ropeScaling,
                Experts = values.Experts,
                ExpertsPerToken = values.ExpertsPerToken,
                ExpertFfn = values.ExpertFfn,
                NormTopKProb = moe && Bool("norm_topk_prob", false),
                DecoderSparseStep = values.DecoderSparseStep,
                MlpOnlyLayers = mlpOnly,
                RouterAuxLossCoef = values.RouterAuxLossCoef,
                OutputRouterLogits = moe && Bool("output_router_logits", false),
            };
        }
    }

    /// <summary>The config.json key of a [Qwen3Model] property, for messages about a config.json.</summary>
    internal static string HuggingFaceKey(string property) => property switch
    {
        nameof(Vocab) => "vocab_size",
        nameof(Hidden) => "hidden_size",
        nameof(Layers) => "num_hidden_layers",
        nameof(Heads) => "num_attention_heads",
        nameof(KvHeads) => "num_key_value_heads",
        nameof(HeadDim) => "head_dim",
        nameof(Ffn) => "intermediate_size",
        nameof(RopeTheta) => "rope_theta",
        nameof(RmsNormEps) => "rms_norm_eps",
        nameof(TieEmbeddings) => "tie_word_embeddings",
        nameof(MaxPositions) => "max_position_embeddings",
        nameof(Experts) => "num_experts",
        nameof(ExpertsPerToken) => "num_experts_per_tok",
        nameof(ExpertFfn) => "moe_intermediate_size",
        nameof(NormTopKProb) => "norm_topk_prob",
        nameof(DecoderSparseStep) => "decoder_sparse_step",
        nameof(MlpOnlyLayers) => "mlp_only_layers",
        nameof(RouterAuxLossCoef) => "router_aux_loss_coef",
        nameof(OutputRouterLogits) => "output_router_logits",
        _ => property,
    };

    /// <summary>How a JSON value reads in a message: numbers and literals as written, strings quoted, containers by kind.</summary>
    internal static string Describe(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        _ => e.GetRawText(),
    };
}
