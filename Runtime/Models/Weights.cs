namespace Qwen3Gen;

/// <summary>How a model's matrices are stored in memory.</summary>
public enum WeightFormat
{
    /// <summary>float32: training and exact inference.</summary>
    F32,
    /// <summary>bfloat16 matrices, widened inside the kernels (half the memory and bandwidth); vectors stay float32.</summary>
    BF16,
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

    public static Weights Create(WeightFormat format, long count, long vectorStart) => new(format, count, vectorStart);

    public WeightFormat Format { get; }

    /// <summary>Number of parameters.</summary>
    public long Count { get; }

    /// <summary>First element of the vector (norm weight) region.</summary>
    public long VectorStart { get; }

    /// <summary>Bytes held in memory.</summary>
    public long Bytes => Format == WeightFormat.F32 ? Count * 4 : VectorStart * 2 + (Count - VectorStart) * 4;

    /// <summary>All parameters as float32 (F32 format only): what the optimizer and checkpoints of a training run use.</summary>
    public NativeBuffer<float> Data => _f32 ?? throw new InvalidOperationException("These weights are BF16; training needs F32 weights.");

    /// <summary>Base pointer of the matrices: element <c>offset</c> of a matrix tensor is at <c>Matrix&lt;TW&gt;() + offset</c>.</summary>
    public TW* Matrix<TW>() where TW : unmanaged
    {
        if (typeof(TW) == typeof(float) && _f32 is not null) return (TW*)_f32.Pointer;
        if (typeof(TW) == typeof(BF16) && _bf16 is not null) return (TW*)_bf16.Pointer;
        throw new InvalidOperationException($"The weights are {Format}, not {typeof(TW).Name}.");
    }

    /// <summary>Base pointer of the vectors: element <c>offset</c> (≥ VectorStart) of a 1-D tensor is at <c>Vectors + offset</c>.</summary>
    public float* Vectors => _f32 is not null ? _f32.Pointer : _vectors!.Pointer - VectorStart;

    /// <summary>Writes float32 values into tensor <paramref name="tensor"/> (rounding to BF16 where stored so).</summary>
    public void Set(TensorSpec tensor, ReadOnlySpan<float> values)
    {
        if (values.Length != tensor.Length) throw new ArgumentException($"{tensor.Name}: {values.Length} values for {tensor.Length} elements.");
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
        if (_f32 is not null || tensor.Offset >= VectorStart)
        {
            float* src = (_f32 is not null ? _f32.Pointer : Vectors) + tensor.Offset;
            new ReadOnlySpan<float>(src, destination.Length).CopyTo(destination);
            return;
        }
        BF16* b = _bf16!.Pointer + tensor.Offset;
        for (int i = 0; i < destination.Length; i++) destination[i] = b[i].ToSingle();
    }

    public void Dispose()
    {
        _f32?.Dispose();
        _bf16?.Dispose();
        _vectors?.Dispose();
    }
}
