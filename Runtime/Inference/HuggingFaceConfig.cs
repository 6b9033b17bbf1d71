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
    /// attention, an activation other than SiLU, attention biases, layer types other than full attention (RoPE scaling
    /// types other than default, linear and yarn are refused by <see cref="ModelConfig.FromHuggingFaceJson"/>). The same check
    /// <see cref="ModelConfig.FromHuggingFaceJson"/> and the generator make (Generator/Rules/ConfigFields.cs), with
    /// the generator's QG0014 message. Published Qwen3 configs pass (spec §5, §8).
    /// </summary>
    public static void CheckSupported(string json, string source = FileName) => ModelConfig.CheckSupported(json, source);

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
    /// The <c>[Qwen3Model(...)]</c> attribute that declares <paramref name="config"/> inline: the table's fields of this
    /// model in table order (MoE fields only for MoE, an empty MlpOnlyLayers left out), for error messages and docs.
    /// RoPE scaling is not written: it does not select a compiled definition.
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
        var parts = new List<string>();
        foreach (var field in config.ConfigFieldsOfThisModel())
        {
            string? text = config.Get(field) switch
            {
                int i => I(i),
                double d => D(d),
                bool b => b ? "true" : "false",
                int[] { Length: 0 } => null,
                int[] a => $"new[] {{ {string.Join(", ", a)} }}",
                _ => null,
            };
            if (text is not null) parts.Add($"{field.Name} = {text}");
        }
        // Four fields per line, continuation lines aligned under the first argument.
        var lines = new List<string>();
        for (int i = 0; i < parts.Count; i += 4) lines.Add(string.Join(", ", parts.Skip(i).Take(4)));
        return "[Qwen3Model(" + string.Join(",\n             ", lines) + ")]";
    }
}
