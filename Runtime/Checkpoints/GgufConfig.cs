using System.Globalization;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;
using Qwen3Gen.Rules;

namespace Qwen3Gen.Checkpoints;

/// <summary>
/// The hyper-parameters of a <c>qwen3</c> / <c>qwen3moe</c> GGUF file as a <see cref="ModelConfig"/>, so that a
/// .gguf matches compiled definitions exactly as its config.json would. The keys are the field table's GGUF column
/// (<see cref="Field.GgufKey"/>, prefixed with <c>general.architecture</c>); the rows without one say where the value
/// comes from instead (<see cref="Field.GgufNone"/>): the vocabulary is the length of <c>tokenizer.ggml.tokens</c>
/// (checked against <c>token_embd</c>); tied embeddings = no <c>output.weight</c>; llama.cpp hard-codes what has no
/// key for Qwen3-MoE: top-k weights renormalised, every layer sparse.
/// </summary>
public static class GgufConfig
{
    public static ModelConfig Read(GgufFile file)
    {
        var m = file.Metadata;
        string arch = m.GetString("general.architecture");
        if (arch is not (HyperParameters.GgufDense or HyperParameters.GgufMoe))
            throw new InvalidDataException($"'{file.Path}': general.architecture is '{arch}'; Qwen3Gen reads 'qwen3' and 'qwen3moe' files.");
        bool moe = arch == HyperParameters.GgufMoe;

        // Row by row, in table order (KvHeads defaults to Heads, read before it): a key the file carries is read; an
        // absent one takes the table's default, and a required one is an error (the metadata names the missing key),
        // except the dense MLP size of a qwen3moe file: every layer of one is sparse, the dense MLP never runs.
        var values = new ShapeValues();
        var carried = new HashSet<Field>(HyperParameters.GgufFields(moe));
        foreach (var field in HyperParameters.All)
        {
            if (field.Set is null) continue;                      // RoPE scaling: refused below
            string? key = carried.Contains(field) ? HyperParameters.GgufKey(arch, field.GgufKey!) : null;
            bool required = field.Required && !(moe && field.Name == nameof(ModelConfig.Ffn));
            if (key is not null && (required || m.Contains(key))) field.Set(values, Value(m, key, field.Type));
            else HyperParameters.ApplyDefault(values, field);
        }
        int headDim = values.HeadDim ?? values.Hidden / values.Heads;   // head_dim absent: hidden / heads, as the rules derive it
        values.HeadDim = headDim;
        foreach (var field in carried)
            if (field.GgufSameKey is { } same && m.GetInt32OrNull(HyperParameters.GgufKey(arch, same), 1, int.MaxValue) is int v && v != (int)field.Get!(values)!)
                throw new NotSupportedException(
                    $"'{file.Path}': {arch}.{same} {v} differs from {field.GgufKey} {field.Get(values)}; Qwen3 uses one {field.Key} for both.");
        if (m.Contains($"{arch}.rope.scaling.type") && m.GetString($"{arch}.rope.scaling.type") is var scaling and not "none")
            throw new NotSupportedException($"'{file.Path}': {arch}.rope.scaling.type '{scaling}' is not supported (no RoPE scaling).");

        // The rows without a GGUF key (Field.GgufNone).
        if (!file.Contains("token_embd.weight")) throw new InvalidDataException($"'{file.Path}': no tensor 'token_embd.weight'.");
        var embed = file["token_embd.weight"];
        int vocab = m.Contains("tokenizer.ggml.tokens") ? m.GetStringArray("tokenizer.ggml.tokens").Length : (int)embed.Ne[^1];
        if (embed.Ne.Length != 2 || embed.Ne[1] != vocab || embed.Ne[0] != values.Hidden)
            throw new InvalidDataException(
                $"'{file.Path}': token_embd.weight has ne [{string.Join(", ", embed.Ne)}], but embedding_length is {values.Hidden} and tokenizer.ggml.tokens has {vocab} entries.");
        values.Vocab = vocab;
        values.TieEmbeddings = !file.Contains("output.weight");
        values.NormTopKProb = moe;
        values.DecoderSparseStep = 1;
        values.MlpOnlyLayers = [];
        return ModelConfig.FromValues(values, headDim, RopeScaling.None);
    }

    /// <summary>A row's value: ints at least 1, positive finite numbers (<see cref="Float"/>).</summary>
    private static object Value(GgufMetadata m, string key, FieldType type) => type switch
    {
        FieldType.Int => (object)m.GetInt32(key, 1, int.MaxValue),    // (object): else the arms' common type, double, would box the int as a double
        FieldType.Double => Float(m, key),
        _ => throw new InvalidOperationException($"No GGUF reader for a {type} field ({key})."),
    };

    /// <summary>
    /// A value GGUF stores as float32 (1e-6 reads back as 9.99999997e-07) taken as the shortest decimal that
    /// round-trips that float32, i.e. the number the converter was given; float64 values are kept as they are.
    /// </summary>
    private static double Float(GgufMetadata m, string key)
    {
        var value = m[key];
        double d = value is float f
            ? double.Parse(f.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)
            : m.GetDouble(key);
        if (!double.IsFinite(d) || d <= 0) throw new InvalidDataException($"'{m.File}': metadata '{key}' = {d} must be a positive number.");
        return d;
    }
}
