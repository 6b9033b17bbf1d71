using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Qwen3Gen.Inference;

/// <summary>
/// config.json beyond what <see cref="ModelConfig.FromHuggingFaceJson"/> reads: the fields that would change the
/// computation in ways no generated model implements (refused with a message), and the writer that produces
/// a config.json transformers loads (every field of a published Qwen3 / Qwen3-MoE config, spec §8).
/// </summary>
public static class HuggingFaceConfig
{
    public const string FileName = "config.json";

    /// <summary>
    /// Throws <see cref="NotSupportedException"/> for settings a generated model does not implement: sliding-window
    /// attention, RoPE scaling other than "default", an activation other than SiLU, attention biases.
    /// Published Qwen3 configs pass (spec §5, §8).
    /// </summary>
    public static void CheckSupported(string json, string source = FileName)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object) return; // FromHuggingFaceJson reports it
        if (root.TryGetProperty("use_sliding_window", out var sw) && sw.ValueKind == JsonValueKind.True)
            throw new NotSupportedException($"{source}: use_sliding_window is true; sliding-window attention is not implemented (no published Qwen3 uses it).");
        if (root.TryGetProperty("hidden_act", out var act) && act.ValueKind == JsonValueKind.String && act.GetString() != "silu")
            throw new NotSupportedException($"{source}: hidden_act is '{act.GetString()}'; Qwen3's SwiGLU MLP uses 'silu'.");
        if (root.TryGetProperty("attention_bias", out var bias) && bias.ValueKind == JsonValueKind.True)
            throw new NotSupportedException($"{source}: attention_bias is true; the generated attention has no biases (no published Qwen3 has them).");
        foreach (var name in (string[])["rope_scaling", "rope_parameters"])
        {
            if (!root.TryGetProperty(name, out var rope) || rope.ValueKind != JsonValueKind.Object) continue;
            string type = rope.TryGetProperty("rope_type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()!
                        : rope.TryGetProperty("type", out var t2) && t2.ValueKind == JsonValueKind.String ? t2.GetString()! : "default";
            if (type != "default")
                throw new NotSupportedException($"{source}: {name}.rope_type is '{type}'; only the default RoPE (no scaling) is implemented.");
        }
    }

    /// <summary>
    /// A config.json for <paramref name="config"/> with the fields transformers writes for Qwen3 (model_type qwen3) or
    /// Qwen3-MoE (qwen3_moe). bos/eos ids are Qwen3's (151643 / 151645) when the vocabulary holds them.
    /// </summary>
    public static string ToJson(ModelConfig config, string torchDtype = "bfloat16")
    {
        ArgumentNullException.ThrowIfNull(config);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            bool moe = config.IsMoe;
            bool qwenIds = config.Vocab > GenerationConfig.ImEnd;
            // Keys in alphabetical order, as transformers' to_json_string(sort_keys=True) writes them.
            var fields = new SortedDictionary<string, Action>(StringComparer.Ordinal)
            {
                ["architectures"] = () => { w.WriteStartArray("architectures"); w.WriteStringValue(moe ? "Qwen3MoeForCausalLM" : "Qwen3ForCausalLM"); w.WriteEndArray(); },
                ["attention_bias"] = () => w.WriteBoolean("attention_bias", false),
                ["attention_dropout"] = () => w.WriteNumber("attention_dropout", 0.0),
                ["head_dim"] = () => w.WriteNumber("head_dim", config.HeadDim),
                ["hidden_act"] = () => w.WriteString("hidden_act", "silu"),
                ["hidden_size"] = () => w.WriteNumber("hidden_size", config.Hidden),
                ["initializer_range"] = () => w.WriteNumber("initializer_range", 0.02),
                ["intermediate_size"] = () => w.WriteNumber("intermediate_size", config.Ffn),
                ["max_position_embeddings"] = () => w.WriteNumber("max_position_embeddings", config.MaxPositions),
                ["max_window_layers"] = () => w.WriteNumber("max_window_layers", config.Layers),
                ["model_type"] = () => w.WriteString("model_type", moe ? "qwen3_moe" : "qwen3"),
                ["num_attention_heads"] = () => w.WriteNumber("num_attention_heads", config.Heads),
                ["num_hidden_layers"] = () => w.WriteNumber("num_hidden_layers", config.Layers),
                ["num_key_value_heads"] = () => w.WriteNumber("num_key_value_heads", config.KvHeads),
                ["rms_norm_eps"] = () => WriteDouble(w, "rms_norm_eps", config.RmsNormEps),
                ["rope_scaling"] = () => w.WriteNull("rope_scaling"),
                ["rope_theta"] = () => WriteDouble(w, "rope_theta", config.RopeTheta),
                ["sliding_window"] = () => w.WriteNull("sliding_window"),
                ["tie_word_embeddings"] = () => w.WriteBoolean("tie_word_embeddings", config.TieEmbeddings),
                ["torch_dtype"] = () => w.WriteString("torch_dtype", torchDtype),
                ["transformers_version"] = () => w.WriteString("transformers_version", "4.51.0"),
                ["use_cache"] = () => w.WriteBoolean("use_cache", true),
                ["use_sliding_window"] = () => w.WriteBoolean("use_sliding_window", false),
                ["vocab_size"] = () => w.WriteNumber("vocab_size", config.Vocab),
            };
            if (qwenIds)
            {
                fields["bos_token_id"] = () => w.WriteNumber("bos_token_id", GenerationConfig.EndOfText);
                fields["eos_token_id"] = () => w.WriteNumber("eos_token_id", GenerationConfig.ImEnd);
            }
            if (moe)
            {
                fields["decoder_sparse_step"] = () => w.WriteNumber("decoder_sparse_step", config.DecoderSparseStep);
                fields["mlp_only_layers"] = () => { w.WriteStartArray("mlp_only_layers"); foreach (int l in config.MlpOnlyLayers) w.WriteNumberValue(l); w.WriteEndArray(); };
                fields["moe_intermediate_size"] = () => w.WriteNumber("moe_intermediate_size", config.ExpertFfn);
                fields["norm_topk_prob"] = () => w.WriteBoolean("norm_topk_prob", config.NormTopKProb);
                fields["num_experts"] = () => w.WriteNumber("num_experts", config.Experts);
                fields["num_experts_per_tok"] = () => w.WriteNumber("num_experts_per_tok", config.ExpertsPerToken);
                fields["output_router_logits"] = () => w.WriteBoolean("output_router_logits", config.OutputRouterLogits);
                fields["router_aux_loss_coef"] = () => WriteDouble(w, "router_aux_loss_coef", config.RouterAuxLossCoef);
            }
            w.WriteStartObject();
            foreach (var write in fields.Values) write();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    /// <summary>
    /// The <c>[Qwen3Model(...)]</c> attribute that declares <paramref name="config"/> inline (every field the
    /// definition needs; MoE fields only for MoE), for error messages and docs.
    /// </summary>
    public static string AttributeText(ModelConfig config)
    {
        static string D(double d)
        {
            // How a person writes them, value unchanged: 1000000 -> 1e6, 5000000 -> 5e6, 10000 -> 10_000, 1E-06 -> 1e-6.
            if (d >= 1e5 && d == Math.Floor(d) && d < 1e15)
            {
                int k = (int)Math.Floor(Math.Log10(d));
                double m = d / Math.Pow(10, k);
                if (m == Math.Round(m, 2) && Math.Round(m, 2) * Math.Pow(10, k) == d)
                    return Math.Round(m, 2).ToString("R", CultureInfo.InvariantCulture) + "e" + k.ToString(CultureInfo.InvariantCulture);
            }
            if (d >= 1e4 && d == Math.Floor(d) && d < 1e15) return I((long)d);
            string r = d.ToString("R", CultureInfo.InvariantCulture);
            int e = r.IndexOf('E');
            if (e < 0) return r;
            int exponent = int.Parse(r.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            return r[..e] + "e" + exponent.ToString(CultureInfo.InvariantCulture);
        }
        static string I(long i) => i >= 10_000 ? i.ToString("#,0", CultureInfo.InvariantCulture).Replace(',', '_') : i.ToString(CultureInfo.InvariantCulture);
        static string B(bool b) => b ? "true" : "false";
        var parts = new List<string>
        {
            $"Vocab = {I(config.Vocab)}", $"Hidden = {I(config.Hidden)}", $"Layers = {I(config.Layers)}",
            $"Heads = {I(config.Heads)}", $"KvHeads = {I(config.KvHeads)}", $"HeadDim = {I(config.HeadDim)}",
            $"Ffn = {I(config.Ffn)}", $"RopeTheta = {D(config.RopeTheta)}", $"RmsNormEps = {D(config.RmsNormEps)}",
            $"TieEmbeddings = {B(config.TieEmbeddings)}", $"MaxPositions = {I(config.MaxPositions)}",
        };
        if (config.IsMoe)
        {
            parts.Add($"Experts = {I(config.Experts)}");
            parts.Add($"ExpertsPerToken = {I(config.ExpertsPerToken)}");
            parts.Add($"ExpertFfn = {I(config.ExpertFfn)}");
            parts.Add($"NormTopKProb = {B(config.NormTopKProb)}");
            parts.Add($"DecoderSparseStep = {I(config.DecoderSparseStep)}");
            if (config.MlpOnlyLayers.Length > 0) parts.Add($"MlpOnlyLayers = new[] {{ {string.Join(", ", config.MlpOnlyLayers)} }}");
            parts.Add($"RouterAuxLossCoef = {D(config.RouterAuxLossCoef)}");
            parts.Add($"OutputRouterLogits = {B(config.OutputRouterLogits)}");
        }
        // Four fields per line, continuation lines aligned under the first argument.
        var lines = new List<string>();
        for (int i = 0; i < parts.Count; i += 4) lines.Add(string.Join(", ", parts.Skip(i).Take(4)));
        return "[Qwen3Model(" + string.Join(",\n             ", lines) + ")]";
    }

    // Integral doubles as integers (rope_theta 1000000), others in round-trip form (1e-06 -> 1E-06 is valid JSON).
    private static void WriteDouble(Utf8JsonWriter w, string name, double value)
    {
        if (value == Math.Floor(value) && Math.Abs(value) < 1e15) w.WriteNumber(name, (long)value);
        else w.WriteNumber(name, value);
    }
}
