using System.Globalization;
using Qwen3Gen.Models;

namespace Qwen3Gen.Checkpoints;

/// <summary>
/// The hyper-parameters of a <c>qwen3</c> / <c>qwen3moe</c> GGUF file as a <see cref="ModelConfig"/>, so that a
/// .gguf matches compiled definitions exactly as its config.json would. Keys are prefixed with
/// <c>general.architecture</c>; the vocabulary is the length of <c>tokenizer.ggml.tokens</c> (checked against
/// <c>token_embd</c>); tied embeddings = no <c>output.weight</c>. llama.cpp hard-codes what has no key for
/// Qwen3-MoE: top-k weights renormalised, every layer sparse.
/// </summary>
public static class GgufConfig
{
    public static ModelConfig Read(GgufFile file)
    {
        var m = file.Metadata;
        string arch = m.GetString("general.architecture");
        if (arch is not ("qwen3" or "qwen3moe"))
            throw new InvalidDataException($"'{file.Path}': general.architecture is '{arch}'; Qwen3Gen reads 'qwen3' and 'qwen3moe' files.");
        bool moe = arch == "qwen3moe";
        int Int(string key, int min = 1) => m.GetInt32($"{arch}.{key}", min, int.MaxValue);
        int? Opt(string key) => m.GetInt32OrNull($"{arch}.{key}", 1, int.MaxValue);

        int hidden = Int("embedding_length"), heads = Int("attention.head_count");
        int headDim = Opt("attention.key_length") ?? hidden / heads;
        if (Opt("attention.value_length") is int v && v != headDim)
            throw new NotSupportedException($"'{file.Path}': {arch}.attention.value_length {v} differs from key_length {headDim}; Qwen3 uses one head_dim.");
        if (m.Contains($"{arch}.rope.scaling.type") && m.GetString($"{arch}.rope.scaling.type") is var scaling and not "none")
            throw new NotSupportedException($"'{file.Path}': {arch}.rope.scaling.type '{scaling}' is not supported (no RoPE scaling).");

        if (!file.Contains("token_embd.weight")) throw new InvalidDataException($"'{file.Path}': no tensor 'token_embd.weight'.");
        var embed = file["token_embd.weight"];
        int vocab = m.Contains("tokenizer.ggml.tokens") ? m.GetStringArray("tokenizer.ggml.tokens").Length : (int)embed.Ne[^1];
        if (embed.Ne.Length != 2 || embed.Ne[1] != vocab || embed.Ne[0] != hidden)
            throw new InvalidDataException(
                $"'{file.Path}': token_embd.weight has ne [{string.Join(", ", embed.Ne)}], but embedding_length is {hidden} and tokenizer.ggml.tokens has {vocab} entries.");

        return new ModelConfig
        {
            Vocab = vocab,
            Hidden = hidden,
            Layers = Int("block_count"),
            Heads = heads,
            KvHeads = Opt("attention.head_count_kv") ?? heads,
            HeadDim = headDim,
            Ffn = moe ? Opt("feed_forward_length") ?? 0 : Int("feed_forward_length"),
            RopeTheta = Float(m, $"{arch}.rope.freq_base", Rules.HyperParameters.DefaultRopeTheta),
            RmsNormEps = Float(m, $"{arch}.attention.layer_norm_rms_epsilon", Rules.HyperParameters.DefaultRmsNormEps),
            TieEmbeddings = !file.Contains("output.weight"),
            MaxPositions = Opt("context_length") ?? Rules.HyperParameters.DefaultMaxPositions,
            Experts = moe ? Int("expert_count") : 0,
            ExpertsPerToken = moe ? Int("expert_used_count") : 0,
            ExpertFfn = moe ? Int("expert_feed_forward_length") : 0,
            NormTopKProb = moe,
            DecoderSparseStep = 1,
            MlpOnlyLayers = [],
        };
    }

    /// <summary>
    /// A value GGUF stores as float32 (1e-6 reads back as 9.99999997e-07) taken as the shortest decimal that
    /// round-trips that float32, i.e. the number the converter was given; float64 values are kept as they are.
    /// </summary>
    private static double Float(GgufMetadata m, string key, double fallback)
    {
        if (!m.TryGetValue(key, out var value)) return fallback;
        double d = value is float f
            ? double.Parse(f.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)
            : m.GetDouble(key);
        if (!double.IsFinite(d) || d <= 0) throw new InvalidDataException($"'{m.File}': metadata '{key}' = {d} must be a positive number.");
        return d;
    }
}
