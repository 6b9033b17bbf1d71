using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Qwen3Gen.Kernels;

/// <summary>
/// The attention inner loops over a compact cache (<see cref="KvRows"/>: BF16, F16, Q8_0), reading the codes
/// directly: each loop is specialised per format (a codec struct, so the JIT inlines the decode) and per vector width
/// (<see cref="ISimd{TV}"/>), and performs the same operations in the same order as its float32 counterpart in
/// <see cref="AttentionKernels"/>, on the decoded values. Decoding: BF16 bits &lt;&lt; 16 (exact); F16 the IEEE half value (exact); Q8_0 q · d with d the block's
/// half-float scale.
/// </summary>
public static unsafe class KvCacheKernels
{
    /// <summary>Encodes n elements x[0..n) at element <paramref name="e"/> (a whole number of head rows, blocks aligned).</summary>
    public static void Store(in KvRows c, long e, float* x, int n)
    {
        switch (c.Format)
        {
            case KvCacheFormat.BF16:
                for (int i = 0; i < n; i++) ((ushort*)c.Data)[e + i] = BF16.FromSingle(x[i]).Bits;
                break;
            case KvCacheFormat.F16:
                for (int i = 0; i < n; i++) ((Half*)c.Data)[e + i] = (Half)x[i];
                break;
            case KvCacheFormat.Q8_0:
                // llama.cpp quantize_row_q8_0: d = max|x| / 127, q = round(x / d) (half away from zero), d kept as half.
                for (int b0 = 0; b0 < n; b0 += c.Block)
                {
                    float amax = 0f;
                    for (int i = 0; i < c.Block; i++) amax = MathF.Max(amax, MathF.Abs(x[b0 + i]));
                    float d = amax / 127f, id = d != 0f ? 1f / d : 0f;
                    for (int i = 0; i < c.Block; i++)
                        ((sbyte*)c.Data)[e + b0 + i] = (sbyte)MathF.Round(x[b0 + i] * id, MidpointRounding.AwayFromZero);
                    c.Scales[(e + b0) / c.Block] = (Half)d;
                }
                break;
            default:
                throw new ArgumentException($"No compact store for {c.Format}.");
        }
    }

    /// <summary>The decoded value of element <paramref name="e"/>.</summary>
    public static float Load(in KvRows c, long e) => c.Format switch
    {
        KvCacheFormat.BF16 => Bf16Codec.Load(c, e),
        KvCacheFormat.F16 => F16Codec.Load(c, e),
        _ => Q8Codec.Load(c, e),
    };

    /// <summary>
    /// scores[s] = scale · Σ_d q[d] · k(e0 + s · rowStride + d) for s &lt; n: <see cref="AttentionKernels.ScoresDirect"/>
    /// on decoded keys.
    /// </summary>
    public static void ScoresDirect(float* scores, float* q, in KvRows k, long e0, int rowStride, int n, int headDim, float scale)
    {
        switch (k.Format)
        {
            case KvCacheFormat.BF16: ScoresDirect<Bf16Codec>(scores, q, k, e0, rowStride, n, headDim, scale); break;
            case KvCacheFormat.F16: ScoresDirect<F16Codec>(scores, q, k, e0, rowStride, n, headDim, scale); break;
            default: ScoresDirect<Q8Codec>(scores, q, k, e0, rowStride, n, headDim, scale); break;
        }
    }

    /// <summary>kᵀ[d, s] = k(e0 + s · rowStride + d), zero-padded as <see cref="AttentionKernels.Transpose"/>.</summary>
    public static void Transpose(float* kt, in KvRows k, long e0, int keys, int rowStride, int headDim)
    {
        int stride = AttentionKernels.Padded(keys);
        for (int s = 0; s < keys; s++)
        {
            long row = e0 + (long)s * rowStride;
            for (int d = 0; d < headDim; d++) kt[(long)d * stride + s] = Load(k, row + d);
        }
        for (int d = 0; d < headDim; d++)
            for (int s = keys; s < stride; s++) kt[(long)d * stride + s] = 0f;
    }

