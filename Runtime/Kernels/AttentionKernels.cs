using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Qwen3Gen.Kernels;

/// <summary>
/// The inner loops of the generated flash-style attention, for short head rows (HeadDim floats, a compile-time
/// constant at every call site, so the JIT folds the size checks away). Scores are computed a vector of keys at a
/// time against a transposed copy of the keys, kᵀ[d, s], so that each FMA does a full vector of useful multiply-adds
/// and no horizontal sum is needed: scores[s..s+W) = Σ_d q[d] · kᵀ[d, s..s+W). Every kernel is written once against
/// <see cref="ISimd{TV}"/> (512/256/128-bit and scalar); the head-row kernels take the widest width that divides
/// HeadDim. Every result is a fixed sequence of operations for a given vector width (no dependence on threads or
/// on where a block starts).
/// </summary>
public static unsafe class AttentionKernels
{
    /// <summary>kᵀ[d, s] = k[s · rowStride + d] for s &lt; keys; zero for keys ≤ s &lt; Padded(keys). kᵀ rows are Padded(keys) long.</summary>
    public static void Transpose(float* kt, float* k, int keys, int rowStride, int headDim)
    {
        int stride = Padded(keys);
        for (int s = 0; s < keys; s++)
        {
            float* row = k + (long)s * rowStride;
            for (int d = 0; d < headDim; d++) kt[(long)d * stride + s] = row[d];
        }
        for (int d = 0; d < headDim; d++)
            for (int s = keys; s < stride; s++) kt[(long)d * stride + s] = 0f;
    }

    /// <summary>Keys rounded up to a whole number of 16-float (512-bit) vectors, so also of every narrower width: the row length of a transposed block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Padded(int keys) => (keys + 15) & ~15;

    /// <summary>
    /// scores[s] = scale · Σ_d q[d] · kᵀ[d, first + s] for s &lt; n (and up to the next multiple of the vector width:
    /// pad lanes are written too, so <paramref name="scores"/> needs Padded(n) floats). <paramref name="ktStride"/> = Padded(all keys).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scores(float* scores, float* q, float* kt, int ktStride, int first, int n, int headDim, float scale)
    {
        switch (SimdLevel.Current)
        {
            case SimdLevel.V512: Scores<Simd512, Vector512<float>>(scores, q, kt, ktStride, first, n, headDim, scale); break;
            case SimdLevel.V256: Scores<Simd256, Vector256<float>>(scores, q, kt, ktStride, first, n, headDim, scale); break;
            case SimdLevel.V128: Scores<Simd128, Vector128<float>>(scores, q, kt, ktStride, first, n, headDim, scale); break;
            default: Scores<Scalar, float>(scores, q, kt, ktStride, first, n, headDim, scale); break;
        }
    }

    /// <summary>
    /// scores[s] = scale · Σ_d q[d] · k[(first + s) · rowStride + d] for s &lt; n, read straight from the key rows (no
    /// transposed copy). For a tile with one or a few query rows the copy, HeadDim scattered stores per key, costs more
    /// than the scores it would speed up. Each score is vector-lane partial sums over d then one horizontal sum, so it
    /// may differ from <see cref="Scores"/> in the last bits; it is a fixed sequence of operations per key all the same.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ScoresDirect(float* scores, float* q, float* k, int rowStride, int first, int n, int headDim, float scale)
    {
        switch (Level(headDim))
        {
            case SimdLevel.V512: ScoresDirect<Simd512, Vector512<float>>(scores, q, k, rowStride, first, n, headDim, scale); break;
            case SimdLevel.V256: ScoresDirect<Simd256, Vector256<float>>(scores, q, k, rowStride, first, n, headDim, scale); break;
            case SimdLevel.V128: ScoresDirect<Simd128, Vector128<float>>(scores, q, k, rowStride, first, n, headDim, scale); break;
            default: ScoresDirect<Scalar, float>(scores, q, k, rowStride, first, n, headDim, scale); break;
        }
    }

