using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Qwen3Gen;

/// <summary>
/// Small vector kernels shared by generated models: Dot, Axpy, Scale and BF16 widening, each on the widest
/// accelerated vector size (Vector512 → Vector256 → Vector128 → scalar). Results depend only on n and the data.
/// </summary>
public static unsafe class Kernels
{
    /// <summary>Σ_i a[i] · b[i]: two vector accumulators, a fixed lane sum, then the scalar tail.</summary>
    public static float Dot(float* a, float* b, int n) => SimdLevel.Current switch
    {
        SimdLevel.V512 => Dot<Simd512, Vector512<float>>(a, b, n),
        SimdLevel.V256 => Dot<Simd256, Vector256<float>>(a, b, n),
        SimdLevel.V128 => Dot<Simd128, Vector128<float>>(a, b, n),
        _ => Dot<Scalar, float>(a, b, n),
    };

    /// <summary>y[i] += a · x[i]  (one FMA per element on vector paths).</summary>
    public static void Axpy(float* y, float a, float* x, int n)
    {
        switch (SimdLevel.Current)
        {
            case SimdLevel.V512: Axpy<Simd512, Vector512<float>>(y, a, x, n); break;
            case SimdLevel.V256: Axpy<Simd256, Vector256<float>>(y, a, x, n); break;
            case SimdLevel.V128: Axpy<Simd128, Vector128<float>>(y, a, x, n); break;
            default: Axpy<Scalar, float>(y, a, x, n); break;
        }
    }

    /// <summary>x[i] *= a.</summary>
    public static void Scale(float* x, float a, int n)
    {
        switch (SimdLevel.Current)
        {
            case SimdLevel.V512: Scale<Simd512, Vector512<float>>(x, a, n); break;
            case SimdLevel.V256: Scale<Simd256, Vector256<float>>(x, a, n); break;
            case SimdLevel.V128: Scale<Simd128, Vector128<float>>(x, a, n); break;
            default: Scale<Scalar, float>(x, a, n); break;
        }
    }

    /// <summary>dst[i] = (float)src[i]: exact (bits &lt;&lt; 16).</summary>
    public static void Widen(BF16* src, float* dst, int n)
    {
        switch (SimdLevel.Current)
        {
            case SimdLevel.V512: Widen<Simd512, Vector512<float>>((ushort*)src, dst, n); break;
            case SimdLevel.V256: Widen<Simd256, Vector256<float>>((ushort*)src, dst, n); break;
            case SimdLevel.V128: Widen<Simd128, Vector128<float>>((ushort*)src, dst, n); break;
            default: Widen<Scalar, float>((ushort*)src, dst, n); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot<S, TV>(float* a, float* b, int n) where S : struct, ISimd<TV> where TV : unmanaged
    {
        int w = S.Width, i = 0;
        TV s0 = S.Zero, s1 = S.Zero;
        for (; i + 2 * w <= n; i += 2 * w)
        {
            s0 = S.Fma(S.Load(a + i), S.Load(b + i), s0);
            s1 = S.Fma(S.Load(a + i + w), S.Load(b + i + w), s1);
        }
        if (i + w <= n) { s0 = S.Fma(S.Load(a + i), S.Load(b + i), s0); i += w; }
        float sum = S.Sum(S.Add(s0, s1));
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Axpy<S, TV>(float* y, float a, float* x, int n) where S : struct, ISimd<TV> where TV : unmanaged
    {
        int w = S.Width, i = 0;
        TV av = S.Broadcast(a);
        for (; i + w <= n; i += w) S.Store(y + i, S.Fma(av, S.Load(x + i), S.Load(y + i)));
        for (; i < n; i++) y[i] = MathF.FusedMultiplyAdd(a, x[i], y[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scale<S, TV>(float* x, float a, int n) where S : struct, ISimd<TV> where TV : unmanaged
    {
        int w = S.Width, i = 0;
        TV av = S.Broadcast(a);
        for (; i + w <= n; i += w) S.Store(x + i, S.Mul(av, S.Load(x + i)));
        for (; i < n; i++) x[i] *= a;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Widen<S, TV>(ushort* src, float* dst, int n) where S : struct, ISimd<TV> where TV : unmanaged
    {
        int w = S.Width, i = 0;
        for (; i + w <= n; i += w) S.Store(dst + i, S.LoadBF16(src + i));
        for (; i < n; i++) dst[i] = BitConverter.Int32BitsToSingle(src[i] << 16);
    }
}
