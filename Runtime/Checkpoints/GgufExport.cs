using Qwen3Gen.Quantization;
using Qwen3Gen.Models;
using Qwen3Gen.Rules;

namespace Qwen3Gen.Checkpoints;

/// <summary>The quantisation recipes of <c>qwen3gen quantize</c> (llama.cpp's <c>general.file_type</c> in brackets).</summary>
public enum GgufRecipe
{
    /// <summary>Everything F32 (ALL_F32 = 0).</summary>
    F32,
    /// <summary>Every matrix Q8_0, the LM head / tied embedding included (MOSTLY_Q8_0 = 7).</summary>
    Q8_0,
    /// <summary>Every matrix Q4_0 except the output matrix, Q6_K (MOSTLY_Q4_0 = 2).</summary>
    Q4_0,
    /// <summary>
    /// Q4_K, with Q6_K for the output matrix and for <c>attn_v</c> / <c>ffn_down</c> in the "more bits" layers
    /// (MOSTLY_Q4_K_M = 15; llama-quantize's <c>Q4_K</c> is the same recipe).
    /// </summary>
    Q4_K_M,
    /// <summary>The Q4_K_M rule with Q5_K in place of Q4_K (MOSTLY_Q5_K_M = 17; llama-quantize's <c>Q5_K</c>).</summary>
    Q5_K_M,
    /// <summary>Every matrix Q6_K (MOSTLY_Q6_K = 18).</summary>
    Q6_K,
}

/// <summary>
/// Writes a model's weights as a GGUF file llama.cpp reads (<c>qwen3</c> / <c>qwen3moe</c>): the metadata keys of
/// llama.cpp's HF converter, the tokenizer (<see cref="Tokenization.GgufTokenizer"/>), HF keys renamed
/// (<see cref="GgufNames"/>), experts stacked, 1-D tensors F32, matrices quantised by the recipe (<see cref="TypeFor"/>)
/// with GGML's reference quantisers (<see cref="Quantize"/>).
/// </summary>
public static unsafe class GgufExport
{
    public static int FileType(GgufRecipe recipe) => recipe switch
    {
        GgufRecipe.F32 => 0,
        GgufRecipe.Q8_0 => 7,
        GgufRecipe.Q4_0 => 2,
        GgufRecipe.Q4_K_M => 15,
        GgufRecipe.Q5_K_M => 17,
        GgufRecipe.Q6_K => 18,
        _ => throw new ArgumentOutOfRangeException(nameof(recipe)),
    };

    /// <summary>
    /// The type a tensor gets, following llama.cpp's <c>llama_tensor_get_type</c> (src/llama-quant.cpp) for these
    /// recipes without an importance matrix:
    /// <list type="bullet">
    /// <item>1-D tensors and the MoE router (<c>ffn_gate_inp</c>) stay F32, as do rows that are not whole 32-blocks.</item>
    /// <item>The output matrix (<c>output.weight</c>, or <c>token_embd.weight</c> when <paramref name="tied"/>): Q8_0
    ///   for the Q8_0 recipe, else Q6_K (Q8_0 when the row is not whole 256-blocks).</item>
    /// <item>Q4_K_M / Q5_K_M: <c>attn_v</c> and <c>ffn_down</c> (<c>ffn_down_exps</c>) of layer i of n get Q6_K when
    ///   <see cref="UseMoreBits"/>; with exactly 8 experts llama.cpp also gives <c>attn_v</c> and <c>attn_k</c> Q8_0 (every
    ///   K-quant and Q4_0 recipe) and Q4_K_M's <c>attn_output</c> Q5_K.</item>
    /// <item>A K-quant on a row that is not whole 256-blocks falls back to Q8_0 (llama.cpp: Q5_0 / Q5_1 for Q4_K / Q5_K,
    ///   types Qwen3Gen does not read; Q8_0 for Q6_K, as here). No Qwen3 size hits this.</item>
    /// </list>
    /// </summary>
    public static GgmlType TypeFor(GgufRecipe recipe, string ggufName, long[] ne, bool tied, int layers = 0, int experts = 0)
    {
        if (ne.Length < 2 || ggufName.EndsWith("ffn_gate_inp.weight", StringComparison.Ordinal) || recipe == GgufRecipe.F32) return GgmlType.F32;
        if (ne[0] % 32 != 0) return GgmlType.F32;
        if (recipe == GgufRecipe.Q8_0) return GgmlType.Q8_0;
        bool output = ggufName == "output.weight" || (tied && ggufName == "token_embd.weight");
        GgmlType type = recipe switch
        {
            GgufRecipe.Q4_0 => GgmlType.Q4_0,
            GgufRecipe.Q4_K_M => GgmlType.Q4_K,
            GgufRecipe.Q5_K_M => GgmlType.Q5_K,
            _ => GgmlType.Q6_K,
        };
        int layer = LayerOf(ggufName);
        bool attnV = ggufName.EndsWith(".attn_v.weight", StringComparison.Ordinal);
        bool attnK = ggufName.EndsWith(".attn_k.weight", StringComparison.Ordinal);
        bool ffnDown = ggufName.EndsWith(".ffn_down.weight", StringComparison.Ordinal) || ggufName.EndsWith(".ffn_down_exps.weight", StringComparison.Ordinal);
        if (output) type = GgmlType.Q6_K;
        else if (experts == 8 && (attnV || attnK)) type = GgmlType.Q8_0;
        else if (recipe is GgufRecipe.Q4_K_M or GgufRecipe.Q5_K_M && (attnV || ffnDown) && layer >= 0 && UseMoreBits(layer, layers))
            type = GgmlType.Q6_K;
        else if (recipe == GgufRecipe.Q4_K_M && experts == 8 && ggufName.EndsWith(".attn_output.weight", StringComparison.Ordinal))
            type = GgmlType.Q5_K;
        if (GgmlTypes.BlockSize(type) == 256 && ne[0] % 256 != 0) type = GgmlType.Q8_0;
        return type;
    }