    /// <summary>
    /// acc[d] += Σ_{j &lt; n} p[j] · v[j · rowStride + d]: the probability-weighted sum of n value rows, the
    /// accumulators held in registers for two vectors of the row at a time (even and odd keys summed apart, then added).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WeightedSum(float* acc, float* p, float* v, int rowStride, int n, int headDim)
    {
        switch (Level(headDim))
        {
            case SimdLevel.V512: WeightedSum<Simd512, Vector512<float>>(acc, p, v, rowStride, n, headDim); break;
            case SimdLevel.V256: WeightedSum<Simd256, Vector256<float>>(acc, p, v, rowStride, n, headDim); break;
            case SimdLevel.V128: WeightedSum<Simd128, Vector128<float>>(acc, p, v, rowStride, n, headDim); break;
            default: WeightedSum<Scalar, float>(acc, p, v, rowStride, n, headDim); break;
        }
    }

    /// <summary>y[d] += a · x[d] over one head row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Axpy(float* y, float a, float* x, int headDim)
    {
        switch (Level(headDim))
        {
            case SimdLevel.V512: Axpy<Simd512, Vector512<float>>(y, a, x, headDim); break;
            case SimdLevel.V256: Axpy<Simd256, Vector256<float>>(y, a, x, headDim); break;
            case SimdLevel.V128: Axpy<Simd128, Vector128<float>>(y, a, x, headDim); break;
            default: Axpy<Scalar, float>(y, a, x, headDim); break;
        }
    }

    /// <summary>Σ_d a[d] · b[d] over one head row (vector lanes, then the lanes summed in a fixed order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(float* a, float* b, int headDim) => Level(headDim) switch
    {
        SimdLevel.V512 => Dot<Simd512, Vector512<float>>(a, b, headDim),
        SimdLevel.V256 => Dot<Simd256, Vector256<float>>(a, b, headDim),
        SimdLevel.V128 => Dot<Simd128, Vector128<float>>(a, b, headDim),
        _ => Dot<Scalar, float>(a, b, headDim),
    };

    /// <summary>y[d] *= a over one head row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scale(float* y, float a, int headDim)
    {
        switch (Level(headDim))
        {
            case SimdLevel.V512: Scale<Simd512, Vector512<float>>(y, a, headDim); break;
            case SimdLevel.V256: Scale<Simd256, Vector256<float>>(y, a, headDim); break;
            case SimdLevel.V128: Scale<Simd128, Vector128<float>>(y, a, headDim); break;
            default: Scale<Scalar, float>(y, a, headDim); break;
        }
    }

    /// <summary>max_s x[s] over s &lt; n (n ≥ 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Max(float* x, int n) => SimdLevel.Current switch
    {
        SimdLevel.V512 => Max<Simd512, Vector512<float>>(x, n),
        SimdLevel.V256 => Max<Simd256, Vector256<float>>(x, n),
        SimdLevel.V128 => Max<Simd128, Vector128<float>>(x, n),
        _ => Max<Scalar, float>(x, n),
    };

    /// <summary>x[s] = exp(x[s] − shift) for s &lt; n; returns Σ_s x[s] (vector lanes, then lanes and tail in a fixed order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ExpSum(float* x, int n, float shift) => SimdLevel.Current switch
    {
        SimdLevel.V512 => ExpSum<Simd512, Vector512<float>>(x, n, shift),
        SimdLevel.V256 => ExpSum<Simd256, Vector256<float>>(x, n, shift),
        SimdLevel.V128 => ExpSum<Simd128, Vector128<float>>(x, n, shift),
        _ => ExpSum<Scalar, float>(x, n, shift),
    };

    /// <summary>ds[s] = p[s] · (dp[s] − D) · scale for s &lt; n, written over dp (the score gradient of the backward pass).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ScoreGradient(float* dp, float* p, int n, float dDotO, float scale)
    {
        switch (SimdLevel.Current)
        {
            case SimdLevel.V512: ScoreGradient<Simd512, Vector512<float>>(dp, p, n, dDotO, scale); break;
            case SimdLevel.V256: ScoreGradient<Simd256, Vector256<float>>(dp, p, n, dDotO, scale); break;
            case SimdLevel.V128: ScoreGradient<Simd128, Vector128<float>>(dp, p, n, dDotO, scale); break;
            default: ScoreGradient<Scalar, float>(dp, p, n, dDotO, scale); break;
        }
    }

