using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Qwen3Gen;

/// <summary>
/// The inner loops of the generated flash-style attention, for short head rows (HeadDim floats, a compile-time
/// constant at every call site, so the JIT folds the size checks away). Scores are computed 16 keys at a time
/// against a transposed copy of the keys, kᵀ[d, s], so that each FMA does 16 useful multiply-adds and no horizontal
/// sum is needed: scores[s..s+16) = Σ_d q[d] · kᵀ[d, s..s+16). Every result is a fixed sequence of operations
/// (no dependence on threads or on where a block starts).
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

    /// <summary>Keys rounded up to a whole number of 16-float vectors: the row length of a transposed block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Padded(int keys) => (keys + 15) & ~15;

    /// <summary>
    /// scores[s] = scale · Σ_d q[d] · kᵀ[d, first + s] for s &lt; n (and up to the next multiple of 16: pad lanes are
    /// written too, so <paramref name="scores"/> needs Padded(n) floats). <paramref name="ktStride"/> = Padded(all keys).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static void Scores(float* scores, float* q, float* kt, int ktStride, int first, int n, int headDim, float scale)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512.Create(scale);
            int s = 0;
            for (; s + 48 < n; s += 64)                     // 64 keys: four independent FMA chains
            {
                float* col = kt + first + s;
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int d = 0; d < headDim; d++, col += ktStride)
                {
                    var qd = Vector512.Create(q[d]);
                    a0 = Vector512.FusedMultiplyAdd(qd, Vector512.Load(col), a0);
                    a1 = Vector512.FusedMultiplyAdd(qd, Vector512.Load(col + 16), a1);
                    a2 = Vector512.FusedMultiplyAdd(qd, Vector512.Load(col + 32), a2);
                    a3 = Vector512.FusedMultiplyAdd(qd, Vector512.Load(col + 48), a3);
                }
                (a0 * vs).Store(scores + s);
                (a1 * vs).Store(scores + s + 16);
                (a2 * vs).Store(scores + s + 32);
                (a3 * vs).Store(scores + s + 48);
            }
            for (; s < n; s += 16)
            {
                float* col = kt + first + s;
                var a = Vector512<float>.Zero;
                for (int d = 0; d < headDim; d++)
                    a = Vector512.FusedMultiplyAdd(Vector512.Create(q[d]), Vector512.Load(col + (long)d * ktStride), a);
                (a * vs).Store(scores + s);
            }
            return;
        }
        for (int s = 0; s < n; s++)
        {
            float a = 0f;
            for (int d = 0; d < headDim; d++) a = MathF.FusedMultiplyAdd(q[d], kt[(long)d * ktStride + first + s], a);
            scores[s] = a * scale;
        }
    }

    /// <summary>
    /// scores[s] = scale · Σ_d q[d] · k[(first + s) · rowStride + d] for s &lt; n, read straight from the key rows (no
    /// transposed copy). For a tile with one or a few query rows the copy, HeadDim scattered stores per key, costs more
    /// than the scores it would speed up. Each score is 16-lane partial sums over d then one horizontal sum, so it may
    /// differ from <see cref="Scores"/> in the last bits; it is a fixed sequence of operations per key all the same.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static void ScoresDirect(float* scores, float* q, float* k, int rowStride, int first, int n, int headDim, float scale)
    {
        float* k0 = k + (long)first * rowStride;
        if (Vector512.IsHardwareAccelerated && headDim % 16 == 0)
        {
            int s = 0;
            for (; s + 4 <= n; s += 4)                      // four keys: four independent FMA chains
            {
                float* r0 = k0 + (long)s * rowStride, r1 = r0 + rowStride, r2 = r1 + rowStride, r3 = r2 + rowStride;
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int d = 0; d < headDim; d += 16)
                {
                    var qd = Vector512.Load(q + d);
                    a0 = Vector512.FusedMultiplyAdd(qd, Vector512.Load(r0 + d), a0);
                    a1 = Vector512.FusedMultiplyAdd(qd, Vector512.Load(r1 + d), a1);
                    a2 = Vector512.FusedMultiplyAdd(qd, Vector512.Load(r2 + d), a2);
                    a3 = Vector512.FusedMultiplyAdd(qd, Vector512.Load(r3 + d), a3);
                }
                scores[s] = Vector512.Sum(a0) * scale;
                scores[s + 1] = Vector512.Sum(a1) * scale;
                scores[s + 2] = Vector512.Sum(a2) * scale;
                scores[s + 3] = Vector512.Sum(a3) * scale;
            }
            for (; s < n; s++)
            {
                float* r0 = k0 + (long)s * rowStride;
                var a0 = Vector512<float>.Zero;
                for (int d = 0; d < headDim; d += 16)
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Load(q + d), Vector512.Load(r0 + d), a0);
                scores[s] = Vector512.Sum(a0) * scale;
            }
            return;
        }
        for (int s = 0; s < n; s++)
        {
            float* r0 = k0 + (long)s * rowStride;
            float a = 0f;
            for (int d = 0; d < headDim; d++) a = MathF.FusedMultiplyAdd(q[d], r0[d], a);
            scores[s] = a * scale;
        }
    }

    /// <summary>
    /// acc[d] += Σ_{j &lt; n} p[j] · v[j · rowStride + d]: the probability-weighted sum of n value rows, the
    /// accumulators held in registers for 32 floats of the row at a time (even and odd keys summed apart, then added).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static void WeightedSum(float* acc, float* p, float* v, int rowStride, int n, int headDim)
    {
        if (Vector512.IsHardwareAccelerated && headDim % 32 == 0)
        {
            for (int d = 0; d < headDim; d += 32)
            {
                // even keys into a, odd keys into b (four independent FMA chains), then a + b
                var a0 = Vector512.Load(acc + d);
                var a1 = Vector512.Load(acc + d + 16);
                Vector512<float> b0 = default, b1 = default;
                float* row = v + d;
                int j = 0;
                for (; j + 1 < n; j += 2, row += 2 * rowStride)
                {
                    var w = Vector512.Create(p[j]);
                    a0 = Vector512.FusedMultiplyAdd(w, Vector512.Load(row), a0);
                    a1 = Vector512.FusedMultiplyAdd(w, Vector512.Load(row + 16), a1);
                    var u = Vector512.Create(p[j + 1]);
                    b0 = Vector512.FusedMultiplyAdd(u, Vector512.Load(row + rowStride), b0);
                    b1 = Vector512.FusedMultiplyAdd(u, Vector512.Load(row + rowStride + 16), b1);
                }
                if (j < n)
                {
                    var w = Vector512.Create(p[j]);
                    a0 = Vector512.FusedMultiplyAdd(w, Vector512.Load(row), a0);
                    a1 = Vector512.FusedMultiplyAdd(w, Vector512.Load(row + 16), a1);
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
                float* row = v + d;
                for (int j = 0; j < n; j++, row += rowStride)
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Create(p[j]), Vector512.Load(row), a0);
                a0.Store(acc + d);
            }
            return;
        }
        for (int j = 0; j < n; j++)
            for (int d = 0; d < headDim; d++) acc[d] = MathF.FusedMultiplyAdd(p[j], v[(long)j * rowStride + d], acc[d]);
    }

    /// <summary>y[d] += a · x[d] over one head row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Axpy(float* y, float a, float* x, int headDim)
    {
        if (Vector512.IsHardwareAccelerated && headDim % 16 == 0)
        {
            var va = Vector512.Create(a);
            for (int d = 0; d < headDim; d += 16)
                Vector512.FusedMultiplyAdd(va, Vector512.Load(x + d), Vector512.Load(y + d)).Store(y + d);
            return;
        }
        for (int d = 0; d < headDim; d++) y[d] = MathF.FusedMultiplyAdd(a, x[d], y[d]);
    }

    /// <summary>Σ_d a[d] · b[d] over one head row (vector lanes, then the lanes summed in a fixed order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(float* a, float* b, int headDim)
    {
        if (Vector512.IsHardwareAccelerated && headDim % 16 == 0)
        {
            var acc = Vector512<float>.Zero;
            for (int d = 0; d < headDim; d += 16)
                acc = Vector512.FusedMultiplyAdd(Vector512.Load(a + d), Vector512.Load(b + d), acc);
            return Vector512.Sum(acc);
        }
        float s = 0f;
        for (int d = 0; d < headDim; d++) s = MathF.FusedMultiplyAdd(a[d], b[d], s);
        return s;
    }

    /// <summary>max_s x[s] over s &lt; n (n ≥ 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static float Max(float* x, int n)
    {
        int s = 0;
        float max = float.NegativeInfinity;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            var m = Vector512.Load(x);
            for (s = 16; s <= n - 16; s += 16) m = Vector512.Max(m, Vector512.Load(x + s));
            var m4 = Vector128.Max(Vector128.Max(m.GetLower().GetLower(), m.GetLower().GetUpper()),
                                   Vector128.Max(m.GetUpper().GetLower(), m.GetUpper().GetUpper()));   // max is exact in any order
            max = MathF.Max(MathF.Max(m4.GetElement(0), m4.GetElement(1)), MathF.Max(m4.GetElement(2), m4.GetElement(3)));
        }
        for (; s < n; s++) max = MathF.Max(max, x[s]);
        return max;
    }

    /// <summary>x[s] = exp(x[s] − shift) for s &lt; n; returns Σ_s x[s] (vector lanes, then lanes and tail in a fixed order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static float ExpSum(float* x, int n, float shift)
    {
        int s = 0;
        float sum = 0f;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512.Create(shift);
            var acc = Vector512<float>.Zero;
            for (; s <= n - 16; s += 16)
            {
                var e = Vector512.Exp(Vector512.Load(x + s) - vs);
                e.Store(x + s);
                acc += e;
            }
            sum = Vector512.Sum(acc);
        }
        for (; s < n; s++)
        {
            float e = MathF.Exp(x[s] - shift);
            x[s] = e;
            sum += e;
        }
        return sum;
    }

    /// <summary>ds[s] = p[s] · (dp[s] − D) · scale for s &lt; n, written over dp (the score gradient of the backward pass).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static void ScoreGradient(float* dp, float* p, int n, float dDotO, float scale)
    {
        int s = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vd = Vector512.Create(dDotO);
            var vs = Vector512.Create(scale);
            for (; s <= n - 16; s += 16)
                (Vector512.Load(p + s) * (Vector512.Load(dp + s) - vd) * vs).Store(dp + s);
        }
        for (; s < n; s++) dp[s] = p[s] * (dp[s] - dDotO) * scale;
    }

    /// <summary>y[d] *= a over one head row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scale(float* y, float a, int headDim)
    {
        if (Vector512.IsHardwareAccelerated && headDim % 16 == 0)
        {
            var va = Vector512.Create(a);
            for (int d = 0; d < headDim; d += 16) (Vector512.Load(y + d) * va).Store(y + d);
            return;
        }
        for (int d = 0; d < headDim; d++) y[d] *= a;
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