    /// <summary>acc[d] += Σ_{j &lt; n} p[j] · v(e0 + j · rowStride + d): <see cref="AttentionKernels.WeightedSum"/> on decoded values.</summary>
    public static void WeightedSum(float* acc, float* p, in KvRows v, long e0, int rowStride, int n, int headDim)
    {
        switch (v.Format)
        {
            case KvCacheFormat.BF16: WeightedSum<Bf16Codec>(acc, p, v, e0, rowStride, n, headDim); break;
            case KvCacheFormat.F16: WeightedSum<F16Codec>(acc, p, v, e0, rowStride, n, headDim); break;
            default: WeightedSum<Q8Codec>(acc, p, v, e0, rowStride, n, headDim); break;
        }
    }

    // The vector width is chosen as in AttentionKernels (the widest that divides HeadDim), so a compact cache and a
    // float32 cache holding the same values give the same bits.

    private static void ScoresDirect<T>(float* scores, float* q, in KvRows k, long e0, int rowStride, int n, int headDim, float scale)
        where T : struct, IKvCodec
    {
        switch (AttentionKernels.Level(headDim))
        {
            case SimdLevel.V512: ScoresDirect<T, Simd512, Vector512<float>>(scores, q, k, e0, rowStride, n, headDim, scale); break;
            case SimdLevel.V256: ScoresDirect<T, Simd256, Vector256<float>>(scores, q, k, e0, rowStride, n, headDim, scale); break;
            case SimdLevel.V128: ScoresDirect<T, Simd128, Vector128<float>>(scores, q, k, e0, rowStride, n, headDim, scale); break;
            default: ScoresDirect<T, Scalar, float>(scores, q, k, e0, rowStride, n, headDim, scale); break;
        }
    }

