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
        ZeroGradients();
        return ReduceGradients(AddGradients(ids, targets, batch, seqLen), microBatches: 1);
    }

    /// <summary>Sets the gradients to zero (once per step, before its first <see cref="AddGradients"/>).</summary>
    public void ZeroGradients() => _model.ZeroGradients();

    /// <summary>
    /// Forward and backward of one micro-batch of this group's sequences: its gradients are added to those of the step's
    /// earlier micro-batches (the backward adds). Returns the micro-batch's mean loss.
    /// </summary>
    public float AddGradients(ReadOnlySpan<int> ids, ReadOnlySpan<int> targets, int batch, int seqLen)
    {
        float loss = _model.ForwardTraining(ids, targets, batch, seqLen);
        _model.Backward();
        return loss;
    }

    /// <summary>
    /// The step's gradient from <paramref name="microBatches"/> added ones on every data group: summed over the data
    /// groups, then scaled by 1 / (dp · microBatches), the mean of every micro-batch's mean loss (the data-parallel
    /// <see cref="Training.Trainer"/>'s convention). Returns the mean loss the same way, from this group's
    /// <paramref name="lossSum"/> (the sum of its micro-batches' losses).
    /// </summary>
    public float ReduceGradients(double lossSum, int microBatches)
    {
        int groups = _data?.Size ?? 1, micros = groups * microBatches;
        var g = _model.Gradients;
        Span<double> sum = [lossSum];
        if (groups > 1)
        {
            _data!.AllReduceSum(g.Pointer, g.Length);
            _data.AllReduceSum(sum);
        }
        if (micros > 1) Scale(g, 1f / micros);
        return (float)(sum[0] / micros);
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
    /// One training step: <see cref="ComputeGradients"/>, then <see cref="Update"/>. Returns the step's loss.
    /// </summary>
    public float Step(ReadOnlySpan<int> ids, ReadOnlySpan<int> targets, int batch, int seqLen)
    {
        float loss = ComputeGradients(ids, targets, batch, seqLen);
        Update();
        return loss;
    }

    /// <summary>
    /// Applies the reduced gradients: clipping when asked (coef = clip / (norm + 1e-6) when below 1, as
    /// <see cref="GradientClipping.ClipGlobalNorm(float*, long, double)"/>; the same factor on every rank), then AdamW on
    /// the rank's slice at <see cref="AdamW.LearningRate"/>.
    /// </summary>
    public void Update()
    {
        var g = _model.Gradients;
        double norm = LastGradientNorm = GlobalNorm();
        if (_gradientClip > 0 && double.IsFinite(norm) && _gradientClip / (norm + 1e-6) < 1)
            Scale(g, (float)(_gradientClip / (norm + 1e-6)));
        Optimizer.Step(_model.Weights.Data, g);
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
