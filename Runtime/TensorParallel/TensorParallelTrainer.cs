using System.Numerics.Tensors;
using Qwen3Gen.Distributed;
using Qwen3Gen.Kernels;
using Qwen3Gen.Optim;

namespace Qwen3Gen.TensorParallel;

/// <summary>
/// Optimizer steps of one rank of a tensor-parallel dense model, optionally data-parallel too (<see cref="ParallelGroups"/>):
/// forward and backward over the tensor-parallel group, then the gradients summed over the data-parallel group and scaled
/// by 1/dp (the mean of the groups' mean losses: the whole batch's mean when every group has as many non-ignored
/// targets, the data-parallel <see cref="Training.Trainer"/>'s convention), then AdamW on the rank's own slice. The norm
/// weights are replicated: every rank of a group has the same gradient for them (docs/distributed.md), so every rank
/// applies the same update and they stay identical without a broadcast. Optional global-norm clipping (torch's
/// clip_grad_norm_, as <see cref="GradientClipping"/>) over the whole model's gradient: the squares of the split tensors
/// summed over the tensor-parallel group, the replicated ones counted once.
/// </summary>
public sealed unsafe class TensorParallelTrainer : IDisposable
{
    private readonly ITensorParallelTraining _model;
    private readonly ICommunicator? _data;
    private readonly double _gradientClip;

    /// <param name="dataParallel">The ranks holding the same slice on other data (null or Size 1: tensor parallelism only).</param>
    /// <param name="gradientClip">Clip the whole model's gradient norm to this (0: no clipping).</param>
    public TensorParallelTrainer(ITensorParallelTraining model, AdamWOptions? options = null, ICommunicator? dataParallel = null, double gradientClip = 0)
    {
        if (!(gradientClip >= 0) || double.IsInfinity(gradientClip))
            throw new ArgumentOutOfRangeException(nameof(gradientClip), gradientClip, "The gradient clip must be a finite number >= 0 (0: none).");
        _model = model;
        _data = dataParallel;
        _gradientClip = gradientClip;
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
        Scale(g, 1f / data.Size);
        Span<double> sum = [loss];
        data.AllReduceSum(sum);
        return (float)(sum[0] / data.Size);
    }

    /// <summary>The whole model's gradient norm before clipping, of the last <see cref="Step"/>.</summary>
    public double LastGradientNorm { get; private set; }

    /// <summary>
    /// √(Σ g²) over the whole model: this rank's parts of the split tensors, summed over the tensor-parallel group, plus
    /// the replicated tensors (the norm weights, which every rank holds alike) counted on rank 0 only. After the
    /// data-parallel mean every data group has the same gradients, so no data-parallel sum is needed.
    /// </summary>
    public double GlobalNorm()
    {
        float* g = _model.Gradients.Pointer;
        double squares = 0;
        foreach (var t in _model.Split.Tensors)
        {
            if (t.Kind == SplitKind.Replicated && _model.Comm.Rank != 0) continue;
            double norm = GradientClipping.GlobalNorm(g + t.Local.Offset, t.Local.Length);
            squares += norm * norm;
        }
        Span<double> sum = [squares];
        _model.Comm.AllReduceSum(sum);
        return Math.Sqrt(sum[0]);
    }

    /// <summary>
    /// One training step: <see cref="ComputeGradients"/>, clipping when asked (coef = clip / (norm + 1e-6) when below 1,
    /// as <see cref="GradientClipping.ClipGlobalNorm(float*, long, double)"/>; the same factor on every rank), then AdamW on
    /// the rank's slice. Returns the step's loss.
    /// </summary>
    public float Step(ReadOnlySpan<int> ids, ReadOnlySpan<int> targets, int batch, int seqLen)
    {
        float loss = ComputeGradients(ids, targets, batch, seqLen);
        var g = _model.Gradients;
        double norm = LastGradientNorm = GlobalNorm();
        if (_gradientClip > 0 && double.IsFinite(norm) && _gradientClip / (norm + 1e-6) < 1)
            Scale(g, (float)(_gradientClip / (norm + 1e-6)));
        Optimizer.Step(_model.Weights.Data, g);
        return loss;
    }

    private static void Scale(NativeBuffer<float> g, float factor)
    {
        for (long i = 0; i < g.Length; i += 1 << 30)                    // spans are int-sized: a rank's slice may be longer
        {
            var part = new Span<float>(g.Pointer + i, (int)Math.Min(1 << 30, g.Length - i));
            TensorPrimitives.Multiply(part, factor, part);
        }
    }

    public void Dispose() => Optimizer.Dispose();
}
