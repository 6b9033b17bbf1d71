using Qwen3Gen.Checkpoints;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;
using Qwen3Gen.Quantization;

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

    /// <summary>The rank's part of tensor <paramref name="t"/> into its local place, run by run (<see cref="TensorSlices.Runs"/>:
    /// a block of rows is one contiguous read, a block of columns one short read per row).</summary>
    private static void Copy(Weights weights, SlicedTensor t, SafeTensorsFile file)
    {
        long at = t.Local.Offset;
        foreach (var (from, to, n) in TensorSlices.Runs(t))
            if (weights.Format == WeightFormat.BF16 && t.Local.IsMatrix)
                file.ReadBF16(t.Name, from, new Span<BF16>(weights.Matrix<BF16>() + at + to, n));     // BF16 files copied as stored
            else
                file.ReadF32(t.Name, from, new Span<float>(weights.Vectors + at + to, n));            // F32 layout: Vectors is its start
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

    /// <summary>
    /// The rank's slice from a GGUF file, each matrix in its stored type (F32, BF16 or GGML blocks; F16 widened to F32):
    /// the rank's rows, or its columns of every row, are copied out of the mapping into memory the rank owns (a column
    /// slice of a block-quantised matrix must start and end on block boundaries: 32 elements for Q8_0 / Q4_0, 256 for the
    /// K-quants). Norm weights are dequantised. The file is only read; the caller disposes it.
    /// </summary>
    public static Weights LoadGguf(TensorSplit split, GgufFile file)
    {
        var full = split.Tensors.Select(t => new TensorSpec(t.Name, t.FullShape, 0)).ToList();
        var sources = GgufLoader.Resolve(full, file);                   // names, shapes, stacked experts: one error listing all
        var matrices = new Dictionary<long, WeightMatrix>();
        var owned = new List<IDisposable>();
        long bytes = 0;
        try
        {
            var vectors = new List<(SlicedTensor, GgmlType, nint, long)>();
            for (int i = 0; i < split.Tensors.Count; i++)
            {
                var t = split.Tensors[i];
                var (info, first, elements) = sources[i];
                byte* data = file.Data(info) + first / info.RowLength * info.RowBytes;
                if (!t.Local.IsMatrix)
                {
                    vectors.Add((t, info.Type, (nint)data, elements));
                    continue;
                }
                int rows = t.Local.Shape[0], cols = t.Local.Shape[1];
                var format = Quantization.MatrixRows.FromGgml(info.Type);
                int blockSize = GgmlTypes.BlockSize(info.Type), blockBytes = GgmlTypes.BlockBytes(info.Type);
                if (t.Kind == SplitKind.Columns && (t.Start % blockSize != 0 || cols % blockSize != 0))
                    throw new InvalidDataException($"'{file.Path}', tensor '{info.Name}' ({info.Type}): columns [{t.Start}, {t.Start + cols}) of rank {split.Rank} " +
                                                   $"do not fall on its {blockSize}-element blocks; split it fewer ways or use a safetensors snapshot.");
                long rowBytes = (long)cols / blockSize * blockBytes;
                var copy = new NativeBuffer<byte>(rows * rowBytes);
                owned.Add(copy);
                // The runs of the slice in elements; every run starts and ends on a block (rows are whole blocks, columns checked above).
                foreach (var (from, to, n) in TensorSlices.Runs(t))
                {
                    long runBytes = (long)n / blockSize * blockBytes;
                    Buffer.MemoryCopy(data + from / blockSize * blockBytes, copy.Pointer + to / blockSize * blockBytes, runBytes, runBytes);
                }
                if (format is { } stored)
                {
                    matrices[t.Local.Offset] = new WeightMatrix(copy.Pointer, stored);
                    bytes += rows * rowBytes;
                }
                else                                                     // F16: widened, as the one-process GGUF loader does
                {
                    var widened = new NativeBuffer<float>((long)rows * cols);
                    owned.Add(widened);
                    Dequantize.Row(info.Type, copy.Pointer, widened.Pointer, (long)rows * cols);
                    matrices[t.Local.Offset] = WeightMatrix.F32(widened.Pointer);
                    bytes += (long)rows * cols * 4;
                }
            }
            var weights = Weights.CreateMapped(split.Count, split.VectorStart, matrices, bytes, new OwnedBuffers(owned));
            foreach (var (t, type, data, elements) in vectors)
                Dequantize.Row(type, (byte*)data, weights.Vectors + t.Local.Offset, elements);
            return weights;
        }
        catch
        {
            foreach (var o in owned) o.Dispose();
            throw;
        }
    }

    private sealed class OwnedBuffers(List<IDisposable> items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in items) item.Dispose();
            items.Clear();
        }
    }
}
