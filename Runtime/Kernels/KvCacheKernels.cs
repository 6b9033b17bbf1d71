using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Qwen3Gen;

/// <summary>
/// The attention inner loops over a compact cache (<see cref="KvRows"/>: BF16, F16, Q8_0), reading the codes
/// directly: each loop is specialised per format (a codec struct, so the JIT inlines the decode) and performs the
/// same operations in the same order as its float32 counterpart in <see cref="AttentionKernels"/>, on the decoded
/// values. Decoding: BF16 bits &lt;&lt; 16 (exact); F16 the IEEE half value (exact); Q8_0 q · d with d the block's
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScoresDirect<T>(float* scores, float* q, in KvRows k, long e0, int rowStride, int n, int headDim, float scale)
        where T : struct, IKvCodec
    {
        if (Vector512.IsHardwareAccelerated && headDim % 16 == 0)
        {
            int s = 0;
            for (; s + 4 <= n; s += 4)                      // four keys: four independent FMA chains
            {
                long r0 = e0 + (long)s * rowStride, r1 = r0 + rowStride, r2 = r1 + rowStride, r3 = r2 + rowStride;
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int d = 0; d < headDim; d += 16)
                {
                    var qd = Vector512.Load(q + d);
                    a0 = Vector512.FusedMultiplyAdd(qd, T.Load16(k, r0 + d), a0);
                    a1 = Vector512.FusedMultiplyAdd(qd, T.Load16(k, r1 + d), a1);
                    a2 = Vector512.FusedMultiplyAdd(qd, T.Load16(k, r2 + d), a2);
                    a3 = Vector512.FusedMultiplyAdd(qd, T.Load16(k, r3 + d), a3);
                }
                scores[s] = Vector512.Sum(a0) * scale;
                scores[s + 1] = Vector512.Sum(a1) * scale;
                scores[s + 2] = Vector512.Sum(a2) * scale;
                scores[s + 3] = Vector512.Sum(a3) * scale;
            }
            for (; s < n; s++)
            {
                long r0 = e0 + (long)s * rowStride;
                var a0 = Vector512<float>.Zero;
                for (int d = 0; d < headDim; d += 16)
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Load(q + d), T.Load16(k, r0 + d), a0);
                scores[s] = Vector512.Sum(a0) * scale;
            }
            return;
        }
        for (int s = 0; s < n; s++)
        {
            long r0 = e0 + (long)s * rowStride;
            float a = 0f;
            for (int d = 0; d < headDim; d++) a = MathF.FusedMultiplyAdd(q[d], T.Load(k, r0 + d), a);
            scores[s] = a * scale;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedSum<T>(float* acc, float* p, in KvRows v, long e0, int rowStride, int n, int headDim)
        where T : struct, IKvCodec
    {
        if (Vector512.IsHardwareAccelerated && headDim % 32 == 0)
        {
            for (int d = 0; d < headDim; d += 32)
            {
                // even keys into a, odd keys into b (four independent FMA chains), then a + b
                var a0 = Vector512.Load(acc + d);
                var a1 = Vector512.Load(acc + d + 16);
                Vector512<float> b0 = default, b1 = default;
                long row = e0 + d;
                int j = 0;
                for (; j + 1 < n; j += 2, row += 2L * rowStride)
                {
                    var w = Vector512.Create(p[j]);
                    a0 = Vector512.FusedMultiplyAdd(w, T.Load16(v, row), a0);
                    a1 = Vector512.FusedMultiplyAdd(w, T.Load16(v, row + 16), a1);
                    var u = Vector512.Create(p[j + 1]);
                    b0 = Vector512.FusedMultiplyAdd(u, T.Load16(v, row + rowStride), b0);
                    b1 = Vector512.FusedMultiplyAdd(u, T.Load16(v, row + rowStride + 16), b1);
                }
                if (j < n)
                {
                    var w = Vector512.Create(p[j]);
                    a0 = Vector512.FusedMultiplyAdd(w, T.Load16(v, row), a0);
                    a1 = Vector512.FusedMultiplyAdd(w, T.Load16(v, row + 16), a1);
                }
                (a0 + b0).Store(acc + d);
                (a1 + b1).Store(acc + d + 16);
            }
            return;
        }
        if (Vector512.IsHardwareAccelerated && headDim % 16 == 0)
        {
            for (int d = 0; d < headDim; d += 16)
            {
                var a0 = Vector512.Load(acc + d);
                long row = e0 + d;
                for (int j = 0; j < n; j++, row += rowStride)
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Create(p[j]), T.Load16(v, row), a0);
                a0.Store(acc + d);
            }
            return;
        }
        for (int j = 0; j < n; j++)
            for (int d = 0; d < headDim; d++) acc[d] = MathF.FusedMultiplyAdd(p[j], T.Load(v, e0 + (long)j * rowStride + d), acc[d]);
    }

    /// <summary>Decoding of one compact format (static, so each kernel is compiled per format).</summary>
    private interface IKvCodec
    {
        static abstract float Load(in KvRows c, long e);
        /// <summary>Elements e .. e + 15 (within one head row; e a multiple of 16 from the row start).</summary>
        static abstract Vector512<float> Load16(in KvRows c, long e);
    }

    private struct Bf16Codec : IKvCodec
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Load(in KvRows c, long e) => BitConverter.Int32BitsToSingle(((ushort*)c.Data)[e] << 16);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load16(in KvRows c, long e)
        {
            var bits = Vector512.WidenLower(Vector256.Load((ushort*)c.Data + e).ToVector512Unsafe());   // 16 × uint
            return Vector512.ShiftLeft(bits, 16).AsSingle();
        }
    }

    private struct F16Codec : IKvCodec
    {
        private static readonly float TwoPow112 = MathF.ScaleB(1f, 112);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Load(in KvRows c, long e) => (float)((Half*)c.Data)[e];

        // Half → float by bits: |h| << 13 read as a float is the value · 2^-112 (also for subnormals), so multiply by 2^112;
        // exponent 31 (inf / NaN) becomes exponent 255; then the sign.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load16(in KvRows c, long e)
        {
            var h = Vector512.WidenLower(Vector256.Load((ushort*)c.Data + e).ToVector512Unsafe());
            var magnitude = h & Vector512.Create(0x7FFFu);
            var shifted = Vector512.ShiftLeft(magnitude, 13);
            var value = shifted.AsSingle() * Vector512.Create(TwoPow112);
            var special = Vector512.GreaterThanOrEqual(magnitude, Vector512.Create(0x7C00u));
            var infNan = (shifted | Vector512.Create(0x7F800000u)).AsSingle();
            var sign = Vector512.ShiftLeft(h & Vector512.Create(0x8000u), 16);
            return (Vector512.ConditionalSelect(special.AsSingle(), infNan, value).AsUInt32() | sign).AsSingle();
        }
    }

    private struct Q8Codec : IKvCodec
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Load(in KvRows c, long e) => ((sbyte*)c.Data)[e] * (float)c.Scales[e / c.Block];

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load16(in KvRows c, long e)
        {
            var bytes = Vector128.Load((sbyte*)c.Data + e);
            var shorts = Vector256.WidenLower(bytes.ToVector256Unsafe());                 // 16 × short
            var ints = Vector512.WidenLower(shorts.ToVector512Unsafe());                  // 16 × int
            return Vector512.ConvertToSingle(ints) * Vector512.Create((float)c.Scales[e / c.Block]);
        }
    }
}
