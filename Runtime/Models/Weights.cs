using Qwen3Gen.Kernels;

namespace Qwen3Gen.Models;

/// <summary>How a model's matrices are stored in memory.</summary>
public enum WeightFormat
{
    /// <summary>float32: training and exact inference.</summary>
    F32,
    /// <summary>bfloat16 matrices, widened inside the kernels (half the memory and bandwidth); vectors stay float32.</summary>
    BF16,
    /// <summary>
    /// Each matrix in its own stored format (F32, BF16 or GGML blocks: Q8_0, Q4_0, Q4_K, Q5_K, Q6_K), read in place
    /// from a memory-mapped GGUF file (<see cref="Weights.CreateMapped"/>); vectors are float32. Inference only.
    /// </summary>
    Quantized,
}

/// <summary>
/// The parameters of a model in the flat layout its generated <c>Tensors</c> table describes.
/// Generated layouts put every matrix first and every 1-D vector (the norm weights) last, from
/// <see cref="VectorStart"/>: in BF16 format the matrices are BF16 and the vectors a small float32 block,
/// so kernels see <c>Matrix&lt;TW&gt;()</c> and <c>Vectors</c> at the same element offsets in both formats.
/// </summary>
public sealed unsafe class Weights : IDisposable
{
    private readonly NativeBuffer<float>? _f32;
    private readonly NativeBuffer<BF16>? _bf16;
    private readonly NativeBuffer<float>? _vectors;
    private readonly Dictionary<long, WeightMatrix>? _mapped;   // Quantized: matrix handle by tensor offset
    private readonly IDisposable? _owner;                         // Quantized: what keeps the mapped data alive
    private readonly long _mappedBytes;

    private Weights(WeightFormat format, long count, long vectorStart)
    {
        if (vectorStart < 0 || vectorStart > count) throw new ArgumentOutOfRangeException(nameof(vectorStart));
        Format = format;
        Count = count;
        VectorStart = vectorStart;
        if (format == WeightFormat.F32)
        {
            _f32 = new NativeBuffer<float>(count);
        }
        else
        {
            _bf16 = new NativeBuffer<BF16>(vectorStart);
            _vectors = new NativeBuffer<float>(count - vectorStart);
        }
    }

    public static Weights Create(WeightFormat format, long count, long vectorStart)
    {
        if (format == WeightFormat.Quantized)
            throw new ArgumentException("Quantized weights are read from a file: use Weights.CreateMapped (ModelDirectory.Load does).", nameof(format));
        return new(format, count, vectorStart);
    }

    private Weights(long count, long vectorStart, Dictionary<long, WeightMatrix> matrices, long mappedBytes, IDisposable? owner)
    {
        if (vectorStart < 0 || vectorStart > count) throw new ArgumentOutOfRangeException(nameof(vectorStart));
        Format = WeightFormat.Quantized;
        Count = count;
        VectorStart = vectorStart;
        _vectors = new NativeBuffer<float>(count - vectorStart);
        _mapped = matrices;
        _mappedBytes = mappedBytes;
        _owner = owner;
    }

    /// <summary>
    /// Weights whose matrices live elsewhere (a memory-mapped file): <paramref name="matrices"/> gives the handle of
    /// each matrix tensor by its layout offset (&lt; <paramref name="vectorStart"/>); the vectors are allocated here
    /// (fill them with <see cref="Set(TensorSpec, ReadOnlySpan{float})"/>). <paramref name="owner"/> is disposed with
    /// the weights; <paramref name="mappedBytes"/> is what the matrices occupy (for <see cref="Bytes"/>).
    /// </summary>
    public static Weights CreateMapped(long count, long vectorStart, Dictionary<long, WeightMatrix> matrices, long mappedBytes, IDisposable? owner) =>
        new(count, vectorStart, matrices, mappedBytes, owner);

    public WeightFormat Format { get; }

    /// <summary>Number of parameters.</summary>
    public long Count { get; }

    /// <summary>First element of the vector (norm weight) region.</summary>
    public long VectorStart { get; }

    /// <summary>Bytes held in memory.</summary>
    public long Bytes => Format switch
    {
        WeightFormat.F32 => Count * 4,
        WeightFormat.BF16 => VectorStart * 2 + (Count - VectorStart) * 4,
        _ => _mappedBytes + (Count - VectorStart) * 4,
    };

