using Qwen3Gen.Quantization;

namespace Qwen3Gen.Checkpoints;

/// <summary>The quantisation recipes of <c>qwen3gen quantize</c> (llama.cpp's <c>general.file_type</c> in brackets).</summary>
public enum GgufRecipe
{
    /// <summary>Everything F32 (ALL_F32 = 0).</summary>
    F32,
    /// <summary>Every matrix Q8_0, the LM head / tied embedding included (MOSTLY_Q8_0 = 7).</summary>
    Q8_0,
    /// <summary>
    /// Every matrix Q4_0 (MOSTLY_Q4_0 = 2). llama.cpp gives the output matrix Q6_K; Qwen3Gen has no Q6_K quantiser,
    /// so it gets Q8_0 (more bits, not fewer).
    /// </summary>
    Q4_0,
}

/// <summary>
/// Writes a model's weights as a GGUF file llama.cpp reads (<c>qwen3</c> / <c>qwen3moe</c>): the metadata keys of
/// llama.cpp's HF converter, the tokenizer (<see cref="Tokenization.GgufTokenizer"/>), HF keys renamed
/// (<see cref="GgufNames"/>), experts stacked, 1-D tensors F32, matrices quantised by the recipe with GGML's reference
/// quantisers (<see cref="Quantize"/>).
/// </summary>
public static unsafe class GgufExport
{
    public static int FileType(GgufRecipe recipe) => recipe switch { GgufRecipe.F32 => 0, GgufRecipe.Q8_0 => 7, _ => 2 };

    /// <summary>
    /// The type a tensor gets: 1-D tensors and the MoE router stay F32, as do rows that are not whole blocks; the output
    /// matrix (<c>output.weight</c>, or <c>token_embd.weight</c> when <paramref name="tied"/>) follows the output rule.
    /// </summary>
    public static GgmlType TypeFor(GgufRecipe recipe, string ggufName, long[] ne, bool tied)
    {
        if (ne.Length < 2 || ggufName.EndsWith("ffn_gate_inp.weight", StringComparison.Ordinal) || recipe == GgufRecipe.F32) return GgmlType.F32;
        if (ne[0] % 32 != 0) return GgmlType.F32;
        bool output = ggufName == "output.weight" || (tied && ggufName == "token_embd.weight");
        return recipe switch
        {
            GgufRecipe.Q8_0 => GgmlType.Q8_0,
            _ => output ? GgmlType.Q8_0 : GgmlType.Q4_0,
        };
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
        string arch = c.IsMoe ? "qwen3moe" : "qwen3";
        var w = new GgufWriter();
        w.Add("general.architecture", arch);
        w.Add("general.type", "model");
        w.Add("general.name", name);
        w.Add($"{arch}.block_count", (uint)c.Layers);
        w.Add($"{arch}.context_length", (uint)c.MaxPositions);
        w.Add($"{arch}.embedding_length", (uint)c.Hidden);
        w.Add($"{arch}.feed_forward_length", (uint)c.Ffn);
        w.Add($"{arch}.attention.head_count", (uint)c.Heads);
        w.Add($"{arch}.attention.head_count_kv", (uint)c.KvHeads);
        w.Add($"{arch}.rope.freq_base", (float)c.RopeTheta);
        w.Add($"{arch}.attention.layer_norm_rms_epsilon", (float)c.RmsNormEps);
        w.Add($"{arch}.attention.key_length", (uint)c.HeadDim);
        w.Add($"{arch}.attention.value_length", (uint)c.HeadDim);
        if (c.IsMoe)
        {
            w.Add($"{arch}.expert_count", (uint)c.Experts);
            w.Add($"{arch}.expert_used_count", (uint)c.ExpertsPerToken);
            w.Add($"{arch}.expert_feed_forward_length", (uint)c.ExpertFfn);
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
            var type = TypeFor(recipe, ggufName, ne, c.TieEmbeddings);
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
