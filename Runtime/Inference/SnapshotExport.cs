using Qwen3Gen.Checkpoints;
using Qwen3Gen.Models;

namespace Qwen3Gen.Inference;

/// <summary>What an export wrote.</summary>
/// <param name="Directory">The snapshot folder, absolute.</param>
/// <param name="Definition">The compiled definition of the model.</param>
/// <param name="WeightFiles">The safetensors files written (one, or the shards listed in model.safetensors.index.json).</param>
/// <param name="WeightBytes">Bytes of tensor data over all weight files.</param>
public sealed record ExportReport(string Directory, string Definition, IReadOnlyList<string> WeightFiles, long WeightBytes);

/// <summary>
/// Writes a model folder (a training checkpoint or any snapshot) as a Hugging Face snapshot that transformers'
/// <c>AutoModelForCausalLM.from_pretrained</c> loads: config.json (architectures, torch_dtype), the weights in F32 or BF16
/// under Hugging Face names without optimizer state (model.safetensors, or shards of at most
/// <c>maxShardBytes</c> with model.safetensors.index.json), generation_config.json and the tokenizer files.
/// </summary>
public static class SnapshotExport
{
    /// <summary>transformers' default max_shard_size ("5GB").</summary>
    public const long DefaultMaxShardBytes = 5_000_000_000;

    /// <summary>Loads <paramref name="source"/> and exports it to <paramref name="output"/> (which must hold no safetensors yet).</summary>
    /// <param name="adapter">A PEFT LoRA adapter folder merged into the weights first (W + (alpha / r)·B·A, in F32), or null.</param>
    public static ExportReport Export(string source, string output, SafeTensorsDType dtype = SafeTensorsDType.F32, long maxShardBytes = DefaultMaxShardBytes,
                                      string? adapter = null)
    {
        CheckArguments(output, dtype, maxShardBytes);
        // BF16 checkpoints stay BF16 (a BF16 export is then a copy, an F32 one exact widening); F32 ones round once when written as BF16.
        using var loaded = ModelDirectory.Load(source, adapter is null ? null : WeightFormat.F32);
        ModelDirectory.Tokenizer(loaded.Directory).Require();
        if (adapter is not null)
        {
            using var lora = Training.Lora.LoraAdapter.Load(loaded.Model, adapter);
            lora.MergeInto(loaded.Model);
        }
        return Export(loaded.Model, output, loaded.Generation, loaded.Directory, dtype, maxShardBytes);
    }

    /// <summary>Exports <paramref name="model"/> with the tokenizer files of <paramref name="tokenizerDirectory"/>.</summary>
    public static ExportReport Export(IQwen3Model model, string output, GenerationConfig generation, string tokenizerDirectory,
                                      SafeTensorsDType dtype = SafeTensorsDType.F32, long maxShardBytes = DefaultMaxShardBytes)
    {
        ArgumentNullException.ThrowIfNull(model);
        CheckArguments(output, dtype, maxShardBytes);
        string dir = Path.GetFullPath(output);
        if (string.Equals(dir, Path.GetFullPath(tokenizerDirectory), StringComparison.Ordinal))
            throw new ArgumentException($"--out '{dir}' is the model folder itself; export into another folder.");
        SnapshotWriter.Save(model, dir, dtype, generation: generation, tokenizerDirectory: tokenizerDirectory, maxShardBytes: maxShardBytes);
        using var source = CheckpointSource.Open(dir);
        var files = Directory.GetFiles(dir, "*.safetensors").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        long bytes = model.Tensors.Sum(t => t.Length) * dtype.Size();
        return new ExportReport(dir, model.Name, files!, bytes);
    }

    private static void CheckArguments(string output, SafeTensorsDType dtype, long maxShardBytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(output);
        if (dtype is not (SafeTensorsDType.F32 or SafeTensorsDType.BF16))
            throw new ArgumentException($"Exports are written in F32 or BF16, not {dtype}.", nameof(dtype));
        if (maxShardBytes < 1) throw new ArgumentOutOfRangeException(nameof(maxShardBytes), maxShardBytes, "The shard size must be at least 1 byte.");
    }
}
