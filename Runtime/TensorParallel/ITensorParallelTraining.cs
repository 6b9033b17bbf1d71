using Qwen3Gen.Kernels;

namespace Qwen3Gen.TensorParallel;

/// <summary>
/// Training one rank of a tensor-parallel dense model (<see cref="TensorParallelModel{S, W}"/>; docs/distributed.md,
/// "Tensor-parallel training"). Every call is collective over <see cref="ITensorParallelModel.Comm"/>: all ranks of the
/// group make it with the same tokens. Weights must be F32. MoE layers are not supported (NotSupportedException).
/// </summary>
public interface ITensorParallelTraining : ITensorParallelModel
{
    /// <summary>
    /// This rank's parameter gradients in its own flat layout: the gradient of tensor t of <see cref="ITensorParallelModel.Split"/>
    /// is [t.Local.Offset, t.Local.Offset + t.Local.Length), the same place as its weights. <see cref="Backward"/> adds to it.
    /// </summary>
    NativeBuffer<float> Gradients { get; }

    /// <summary>Sets <see cref="Gradients"/> to zero (once per optimizer step).</summary>
    void ZeroGradients();

    /// <summary>
    /// The forward pass over <paramref name="batch"/> × <paramref name="seqLen"/> tokens keeping every layer's activations
    /// for <see cref="Backward"/>; returns the mean cross-entropy over the non-ignored targets (the same on every rank).
    /// </summary>
    float ForwardTraining(ReadOnlySpan<int> ids, ReadOnlySpan<int> targets, int batch, int seqLen);

    /// <summary>The backward pass of the last <see cref="ForwardTraining"/>: adds this rank's gradients into <see cref="Gradients"/>.</summary>
    void Backward();

    /// <summary>Bytes of the training work buffers (every layer's activations and the gradient scratch), 0 before training.</summary>
    long TrainingBufferBytes { get; }
}
