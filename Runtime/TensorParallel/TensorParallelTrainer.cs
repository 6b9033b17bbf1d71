using System.Numerics.Tensors;
using Qwen3Gen.Distributed;
using Qwen3Gen.Optim;

namespace Qwen3Gen.TensorParallel;

/// <summary>
/// Optimizer steps of one rank of a tensor-parallel dense model, optionally data-parallel too (<see cref="ParallelGroups"/>):
/// forward and backward over the tensor-parallel group, then the gradients summed over the data-parallel group and scaled
/// by 1/dp (the mean of the groups' mean losses: the whole batch's mean when every group has as many non-ignored
/// targets, the data-parallel <see cref="Training.Trainer"/>'s convention), then AdamW on the rank's own slice. The norm
/// weights are replicated: every rank of a group has the same gradient for them (docs/distributed.md), so every rank
/// applies the same update and they stay identical without a broadcast.
/// </summary>
public sealed unsafe class TensorParallelTrainer : IDisposable
{
    private readonly ITensorParallelTraining _model;
    private readonly ICommunicator? _data;

    /// <param name="dataParallel">The ranks holding the same slice on other data (null or Size 1: tensor parallelism only).</param>
    public TensorParallelTrainer(ITensorParallelTraining model, AdamWOptions? options = null, ICommunicator? dataParallel = null)
    {
        _model = model;
        _data = dataParallel;
        Optimizer = new AdamW(model.Split.Tensors.Select(t => t.Local).ToArray(), options);
    }

    /// <summary>AdamW over the rank's flat layout (its moments are the rank's slice only).</summary>
    public AdamW Optimizer { get; }

    /// <summary>
    /// Zeroes the gradients, runs forward and backward on this group's <paramref name="batch"/> sequences, and (data
    /// parallel) averages the gradients over the groups; returns the loss averaged the same way.
    /// </summary>
    public float ComputeGradients(ReadOnlySpan<int> ids, ReadOnlySpan<int> targets, int batch, int seqLen)
    {
        _model.ZeroGradients();
        float loss = _model.ForwardTraining(ids, targets, batch, seqLen);
        _model.Backward();
        if (_data is not { Size: > 1 } data) return loss;
        var g = _model.Gradients;
        data.AllReduceSum(g.Pointer, g.Length);
        for (long i = 0; i < g.Length; i += 1 << 30)                    // spans are int-sized: a rank's slice may be longer
        {
            var part = new Span<float>(g.Pointer + i, (int)Math.Min(1 << 30, g.Length - i));
            TensorPrimitives.Multiply(part, 1f / data.Size, part);
        }
        Span<double> sum = [loss];
        data.AllReduceSum(sum);
        return (float)(sum[0] / data.Size);
    }

    /// <summary>One training step: <see cref="ComputeGradients"/>, then AdamW on the rank's slice. Returns the step's loss.</summary>
    public float Step(ReadOnlySpan<int> ids, ReadOnlySpan<int> targets, int batch, int seqLen)
    {
        float loss = ComputeGradients(ids, targets, batch, seqLen);
        Optimizer.Step(_model.Weights.Data, _model.Gradients);
        return loss;
    }

    public void Dispose() => Optimizer.Dispose();
}
