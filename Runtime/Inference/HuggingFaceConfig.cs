using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Qwen3Gen.Models;

namespace Qwen3Gen.Inference;

/// <summary>
/// config.json beyond what <see cref="ModelConfig.FromHuggingFaceJson"/> reads: the fields that would change the
/// computation in ways no generated model implements (refused with a message), and the writer that produces
/// a snapshot's config.json.
/// </summary>
public static class HuggingFaceConfig
{
    public const string FileName = "config.json";

    /// <summary>
    /// Throws <see cref="NotSupportedException"/> for settings a generated model does not implement: sliding-window
    /// attention, an activation other than SiLU, attention biases (RoPE scaling types other than default, linear and
    /// yarn are refused by <see cref="RopeScalingJson"/>).
    /// Published Qwen3 configs pass (spec §5, §8).
    /// </summary>
    public static void CheckSupported(string json, string source = FileName)
    {
        using var document = JsonFiles.ParseObject(json, source);
        var root = document.RootElement;
        // Switches Python tests for truth (the generator's rule, Rules.ShapeRules.FalseOnlyFlags): only false, null or absent.
        foreach (var (key, why) in Rules.ShapeRules.FalseOnlyFlags)
        {
            if (!root.TryGetProperty(key, out var flag) || flag.ValueKind is JsonValueKind.False or JsonValueKind.Null) continue;
            if (flag.ValueKind == JsonValueKind.True) throw new NotSupportedException($"{source}: {key} is true; {why}.");
            throw new InvalidDataException($"{source}: '{key}' is {ModelConfig.Describe(flag)}; expected false or null (Python would read it as true: {why}).");
        }
        if (root.TryGetProperty("hidden_act", out var act) && act.ValueKind != JsonValueKind.Null && (act.ValueKind != JsonValueKind.String || act.GetString() != "silu"))
            throw new NotSupportedException($"{source}: hidden_act is {(act.ValueKind == JsonValueKind.String ? $"'{act.GetString()}'" : ModelConfig.Describe(act))}; Qwen3's SwiGLU MLP uses 'silu'.");
        if (root.TryGetProperty("layer_types", out var layerTypes) && layerTypes.ValueKind == JsonValueKind.Array)
            foreach (var type in layerTypes.EnumerateArray())
                if (type.ValueKind != JsonValueKind.String || type.GetString() != "full_attention")
                    throw new NotSupportedException($"{source}: layer_types contains {ModelConfig.Describe(type)}; only \"full_attention\" layers are implemented.");
    }

    /// <summary>
    /// A config.json as a Hub snapshot has it: <see cref="ModelConfig.ToHuggingFaceJson"/> plus the bos/eos ids
    /// (151643 / 151645, spec §8) when the vocabulary holds Qwen3's special tokens, and transformers_version.
    /// </summary>
    public static string ToJson(ModelConfig config, string torchDtype = "bfloat16")
    {
        ArgumentNullException.ThrowIfNull(config);
        var o = JsonNode.Parse(config.ToHuggingFaceJson(torchDtype))!.AsObject();
        if (config.Vocab > GenerationConfig.ImEnd)
        {
            o["bos_token_id"] = GenerationConfig.EndOfText;
            o["eos_token_id"] = GenerationConfig.ImEnd;
        }
        o["transformers_version"] = "4.51.0";
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
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
}
