using System.Text.RegularExpressions;

namespace Qwen3Gen.Checkpoints;

/// <summary>
/// GGUF tensor names (llama.cpp's) ↔ Hugging Face keys, for <c>qwen3</c> and <c>qwen3moe</c> (gguf-py's
/// <c>get_tensor_name_map</c>). Q/K rows are stored as in HF (Qwen3 uses NEOX RoPE, llama.cpp's converter
/// does not permute them), so no row reordering is needed. MoE experts are stacked: HF's
/// <c>mlp.experts.{e}.gate_proj.weight</c> is matrix e of <c>blk.i.ffn_gate_exps.weight</c>.
/// </summary>
public static partial class GgufNames
{
    /// <summary>A GGUF tensor (and, for stacked experts, the expert index) that holds an HF key.</summary>
    public readonly record struct Source(string Name, int Expert = -1);

    private static readonly (string Gguf, string Hf)[] Global =
    [
        ("token_embd.weight", "model.embed_tokens.weight"),
        ("output_norm.weight", "model.norm.weight"),
        ("output.weight", "lm_head.weight"),
    ];

    private static readonly (string Gguf, string Hf)[] PerLayer =
    [
        ("attn_norm.weight", "input_layernorm.weight"),
        ("attn_q.weight", "self_attn.q_proj.weight"),
        ("attn_k.weight", "self_attn.k_proj.weight"),
        ("attn_v.weight", "self_attn.v_proj.weight"),
        ("attn_output.weight", "self_attn.o_proj.weight"),
        ("attn_q_norm.weight", "self_attn.q_norm.weight"),
        ("attn_k_norm.weight", "self_attn.k_norm.weight"),
        ("ffn_norm.weight", "post_attention_layernorm.weight"),
        ("ffn_gate.weight", "mlp.gate_proj.weight"),
        ("ffn_up.weight", "mlp.up_proj.weight"),
        ("ffn_down.weight", "mlp.down_proj.weight"),
        ("ffn_gate_inp.weight", "mlp.gate.weight"),
    ];

    private static readonly (string Gguf, string Hf)[] Experts =
    [
        ("ffn_gate_exps.weight", "gate_proj.weight"),
        ("ffn_up_exps.weight", "up_proj.weight"),
        ("ffn_down_exps.weight", "down_proj.weight"),
    ];

    [GeneratedRegex(@"^model\.layers\.(\d+)\.(.+)$")]
    private static partial Regex LayerKey();

    [GeneratedRegex(@"^mlp\.experts\.(\d+)\.(.+)$")]
    private static partial Regex ExpertKey();

    /// <summary>Where the HF key <paramref name="hfKey"/> lives in a GGUF file, or null for a key with no GGUF name.</summary>
    public static Source? ToGguf(string hfKey)
    {
        foreach (var (g, h) in Global)
            if (h == hfKey) return new Source(g);
        var layer = LayerKey().Match(hfKey);
        if (!layer.Success) return null;
        string i = layer.Groups[1].Value, rest = layer.Groups[2].Value;
        foreach (var (g, h) in PerLayer)
            if (h == rest) return new Source($"blk.{i}.{g}");
        var expert = ExpertKey().Match(rest);
        if (!expert.Success) return null;
        foreach (var (g, h) in Experts)
            if (h == expert.Groups[2].Value) return new Source($"blk.{i}.{g}", int.Parse(expert.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        return null;
    }

    /// <summary>The HF key of a (non-stacked) GGUF tensor, or null.</summary>
    public static string? ToHuggingFace(string ggufName)
    {
        foreach (var (g, h) in Global)
            if (g == ggufName) return h;
        if (!ggufName.StartsWith("blk.", StringComparison.Ordinal)) return null;
        int dot = ggufName.IndexOf('.', 4);
        if (dot < 0) return null;
        string i = ggufName[4..dot], rest = ggufName[(dot + 1)..];
        foreach (var (g, h) in PerLayer)
            if (g == rest) return $"model.layers.{i}.{h}";
        return null;
    }

    /// <summary>Every GGUF name a Qwen3 file may hold for a model of <paramref name="layers"/> layers (stacked experts included).</summary>
    public static IEnumerable<string> Known(int layers)
    {
        foreach (var (g, _) in Global) yield return g;
        for (int l = 0; l < layers; l++)
        {
            foreach (var (g, _) in PerLayer) yield return $"blk.{l}.{g}";
            foreach (var (g, _) in Experts) yield return $"blk.{l}.{g}";
        }
    }
}