    private static void WeightedSum<T>(float* acc, float* p, in KvRows v, long e0, int rowStride, int n, int headDim)
        where T : struct, IKvCodec
    {
        switch (AttentionKernels.Level(headDim))
        {
            case SimdLevel.V512: WeightedSum<T, Simd512, Vector512<float>>(acc, p, v, e0, rowStride, n, headDim); break;
            case SimdLevel.V256: WeightedSum<T, Simd256, Vector256<float>>(acc, p, v, e0, rowStride, n, headDim); break;
            case SimdLevel.V128: WeightedSum<T, Simd128, Vector128<float>>(acc, p, v, e0, rowStride, n, headDim); break;
            default: WeightedSum<T, Scalar, float>(acc, p, v, e0, rowStride, n, headDim); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScoresDirect<T, S, TV>(float* scores, float* q, in KvRows k, long e0, int rowStride, int n, int headDim, float scale)
        where T : struct, IKvCodec where S : struct, ISimd<TV> where TV : unmanaged
    {
        int w = S.Width, s = 0;
        for (; s + 4 <= n; s += 4)                          // four keys: four independent FMA chains
        {
            long r0 = e0 + (long)s * rowStride, r1 = r0 + rowStride, r2 = r1 + rowStride, r3 = r2 + rowStride;
            TV a0 = S.Zero, a1 = S.Zero, a2 = S.Zero, a3 = S.Zero;
            for (int d = 0; d < headDim; d += w)
            {
                TV qd = S.Load(q + d);
                a0 = S.Fma(qd, T.Load<S, TV>(k, r0 + d), a0);
                a1 = S.Fma(qd, T.Load<S, TV>(k, r1 + d), a1);
                a2 = S.Fma(qd, T.Load<S, TV>(k, r2 + d), a2);
                a3 = S.Fma(qd, T.Load<S, TV>(k, r3 + d), a3);
            }
            scores[s] = S.Sum(a0) * scale;
            scores[s + 1] = S.Sum(a1) * scale;
            scores[s + 2] = S.Sum(a2) * scale;
            scores[s + 3] = S.Sum(a3) * scale;
        }
        for (; s < n; s++)
        {
            long r0 = e0 + (long)s * rowStride;
            TV a0 = S.Zero;
            for (int d = 0; d < headDim; d += w) a0 = S.Fma(S.Load(q + d), T.Load<S, TV>(k, r0 + d), a0);
            scores[s] = S.Sum(a0) * scale;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedSum<T, S, TV>(float* acc, float* p, in KvRows v, long e0, int rowStride, int n, int headDim)
        where T : struct, IKvCodec where S : struct, ISimd<TV> where TV : unmanaged
    {
        int w = S.Width;
        if (headDim % (2 * w) == 0)
        {
            for (int d = 0; d < headDim; d += 2 * w)
            {
                // even keys into a, odd keys into b (four independent FMA chains), then a + b
                TV a0 = S.Load(acc + d), a1 = S.Load(acc + d + w), b0 = S.Zero, b1 = S.Zero;
                long row = e0 + d;
                int j = 0;
                for (; j + 1 < n; j += 2, row += 2L * rowStride)
                {
                    TV pj = S.Broadcast(p[j]);
                    a0 = S.Fma(pj, T.Load<S, TV>(v, row), a0);
                    a1 = S.Fma(pj, T.Load<S, TV>(v, row + w), a1);
                    TV pk = S.Broadcast(p[j + 1]);
                    b0 = S.Fma(pk, T.Load<S, TV>(v, row + rowStride), b0);
                    b1 = S.Fma(pk, T.Load<S, TV>(v, row + rowStride + w), b1);
                }
                if (j < n)
                {
                    TV pj = S.Broadcast(p[j]);
                    a0 = S.Fma(pj, T.Load<S, TV>(v, row), a0);
                    a1 = S.Fma(pj, T.Load<S, TV>(v, row + w), a1);
                }
                S.Store(acc + d, S.Add(a0, b0));
                S.Store(acc + d + w, S.Add(a1, b1));
            }
            return;
        }
        for (int d = 0; d < headDim; d += w)
        {
            TV a0 = S.Load(acc + d);
            long row = e0 + d;
            for (int j = 0; j < n; j++, row += rowStride) a0 = S.Fma(S.Broadcast(p[j]), T.Load<S, TV>(v, row), a0);
            S.Store(acc + d, a0);
        }
    }

    /// <summary>Decoding of one compact format (static, so each kernel is compiled per format and vector width).</summary>
    private interface IKvCodec
    {
        static abstract float Load(in KvRows c, long e);
        /// <summary>Elements e .. e + S.Width − 1 (within one head row and one Q8 block; e a multiple of the width from the row start).</summary>
        static abstract TV Load<S, TV>(in KvRows c, long e) where S : struct, ISimd<TV> where TV : unmanaged;
    }

    private struct Bf16Codec : IKvCodec
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Load(in KvRows c, long e) => BitConverter.Int32BitsToSingle(((ushort*)c.Data)[e] << 16);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Load<S, TV>(in KvRows c, long e) where S : struct, ISimd<TV> where TV : unmanaged => S.LoadBF16((ushort*)c.Data + e);
    }

    private struct F16Codec : IKvCodec
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Load(in KvRows c, long e) => (float)((Half*)c.Data)[e];

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Load<S, TV>(in KvRows c, long e) where S : struct, ISimd<TV> where TV : unmanaged => S.LoadF16((ushort*)c.Data + e);
    }

    private struct Q8Codec : IKvCodec
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Load(in KvRows c, long e) => ((sbyte*)c.Data)[e] * (float)c.Scales[e / c.Block];

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Load<S, TV>(in KvRows c, long e) where S : struct, ISimd<TV> where TV : unmanaged =>
            S.Mul(S.LoadInt8((sbyte*)c.Data + e), S.Broadcast((float)c.Scales[e / c.Block]));
    }
}
