using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Qwen3Gen.Kernels;

/// <summary>
/// Small row-level helpers shared by every generated model (shape-independent). Dot, Axpy, Scale and Add are thin
/// <see cref="TensorPrimitives"/> calls: TensorPrimitives already runs them on the widest vectors the machine has
/// (512/256/128-bit, scalar tail), so a copy against <see cref="ISimd{TV}"/> would add code and no speed. The fused
/// row kernels TensorPrimitives lacks (log-sum-exp, exp-and-scale, the SwiGLU gate gradient, BF16 widening) are
/// written once against <see cref="ISimd{TV}"/>.
/// </summary>
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
        Widen((ushort*)src, dst, n);
    }

    /// <summary>dst[i] = (float)src[i] for n bfloat16 values: exact (bits &lt;&lt; 16), a vector at a time.</summary>
    internal static void Widen(ushort* src, float* dst, int n)
    {
        switch (SimdLevel.Current)
        {
            case SimdLevel.V512: Widen<Simd512, Vector512<float>>(src, dst, n); break;
            case SimdLevel.V256: Widen<Simd256, Vector256<float>>(src, dst, n); break;
            case SimdLevel.V128: Widen<Simd128, Vector128<float>>(src, dst, n); break;
            default: Widen<Scalar, float>(src, dst, n); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Widen<S, TV>(ushort* src, float* dst, int n) where S : struct, ISimd<TV> where TV : unmanaged
    {
        int w = S.Width, i = 0;
        for (; i + w <= n; i += w) S.Store(dst + i, S.LoadBF16(src + i));
        for (; i < n; i++) dst[i] = BitConverter.Int32BitsToSingle(src[i] << 16);
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
    public static float LogSumExp(float* x, int n)
    {
        float max = TensorPrimitives.Max(new ReadOnlySpan<float>(x, n));
        return SimdLevel.Current switch
        {
            SimdLevel.V512 => LogSumExp<Simd512, Vector512<float>>(x, n, max),
            SimdLevel.V256 => LogSumExp<Simd256, Vector256<float>>(x, n, max),
            SimdLevel.V128 => LogSumExp<Simd128, Vector128<float>>(x, n, max),
            _ => LogSumExp<Scalar, float>(x, n, max),
        };
    }

    /// <summary>x[i] = exp(x[i] − shift) · scale over n floats, in one pass (the cross-entropy gradient: softmax / count).</summary>
    public static void ExpScale(float* x, int n, float shift, float scale)
    {
        switch (SimdLevel.Current)
        {
            case SimdLevel.V512: ExpScale<Simd512, Vector512<float>>(x, n, shift, scale); break;
            case SimdLevel.V256: ExpScale<Simd256, Vector256<float>>(x, n, shift, scale); break;
            case SimdLevel.V128: ExpScale<Simd128, Vector128<float>>(x, n, shift, scale); break;
            default: ExpScale<Scalar, float>(x, n, shift, scale); break;
        }
    }

    /// <summary>
    /// SwiGLU's gate gradient, in place over σ: g[i] = dact[i] · up[i] · σ[i] · (1 + z[i] · (1 − σ[i])), where g holds
    /// σ(z) on entry. The vector path runs the same operations in the same order as the scalar tail (no fused
    /// multiply-add), so every element gets the same bits wherever it falls and whatever the vector width.
    /// </summary>
    public static void SwiGluGateGradient(float* g, float* dAct, float* z, float* up, int n)
    {
        switch (SimdLevel.Current)
        {
            case SimdLevel.V512: SwiGluGateGradient<Simd512, Vector512<float>>(g, dAct, z, up, n); break;
            case SimdLevel.V256: SwiGluGateGradient<Simd256, Vector256<float>>(g, dAct, z, up, n); break;
            case SimdLevel.V128: SwiGluGateGradient<Simd128, Vector128<float>>(g, dAct, z, up, n); break;
            default: SwiGluGateGradient<Scalar, float>(g, dAct, z, up, n); break;
        }
    }

    /// <summary>Σ exp(x[i] − max) in two vector accumulators (a fixed lane sum, then the tail), as max + log(sum).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float LogSumExp<S, TV>(float* x, int n, float max) where S : struct, ISimd<TV> where TV : unmanaged
    {
        int w = S.Width, i = 0;
        float sum = 0f;
        if (w > 1)
        {
            TV vm = S.Broadcast(max), a0 = S.Zero, a1 = S.Zero;
            for (; i <= n - 2 * w; i += 2 * w)
            {
                a0 = S.Add(a0, S.Exp(S.Sub(S.Load(x + i), vm)));
                a1 = S.Add(a1, S.Exp(S.Sub(S.Load(x + i + w), vm)));
            }
            sum = S.Sum(S.Add(a0, a1));
        }
        for (; i < n; i++) sum += MathF.Exp(x[i] - max);
        return max + MathF.Log(sum);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ExpScale<S, TV>(float* x, int n, float shift, float scale) where S : struct, ISimd<TV> where TV : unmanaged
    {
        int w = S.Width, i = 0;
        if (w > 1)
        {
            TV vs = S.Broadcast(shift), vc = S.Broadcast(scale);
            for (; i <= n - w; i += w) S.Store(x + i, S.Mul(S.Exp(S.Sub(S.Load(x + i), vs)), vc));
        }
        for (; i < n; i++) x[i] = MathF.Exp(x[i] - shift) * scale;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SwiGluGateGradient<S, TV>(float* g, float* dAct, float* z, float* up, int n) where S : struct, ISimd<TV> where TV : unmanaged
    {
        int w = S.Width, i = 0;
        if (w > 1)
        {
            TV one = S.Broadcast(1f);
            for (; i <= n - w; i += w)
            {
                TV sigma = S.Load(g + i);
                TV r = S.Mul(S.Mul(S.Mul(S.Load(dAct + i), S.Load(up + i)), sigma), S.Add(one, S.Mul(S.Load(z + i), S.Sub(one, sigma))));
                S.Store(g + i, r);
            }
        }
        for (; i < n; i++)
        {
            float sigma = g[i];
            g[i] = dAct[i] * up[i] * sigma * (1f + z[i] * (1f - sigma));
        }
    }

    [ThreadStatic] private static float[]? _scratch;

    /// <summary>A reusable per-thread scratch span of n floats (grown, never shrunk).</summary>
    public static Span<float> ScratchRow(int n)
    {
        if (_scratch is null || _scratch.Length < n) _scratch = GC.AllocateUninitializedArray<float>(n, pinned: true);
        return _scratch.AsSpan(0, n);
    }
}
