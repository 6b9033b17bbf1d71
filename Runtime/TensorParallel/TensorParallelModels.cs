using Qwen3Gen.Checkpoints;
using Qwen3Gen.Distributed;
using Qwen3Gen.Kernels;
using Qwen3Gen.Layers;
using Qwen3Gen.Models;

namespace Qwen3Gen.TensorParallel;

/// <summary>Makes the rank of a compiled definition that this process is, for a tensor-parallel run over <c>comm</c>.</summary>
public static class TensorParallelModels
{
    /// <summary>
    /// This rank's slice of <paramref name="definition"/>, read from the safetensors checkpoint at <paramref name="path"/>
    /// (a file or a folder, sharded or not); the split is comm.Size ways. Every rank must call it.
    /// </summary>
    public static ITensorParallelModel Load(ICommunicator comm, ModelDefinition definition, string path, WeightFormat format = WeightFormat.F32,
                                            RopeScaling? ropeScaling = null)
    {
        if (GgufFile.IsGgufPath(path))
        {
            using var gguf = GgufFile.Open(path);
            return Create(comm, definition, ropeScaling, $"{WeightFormat.Quantized}", split => RankWeights.LoadGguf(split, gguf));
        }
        using var source = CheckpointSource.Open(path);
        return Load(comm, definition, source, format, ropeScaling);
    }

    public static ITensorParallelModel Load(ICommunicator comm, ModelDefinition definition, CheckpointSource source, WeightFormat format = WeightFormat.F32,
                                            RopeScaling? ropeScaling = null)
    {
        if (format == WeightFormat.Quantized) throw new ArgumentException("A safetensors checkpoint loads as F32 or BF16; quantised weights come from a .gguf file.", nameof(format));
        return Create(comm, definition, ropeScaling, $"{format}", split => RankWeights.Load(split, source, format));
    }

    /// <summary>The rank's model over the slice <paramref name="load"/> reads, after the ranks agreed on what they load.</summary>
    private static ITensorParallelModel Create(ICommunicator comm, ModelDefinition definition, RopeScaling? ropeScaling, string format,
                                               Func<TensorSplit, Weights> load)
    {
        var shape = definition.Shape ?? throw new ArgumentException($"Definition {definition.Name} carries no Shape (regenerate it with this Qwen3Gen).", nameof(definition));
        var config = ropeScaling is { } scaling ? definition.Config with { RopeScaling = scaling } : definition.Config;
        CheckAgreement(comm, $"{definition.Name} {config} {format}");
        var weights = load(new TensorSplit(config, comm.Size, comm.Rank));
        try { return shape.Accept(new Factory(comm, config, weights)); }
        catch { weights.Dispose(); throw; }
    }

    /// <summary>
    /// This rank's slice of <paramref name="definition"/> over the F32 weights <paramref name="slice"/> makes for its
    /// <see cref="TensorSplit"/> (a training run's initial weights, or zeros that a checkpoint then fills).
    /// <paramref name="description"/> names where they come from, for the ranks' agreement check.
    /// </summary>
    public static ITensorParallelModel FromSlices(ICommunicator comm, ModelDefinition definition, Func<TensorSplit, Weights> slice, string description)
    {
        return Create(comm, definition, null, $"{description} {WeightFormat.F32}", slice);
    }

    /// <summary>This rank's slice of <paramref name="definition"/> with random weights (<see cref="RankWeights.Random"/>): for speed measurements.</summary>
    public static ITensorParallelModel Random(ICommunicator comm, ModelDefinition definition, WeightFormat format, ulong seed = 1)
    {
        return Create(comm, definition, null, $"random {format} {seed}", split => RankWeights.Random(split, format, seed));
    }

    /// <summary>
    /// Every rank must load the same definition, hyper-parameters and format, or the collectives would pair up buffers of
    /// different sizes: each rank's description is hashed (FNV-1a, 64 bits, sent as four exact 16-bit floats) and gathered,
    /// and a rank that differs is named on every rank.
    /// </summary>
    public static unsafe void CheckAgreement(ICommunicator comm, string description)
    {
        ulong hash = 14695981039346656037UL;
        foreach (char ch in description) hash = (hash ^ ch) * 1099511628211UL;
        var words = new float[4 * comm.Size];
        for (int i = 0; i < 4; i++) words[4 * comm.Rank + i] = (ushort)(hash >> (16 * i));
        var counts = Enumerable.Repeat(4L, comm.Size).ToArray();
        fixed (float* w = words) comm.AllGather(w, counts);
        for (int r = 0; r < comm.Size; r++)
            if (!words.AsSpan(4 * r, 4).SequenceEqual(words.AsSpan(4 * comm.Rank, 4)))
                throw new InvalidOperationException(
                    $"Rank {comm.Rank} loads \"{description}\", and rank {r} a different model, configuration or format: every rank must load the same.");
    }

    private sealed class Factory(ICommunicator comm, ModelConfig config, Weights weights) : IShapeVisitor<ITensorParallelModel>
    {
        public ITensorParallelModel Visit<S>() where S : struct, IModelShape => comm.Size switch
        {
            1 => new TensorParallelModel<S, Ways1>(comm, config, weights),
            2 => new TensorParallelModel<S, Ways2>(comm, config, weights),
            4 => new TensorParallelModel<S, Ways4>(comm, config, weights),
            8 => new TensorParallelModel<S, Ways8>(comm, config, weights),
            _ => throw new ArgumentException(TensorSplit.Problem(config, comm.Size)),
        };
    }
}
