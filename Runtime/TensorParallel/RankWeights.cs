using Qwen3Gen.Checkpoints;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.TensorParallel;

/// <summary>
/// Loads one rank's slice (<see cref="TensorSplit"/>) straight from a safetensors checkpoint (one file or an indexed
/// sharded folder): row slices are read as one contiguous range, column slices row by row, and nothing else of the
/// file is read into memory, so no rank ever holds the whole model. A checkpoint tensor whose shape differs from the
/// definition's is an error naming the file and the tensor.
/// </summary>
public static unsafe class RankWeights
{
    public static Weights Load(TensorSplit split, CheckpointSource source, WeightFormat format)
    {
        if (format == WeightFormat.Quantized) throw new ArgumentException("Tensor-parallel ranks hold F32 or BF16 weights.", nameof(format));
        var weights = Weights.Create(format, split.Count, split.VectorStart);
        try
        {
            foreach (var t in split.Tensors)
            {
                string name = t.Name;
                if (name == "lm_head.weight" && !source.Contains(name))
                    throw new InvalidDataException($"Checkpoint '{source.Path}' has no 'lm_head.weight' but the definition does not tie the embeddings.");
                var (file, info) = source.Get(name);
                if (!info.ShapeEquals(t.FullShape))
                    throw new InvalidDataException($"'{file.Path}', tensor '{name}': shape {info.ShapeText}, the definition expects {SafeTensorInfo.FormatShape(t.FullShape.Select(d => (long)d))}.");
                Copy(weights, t, file);
            }
            return weights;
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>The rank's part of tensor <paramref name="t"/> into its local place: whole, a block of rows (contiguous in the
    /// file), or a block of columns of every row (one short read per row).</summary>
    private static void Copy(Weights weights, SlicedTensor t, SafeTensorsFile file)
    {
        var local = t.Local;
        int rows = local.Shape[0], cols = local.Shape.Length > 1 ? local.Shape[1] : 1;
        int fullCols = t.FullShape.Length > 1 ? t.FullShape[1] : 1;
        int rowsPerRead = t.Kind == SplitKind.Columns ? 1 : Math.Max(1, (1 << 24) / cols);
        for (int r = 0; r < rows; r += rowsPerRead)
        {
            int n = Math.Min(rowsPerRead, rows - r) * cols;
            long source = t.Kind switch
            {
                SplitKind.Rows => (long)(t.Start + r) * fullCols,
                SplitKind.Columns => (long)r * fullCols + t.Start,
                _ => (long)r * fullCols,
            };
            long destination = local.Offset + (long)r * cols;
            if (weights.Format == WeightFormat.BF16 && local.IsMatrix)
                file.ReadBF16(t.Name, source, new Span<BF16>(weights.Matrix<BF16>() + destination, n));     // BF16 files copied as stored
            else
                file.ReadF32(t.Name, source, new Span<float>(weights.Vectors + destination, n));            // F32 layout: Vectors is its start
        }
    }

    /// <summary>
    /// A slice of random weights, for benchmarks that need no checkpoint: matrices uniform in ±0.05 (about N(0, 0.03)), norm
    /// weights 1. Each rank draws its own values, so the ranks do not make up one consistent model: speed only.
    /// </summary>
    public static Weights Random(TensorSplit split, WeightFormat format, ulong seed)
    {
        if (format == WeightFormat.Quantized) throw new ArgumentException("Tensor-parallel ranks hold F32 or BF16 weights.", nameof(format));
        var weights = Weights.Create(format, split.Count, split.VectorStart);
        ulong state = seed * 0x9E3779B97F4A7C15UL + (ulong)split.Rank + 1;
        foreach (var t in split.Tensors)
        {
            var local = t.Local;
            if (!local.IsMatrix)
            {
                new Span<float>(weights.Vectors + local.Offset, (int)local.Length).Fill(1f);
                continue;
            }
            for (long i = 0; i < local.Length; i++)
            {
                state = state * 6364136223846793005UL + 1442695040888963407UL;                         // LCG: plenty for speed runs
                float x = ((int)(state >> 40) - (1 << 23)) * (0.05f / (1 << 23));
                if (format == WeightFormat.BF16) weights.Matrix<BF16>()[local.Offset + i] = BF16.FromSingle(x);
                else weights.Data.Pointer[local.Offset + i] = x;
            }
        }
        return weights;
    }
}
