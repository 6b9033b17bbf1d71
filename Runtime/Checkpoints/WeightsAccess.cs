using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.Checkpoints;

/// <summary>
/// Where a tensor of a <see cref="Weights"/> lives: F32 weights hold every tensor as float32; BF16 weights hold
/// matrices (offset &lt; VectorStart) as BF16 and the 1-D vectors as float32. Checkpoint IO reads and writes
/// through these pointers in chunks, so a whole tensor is never staged in a second buffer.
/// </summary>
internal static unsafe class WeightsAccess
{
    /// <summary>Exactly one of the two is non-null.</summary>
    public static void Locate(Weights weights, TensorSpec tensor, out float* f32, out BF16* bf16)
    {
        f32 = null;
        bf16 = null;
        if (weights.Format == WeightFormat.F32) f32 = weights.Matrix<float>() + tensor.Offset;
        else if (tensor.Offset >= weights.VectorStart) f32 = weights.Vectors + tensor.Offset;
        else bf16 = weights.Matrix<BF16>() + tensor.Offset;
    }

    /// <summary>Checks that every tensor fits the buffer and none straddles the BF16/F32 boundary.</summary>
    public static void CheckLayout(IReadOnlyList<TensorSpec> tensors, Weights weights)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            if (!names.Add(t.Name)) throw new ArgumentException($"Tensor '{t.Name}' appears twice in the model's tensor list.");
            foreach (var d in t.Shape)
                if (d < 0) throw new ArgumentException($"Tensor '{t.Name}' has a negative dimension in {t.ShapeText}.");
            long end = t.Offset + t.Length;
            if (t.Offset < 0 || end > weights.Count)
                throw new ArgumentException($"Tensor '{t.Name}' [{t.Offset}, {end}) lies outside the weights of {weights.Count} parameters.");
            if (weights.Format == WeightFormat.BF16 && t.Offset < weights.VectorStart && end > weights.VectorStart)
                throw new ArgumentException($"Tensor '{t.Name}' [{t.Offset}, {end}) straddles the matrix/vector boundary at {weights.VectorStart}.");
        }
    }
}