    /// <summary>llama.cpp's <c>use_more_bits</c>: the first and last eighth of the layers and every third in between.</summary>
    public static bool UseMoreBits(int layer, int layers) =>
        layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;

    /// <summary>i of a <c>blk.i.*</c> name, −1 for the tensors outside the layers.</summary>
    private static int LayerOf(string ggufName)
    {
        if (!ggufName.StartsWith("blk.", StringComparison.Ordinal)) return -1;
        int dot = ggufName.IndexOf('.', 4);
        return dot > 4 && int.TryParse(ggufName.AsSpan(4, dot - 4), out int layer) ? layer : -1;
    }

    /// <summary>
    /// Writes <paramref name="model"/>'s weights to <paramref name="path"/>. The tokenizer: the <c>tokenizer.*</c> keys of
    /// <paramref name="tokenizerFrom"/> when the source is a GGUF file, the byte-level tokenizer when
    /// <paramref name="byteLevel"/>, else the Qwen3 tokenizer files of <paramref name="tokenizerDirectory"/> (null: the
    /// bundled Qwen3 tokenizer).
    /// </summary>
    public static void Write(IQwen3Model model, GgufRecipe recipe, string path, string? tokenizerDirectory, string name,
                             GgufMetadata? tokenizerFrom = null, bool byteLevel = false)
    {
        var c = model.Config;
        string arch = c.IsMoe ? HyperParameters.GgufMoe : HyperParameters.GgufDense;
        var w = new GgufWriter();
        w.Add("general.architecture", arch);
        w.Add("general.type", "model");
        w.Add("general.name", name);
        // The field table's GGUF column (Field.GgufKey, and GgufSameKey with the same value): ints as uint32, doubles as
        // float32, as llama.cpp's converter writes them. The rows without a key are in the tensors (tied = no
        // output.weight; the vocabulary is the tokenizer's length) or hard-coded by llama.cpp (Field.GgufNone).
        foreach (var field in HyperParameters.GgufFields(c.IsMoe))
        {
            object value = c.Get(field) switch
            {
                int i => (object)(uint)i,    // (object): else the arms' common type, float, would write the int as a float32
                double d => (float)d,
                var other => throw new InvalidOperationException($"No GGUF writer for {field.Name} ({other?.GetType().Name})."),
            };
            w.Add(HyperParameters.GgufKey(arch, field.GgufKey!), value);
            if (field.GgufSameKey is { } same) w.Add(HyperParameters.GgufKey(arch, same), value);
        }
        if (tokenizerFrom is not null)
        {
            foreach (var key in tokenizerFrom.Keys.Where(k => k.StartsWith("tokenizer.", StringComparison.Ordinal)))
                w.Add(key, tokenizerFrom[key]);
        }
        else if (byteLevel) Tokenization.GgufTokenizer.WriteByteLevel(w, c.Vocab);
        else Tokenization.GgufTokenizer.Write(w, tokenizerDirectory, c.Vocab);
        w.Add("general.quantization_version", 2u);
        w.Add("general.file_type", (uint)FileType(recipe));

        // GGUF tensors: each non-expert tensor as it is; experts stacked into [experts, out, in].
        var byName = model.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var stacked = new Dictionary<string, List<(int Expert, TensorSpec Spec)>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var t in model.Tensors)
        {
            var source = GgufNames.ToGguf(t.Name) ?? throw new InvalidDataException($"Tensor '{t.Name}' has no GGUF name.");
            if (!stacked.TryGetValue(source.Name, out var parts))
            {
                stacked[source.Name] = parts = new();
                order.Add(source.Name);
            }
            parts.Add((source.Expert, t));
        }
        foreach (var ggufName in order)
        {
            var parts = stacked[ggufName].OrderBy(p => p.Expert).ToList();
            var first = parts[0].Spec;
            long[] ne = first.Shape.Reverse().Select(d => (long)d).ToArray();
            if (parts[0].Expert >= 0) ne = [.. ne, parts.Count];
            var type = TypeFor(recipe, ggufName, ne, c.TieEmbeddings, c.Layers, c.IsMoe ? c.Experts : 0);
            long elements = ne.Aggregate(1L, (a, b) => a * b);
            long bytes = elements / GgmlTypes.BlockSize(type) * GgmlTypes.BlockBytes(type);
            w.AddTensor(ggufName, type, ne, bytes, stream =>
            {
                foreach (var (_, spec) in parts)
                {
                    var values = new float[spec.Length];
                    model.Weights.Get(spec, values);
                    var block = new byte[spec.Length / GgmlTypes.BlockSize(type) * GgmlTypes.BlockBytes(type)];
                    fixed (float* x = values) fixed (byte* y = block) Quantize.Row(type, x, y, spec.Length);
                    stream.Write(block);
                }
            });
        }
        w.Save(path);
    }
}
