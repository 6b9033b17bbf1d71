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
        using var source = CheckpointSource.Open(path);
        return Load(comm, definition, source, format, ropeScaling);
    }

    public static ITensorParallelModel Load(ICommunicator comm, ModelDefinition definition, CheckpointSource source, WeightFormat format = WeightFormat.F32,
                                            RopeScaling? ropeScaling = null)
    {
        var shape = definition.Shape ?? throw new ArgumentException($"Definition {definition.Name} carries no Shape (regenerate it with this Qwen3Gen).", nameof(definition));
        var config = ropeScaling is { } scaling ? definition.Config with { RopeScaling = scaling } : definition.Config;
        var split = new TensorSplit(config, comm.Size, comm.Rank);
        var weights = RankWeights.Load(split, source, format);
        try { return shape.Accept(new Factory(comm, config, weights)); }
        catch { weights.Dispose(); throw; }
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
