using Qwen3Gen.Checkpoints;
using Qwen3Gen.Distributed;
using Qwen3Gen.Inference;
using Qwen3Gen.Models;
using Qwen3Gen.Tokenization;

namespace Qwen3Gen.TensorParallel;

/// <summary>
/// One rank's slice of a model folder or GGUF file, with what generation needs besides the weights: what
/// <see cref="ModelDirectory.Load"/> gives one process (<see cref="LoadedModel"/>), for a rank of a tensor-parallel job.
/// </summary>
public sealed record LoadedTensorParallelModel(ITensorParallelModel Model, ModelDefinition Definition, ModelConfig Config, string Path,
                                               GenerationConfig Generation, ITokenizer Tokenizer) : IDisposable
{
    public void Dispose() => Model.Dispose();
}

/// <summary>Loads a rank's slice of a Hugging Face snapshot folder or a GGUF file (every rank of <c>comm</c> calls it).</summary>
public static class TensorParallelFolder
{
    /// <summary>
    /// config.json (or the GGUF metadata) → the registered definition with equal hyper-parameters → this rank's slice of
    /// the weights (<see cref="TensorParallelModels.Load(ICommunicator, ModelDefinition, string, WeightFormat, Kernels.RopeScaling?)"/>),
    /// generation_config.json and the tokenizer. <paramref name="format"/>: default BF16 for an all-BF16 checkpoint, else
    /// F32; a GGUF file keeps its stored blocks.
    /// </summary>
    public static LoadedTensorParallelModel Load(ICommunicator comm, string path, WeightFormat? format = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (GgufFile.IsGgufPath(path) && !Directory.Exists(path))
        {
            ModelConfig config;
            ITokenizer tokenizer;
            using (var file = GgufFile.Open(path))
            {
                config = GgufConfig.Read(file);
                tokenizer = Qwen3Tokenizer.FromGguf(file.Metadata);
            }
            if (format is { } f && f != WeightFormat.Quantized)
                throw new ArgumentException($"'{path}': a tensor-parallel rank keeps a GGUF file's stored blocks; leave out --bf16 / --f32.");
            var definition = ModelDirectory.FindDefinition(config, path);
            var model = TensorParallelModels.Load(comm, definition, path, WeightFormat.Quantized, config.RopeScaling);
            return new LoadedTensorParallelModel(model, definition, config, System.IO.Path.GetFullPath(path), GenerationConfig.DefaultFor(config.Vocab), tokenizer);
        }
        string dir = System.IO.Path.GetFullPath(path);
        var cfg = ModelDirectory.ReadConfig(dir);
        var def = ModelDirectory.FindDefinition(cfg, dir);
        var generation = ModelDirectory.ReadGenerationConfig(dir, cfg);
        var tok = TokenizerFolder.Load(dir);
        using var source = CheckpointSource.Open(dir);
        var chosen = format ?? ModelDirectory.DefaultFormat(source);
        try
        {
            var rank = TensorParallelModels.Load(comm, def, source, chosen, cfg.RopeScaling);
            return new LoadedTensorParallelModel(rank, def, cfg, dir, generation, tok);
        }
        catch (InvalidDataException e) { throw new InvalidDataException($"Model directory '{dir}' (definition {def.Name}): {e.Message}", e); }
    }
}