    /// <summary>
    /// The widest vector level whose width divides <paramref name="headDim"/> (the head-row kernels have no tail loop).
    /// Both operands are JIT-time constants at the generated call sites (HeadDim is a const), so this folds away.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Level(int headDim)
    {
        int level = SimdLevel.Current;
        if (level == SimdLevel.V512 && headDim % 16 != 0) level = SimdLevel.V256;
        if (level == SimdLevel.V256 && headDim % 8 != 0) level = SimdLevel.V128;
        if (level == SimdLevel.V128 && headDim % 4 != 0) level = SimdLevel.None;
        return level;
    }

    // ---- The kernels, each written once against ISimd (S.Width floats per vector; Width 1 is the scalar path). ----

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Scores<S, TV>(float* scores, float* q, float* kt, int ktStride, int first, int n, int headDim, float scale)
        where S : struct, ISimd<TV> where TV : unmanaged
    {
        int w = S.Width, s = 0;
        TV vs = S.Broadcast(scale);
        for (; s + 3 * w < n; s += 4 * w)                  // four vectors of keys: four independent FMA chains
        {
            float* col = kt + first + s;
            TV a0 = S.Zero, a1 = S.Zero, a2 = S.Zero, a3 = S.Zero;
            for (int d = 0; d < headDim; d++, col += ktStride)
            {
                TV qd = S.Broadcast(q[d]);
                a0 = S.Fma(qd, S.Load(col), a0);
                a1 = S.Fma(qd, S.Load(col + w), a1);
                a2 = S.Fma(qd, S.Load(col + 2 * w), a2);
                a3 = S.Fma(qd, S.Load(col + 3 * w), a3);
            }
            S.Store(scores + s, S.Mul(a0, vs));
            S.Store(scores + s + w, S.Mul(a1, vs));
            S.Store(scores + s + 2 * w, S.Mul(a2, vs));
            S.Store(scores + s + 3 * w, S.Mul(a3, vs));
        }
        for (; s < n; s += w)
        {
            float* col = kt + first + s;
            TV a = S.Zero;
            for (int d = 0; d < headDim; d++) a = S.Fma(S.Broadcast(q[d]), S.Load(col + (long)d * ktStride), a);
            S.Store(scores + s, S.Mul(a, vs));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private static void ScoresDirect<S, TV>(float* scores, float* q, float* k, int rowStride, int first, int n, int headDim, float scale)
        where S : struct, ISimd<TV> where TV : unmanaged
    {
        int w = S.Width, s = 0;
        float* k0 = k + (long)first * rowStride;
        for (; s + 4 <= n; s += 4)                          // four keys: four independent FMA chains
        {
            float* r0 = k0 + (long)s * rowStride, r1 = r0 + rowStride, r2 = r1 + rowStride, r3 = r2 + rowStride;
            TV a0 = S.Zero, a1 = S.Zero, a2 = S.Zero, a3 = S.Zero;
            for (int d = 0; d < headDim; d += w)
            {
                TV qd = S.Load(q + d);
                a0 = S.Fma(qd, S.Load(r0 + d), a0);
                a1 = S.Fma(qd, S.Load(r1 + d), a1);
                a2 = S.Fma(qd, S.Load(r2 + d), a2);
                a3 = S.Fma(qd, S.Load(r3 + d), a3);
            }
            scores[s] = S.Sum(a0) * scale;
            scores[s + 1] = S.Sum(a1) * scale;
            scores[s + 2] = S.Sum(a2) * scale;
            scores[s + 3] = S.Sum(a3) * scale;
        }
        for (; s < n; s++)
        {
            float* r0 = k0 + (long)s * rowStride;
            TV a0 = S.Zero;
            for (int d = 0; d < headDim; d += w) a0 = S.Fma(S.Load(q + d), S.Load(r0 + d), a0);
            scores[s] = S.Sum(a0) * scale;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private static void WeightedSum<S, TV>(float* acc, float* p, float* v, int rowStride, int n, int headDim)
        where S : struct, ISimd<TV> where TV : unmanaged
    {
        int w = S.Width;
        if (headDim % (2 * w) == 0)
        {
            for (int d = 0; d < headDim; d += 2 * w)
            {
                // even keys into a, odd keys into b (four independent FMA chains), then a + b
                TV a0 = S.Load(acc + d), a1 = S.Load(acc + d + w), b0 = S.Zero, b1 = S.Zero;
                float* row = v + d;
                int j = 0;
                for (; j + 1 < n; j += 2, row += 2 * rowStride)
                {
                    TV pj = S.Broadcast(p[j]);
                    a0 = S.Fma(pj, S.Load(row), a0);
                    a1 = S.Fma(pj, S.Load(row + w), a1);
                    TV pk = S.Broadcast(p[j + 1]);
                    b0 = S.Fma(pk, S.Load(row + rowStride), b0);
                    b1 = S.Fma(pk, S.Load(row + rowStride + w), b1);
                }
                if (j < n)
                {
                    TV pj = S.Broadcast(p[j]);
                    a0 = S.Fma(pj, S.Load(row), a0);
                    a1 = S.Fma(pj, S.Load(row + w), a1);
                }
                S.Store(acc + d, S.Add(a0, b0));
                S.Store(acc + d + w, S.Add(a1, b1));
            }
            return;
        }
        for (int d = 0; d < headDim; d += w)               // headDim an odd number of vectors: one chain per vector
        {
            TV a0 = S.Load(acc + d);
            float* row = v + d;
            for (int j = 0; j < n; j++, row += rowStride) a0 = S.Fma(S.Broadcast(p[j]), S.Load(row), a0);
            S.Store(acc + d, a0);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Axpy<S, TV>(float* y, float a, float* x, int headDim) where S : struct, ISimd<TV> where TV : unmanaged
    {
        TV va = S.Broadcast(a);
        for (int d = 0; d < headDim; d += S.Width) S.Store(y + d, S.Fma(va, S.Load(x + d), S.Load(y + d)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot<S, TV>(float* a, float* b, int headDim) where S : struct, ISimd<TV> where TV : unmanaged
    {
        TV acc = S.Zero;
        for (int d = 0; d < headDim; d += S.Width) acc = S.Fma(S.Load(a + d), S.Load(b + d), acc);
        return S.Sum(acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Scale<S, TV>(float* y, float a, int headDim) where S : struct, ISimd<TV> where TV : unmanaged
    {
        TV va = S.Broadcast(a);
        for (int d = 0; d < headDim; d += S.Width) S.Store(y + d, S.Mul(S.Load(y + d), va));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Max<S, TV>(float* x, int n) where S : struct, ISimd<TV> where TV : unmanaged
    {
        int w = S.Width, s = 0;
        float max = float.NegativeInfinity;
        if (w > 1 && n >= w)
        {
            TV m = S.Load(x);
            for (s = w; s <= n - w; s += w) m = S.Max(m, S.Load(x + s));
            max = S.MaxAcross(m);                           // max is exact in any order
        }
        for (; s < n; s++) max = MathF.Max(max, x[s]);
        return max;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private static float ExpSum<S, TV>(float* x, int n, float shift) where S : struct, ISimd<TV> where TV : unmanaged
    {
        int w = S.Width, s = 0;
        float sum = 0f;
        if (w > 1)
        {
            TV vs = S.Broadcast(shift), acc = S.Zero;
            for (; s <= n - w; s += w)
            {
                TV e = S.Exp(S.Sub(S.Load(x + s), vs));
                S.Store(x + s, e);
                acc = S.Add(acc, e);
            }
            sum = S.Sum(acc);
        }
        for (; s < n; s++)
        {
            float e = MathF.Exp(x[s] - shift);
            x[s] = e;
            sum += e;
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private static void ScoreGradient<S, TV>(float* dp, float* p, int n, float dDotO, float scale) where S : struct, ISimd<TV> where TV : unmanaged
    {
        int w = S.Width, s = 0;
        if (w > 1)
        {
            TV vd = S.Broadcast(dDotO), vs = S.Broadcast(scale);
            for (; s <= n - w; s += w) S.Store(dp + s, S.Mul(S.Mul(S.Load(p + s), S.Sub(S.Load(dp + s), vd)), vs));
        }
        for (; s < n; s++) dp[s] = p[s] * (dp[s] - dDotO) * scale;
    }

    [ThreadStatic] private static float[]? _scratch;

    /// <summary>A per-thread scratch block of n floats, 64-byte aligned (allocated once per thread, grown, never shrunk).</summary>
    public static float* Scratch(int n)
    {
        if (_scratch is null || _scratch.Length < n + 16) _scratch = GC.AllocateUninitializedArray<float>(n + 16, pinned: true);
        float* p = (float*)Unsafe.AsPointer(ref _scratch[0]);
        return (float*)(((nint)p + 63) & ~(nint)63);
    }
}