    /// <summary>
    /// The handle of the matrix tensor at layout offset <paramref name="offset"/> (what the generated code passes to
    /// the kernels): a pointer into the flat buffer for F32 and BF16, the mapped blocks for Quantized.
    /// </summary>
    public WeightMatrix Matrix(long offset)
    {
        if (_f32 is not null) return WeightMatrix.F32(_f32.Pointer + offset);
        if (_bf16 is not null) return WeightMatrix.BF16(_bf16.Pointer + offset);
        return _mapped!.TryGetValue(offset, out var m)
            ? m
            : throw new ArgumentOutOfRangeException(nameof(offset), offset, "No matrix tensor starts at this offset.");
    }

    /// <summary>All parameters as float32 (F32 format only): what the optimizer and checkpoints of a training run use.</summary>
    public NativeBuffer<float> Data => _f32 ?? throw new InvalidOperationException("These weights are BF16; training needs F32 weights.");

    /// <summary>Base pointer of the matrices: element <c>offset</c> of a matrix tensor is at <c>Matrix&lt;TW&gt;() + offset</c>.</summary>
    public TW* Matrix<TW>() where TW : unmanaged
    {
        if (typeof(TW) == typeof(float) && _f32 is not null) return (TW*)_f32.Pointer;
        if (typeof(TW) == typeof(BF16) && _bf16 is not null) return (TW*)_bf16.Pointer;
        throw new InvalidOperationException($"The weights are {Format}, not {typeof(TW).Name}: use Matrix(offset).");
    }

    /// <summary>Base pointer of the vectors: element <c>offset</c> (≥ VectorStart) of a 1-D tensor is at <c>Vectors + offset</c>.</summary>
    public float* Vectors => _f32 is not null ? _f32.Pointer : _vectors!.Pointer - VectorStart;

    /// <summary>Writes float32 values into tensor <paramref name="tensor"/> (rounding to BF16 where stored so).</summary>
    public void Set(TensorSpec tensor, ReadOnlySpan<float> values)
    {
        if (values.Length != tensor.Length) throw new ArgumentException($"{tensor.Name}: {values.Length} values for {tensor.Length} elements.");
        CheckWritable(tensor);
        if (_f32 is not null || tensor.Offset >= VectorStart)
        {
            float* dst = (_f32 is not null ? _f32.Pointer : Vectors) + tensor.Offset;
            values.CopyTo(new Span<float>(dst, values.Length));
            return;
        }
        BF16* b = _bf16!.Pointer + tensor.Offset;
        for (int i = 0; i < values.Length; i++) b[i] = BF16.FromSingle(values[i]);
    }

    /// <summary>Writes BF16 values into tensor <paramref name="tensor"/> (widened exactly where stored as float32).</summary>
    public void Set(TensorSpec tensor, ReadOnlySpan<BF16> values)
    {
        if (values.Length != tensor.Length) throw new ArgumentException($"{tensor.Name}: {values.Length} values for {tensor.Length} elements.");
        CheckWritable(tensor);
        if (_bf16 is not null && tensor.Offset < VectorStart)
        {
            values.CopyTo(new Span<BF16>(_bf16.Pointer + tensor.Offset, values.Length));
            return;
        }
        float* dst = (_f32 is not null ? _f32.Pointer : Vectors) + tensor.Offset;
        for (int i = 0; i < values.Length; i++) dst[i] = values[i].ToSingle();
    }

    /// <summary>Reads tensor <paramref name="tensor"/> as float32 into <paramref name="destination"/>.</summary>
    public void Get(TensorSpec tensor, Span<float> destination)
    {
        if (destination.Length != tensor.Length) throw new ArgumentException($"{tensor.Name}: destination of {destination.Length} for {tensor.Length} elements.");
        if (_mapped is not null && tensor.Offset < VectorStart)
        {
            // A mapped matrix: dequantise its rows (exact) into the destination.
            var m = Matrix(tensor.Offset);
            fixed (float* d = destination) Quantization.MatrixRows.ToFloat(m, d, tensor.Length / tensor.Shape[^1], tensor.Shape[^1]);
            return;
        }
        if (_f32 is not null || tensor.Offset >= VectorStart)
        {
            float* src = (_f32 is not null ? _f32.Pointer : Vectors) + tensor.Offset;
            new ReadOnlySpan<float>(src, destination.Length).CopyTo(destination);
            return;
        }
        BF16* b = _bf16!.Pointer + tensor.Offset;
        for (int i = 0; i < destination.Length; i++) destination[i] = b[i].ToSingle();
    }

    private void CheckWritable(TensorSpec tensor)
    {
        if (_mapped is not null && tensor.Offset < VectorStart)
            throw new InvalidOperationException($"{tensor.Name}: the matrices of Quantized weights are read-only (mapped from a file).");
    }

    public void Dispose()
    {
        _owner?.Dispose();
        _f32?.Dispose();
        _bf16?.Dispose();
        _vectors?.Dispose();
    }
}
