using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Qwen3Gen;

/// <summary>Small row-level helpers shared by every generated model (shape-independent).</summary>
public static unsafe class RowOps
{
    /// <summary>dst[0..n) = src[0..n) as float32 (a copy for float, an exact widening for BF16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load<TW>(float* dst, TW* src, int n) where TW : unmanaged
    {
        if (typeof(TW) == typeof(float))
        {
            new ReadOnlySpan<float>(src, n).CopyTo(new Span<float>(dst, n));
            return;
        }
        BF16* b = (BF16*)src;
        for (int i = 0; i < n; i++) dst[i] = b[i].ToSingle();
    }

    /// <summary>Σ_i a[i]·b[i] over n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(float* a, float* b, int n) => TensorPrimitives.Dot(new ReadOnlySpan<float>(a, n), new ReadOnlySpan<float>(b, n));

    /// <summary>y[i] += a·x[i] over n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Axpy(float* y, float a, float* x, int n)
    {
        var ys = new Span<float>(y, n);
        TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(x, n), a, ys, ys);
    }

    /// <summary>y[i] *= a over n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scale(float* y, float a, int n)
    {
        var ys = new Span<float>(y, n);
        TensorPrimitives.Multiply(ys, a, ys);
    }

    /// <summary>y[i] += x[i] over n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Add(float* y, float* x, int n)
    {
        var ys = new Span<float>(y, n);
        TensorPrimitives.Add(ys, new ReadOnlySpan<float>(x, n), ys);
    }

    /// <summary>Zeroes n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Clear(float* y, long n) => System.Runtime.InteropServices.NativeMemory.Clear(y, (nuint)n * sizeof(float));

    /// <summary>Copies n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Copy(float* dst, float* src, long n) => Buffer.MemoryCopy(src, dst, n * sizeof(float), n * sizeof(float));

    /// <summary>
    /// log Σ_i exp(x[i]) over n floats, computed as max + log Σ exp(x − max) (stable): two read passes (max, then the
    /// exponentials summed in registers, nothing written), so a 151,936-wide logit row is read twice, not five times.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float LogSumExp(float* x, int n)
    {
        float max = TensorPrimitives.Max(new ReadOnlySpan<float>(x, n));
        int i = 0;
        float sum = 0f;
        if (Vector512.IsHardwareAccelerated)
        {
            var vm = Vector512.Create(max);
            Vector512<float> a0 = default, a1 = default;
            for (; i <= n - 32; i += 32)
            {
                a0 += Vector512.Exp(Vector512.Load(x + i) - vm);
                a1 += Vector512.Exp(Vector512.Load(x + i + 16) - vm);
            }
            sum = Vector512.Sum(a0 + a1);
        }
        for (; i < n; i++) sum += MathF.Exp(x[i] - max);
        return max + MathF.Log(sum);
    }

    /// <summary>x[i] = exp(x[i] − shift) · scale over n floats, in one pass (the cross-entropy gradient: softmax / count).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ExpScale(float* x, int n, float shift, float scale)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512.Create(shift);
            var vc = Vector512.Create(scale);
            for (; i <= n - 16; i += 16) (Vector512.Exp(Vector512.Load(x + i) - vs) * vc).Store(x + i);
        }
        for (; i < n; i++) x[i] = MathF.Exp(x[i] - shift) * scale;
    }

    [ThreadStatic] private static float[]? _scratch;

    /// <summary>A reusable per-thread scratch span of n floats (grown, never shrunk).</summary>
    public static Span<float> ScratchRow(int n)
    {
        if (_scratch is null || _scratch.Length < n) _scratch = GC.AllocateUninitializedArray<float>(n, pinned: true);
        return _scratch.AsSpan(0, n);
    }
}
