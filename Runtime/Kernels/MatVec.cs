using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Kernels;

/// <summary>
/// y[r, o] = Σ_i x[r, i] · w[o, i] for a few rows (decode): each output is a dot product of two contiguous rows,
/// so W is streamed once in its stored layout (F32, or BF16 widened in registers: bits &lt;&lt; 16) with no copy.
/// Memory-bound: four weight rows are read side by side (8 accumulators in flight) to keep the loads busy.
/// Every output runs the same procedure (two vector accumulators over k in steps of 2 vectors, one more vector
/// if left, a fixed lane sum, then the scalar tail), whichever outputs share a tile or a thread, and whichever rows
/// share the call. Several rows (a batched decode step) go four at a time through <see cref="Dot2x4"/> (512-bit
/// vectors), then two at a time through <see cref="Dot4x2"/>: each weight vector is loaded and widened once for all
/// those rows, so the product of 16 rows costs far less than 16 single rows. With several rows the kernel is bound by
/// the vector units, not memory, and widening BF16 (a shuffle and a shift per vector) competes with the FMAs for them:
/// four rows per widened vector leave one widening per four FMAs instead of one per two (8 rows × 1024 × 3072 BF16,
/// one Zen 4 core: 64 → 89 GFLOP/s).
/// </summary>
internal static unsafe class MatVec
{
    /// <summary>Outputs per work item: 64 rows of W (256 KiB of F32 weights at in = 1024).</summary>
    public const int OutputsPerItem = 64;

    /// <summary>
    /// Outputs [start·64, end·64) of the product. P: the product's sizes as constants (<see cref="Unsized"/>: In and Out
    /// as given), so that for a model's product every loop below, down to the dot products, runs to a constant bound.
    /// </summary>
    public struct Job<TW, P> : IParallelJob where TW : unmanaged where P : struct, IProduct
    {
        public float* Y, X; public TW* W; public int Rows, In, Out;

        public void Execute(int start, int end)
        {
            int o0 = start * OutputsPerItem, o1 = Math.Min(Sizes.Of(P.Out, Out), end * OutputsPerItem);
            switch (SimdLevel.Current)
            {
                case SimdLevel.V512: Run<Simd512, Vector512<float>>(o0, o1); break;
                case SimdLevel.V256: Run<Simd256, Vector256<float>>(o0, o1); break;
                case SimdLevel.V128: Run<Simd128, Vector128<float>>(o0, o1); break;
                default: Run<Scalar, float>(o0, o1); break;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Run<S, TV>(int o0, int o1) where S : struct, ISimd<TV> where TV : unmanaged
        {
            int n = Sizes.Of(P.In, In), ldy = Sizes.Of(P.Out, Out);
            int o = o0;
            for (; o + 4 <= o1; o += 4)
            {
                int r = 0;
                // 512-bit only: Dot2x4 keeps 22 vectors live, more than the 16 registers of AVX2 (they would spill).
                for (; typeof(S) == typeof(Simd512) && r + 4 <= Rows; r += 4)   // the quad of W stays in L1 across row groups
                {
                    Dot2x4<S, TV, TW, P>(Y + (long)r * ldy + o, ldy, X + (long)r * n, W + (long)o * n, n, prefetch: r == 0);
                    Dot2x4<S, TV, TW, P>(Y + (long)r * ldy + o + 2, ldy, X + (long)r * n, W + (long)(o + 2) * n, n, prefetch: r == 0);
                }
                for (; r + 2 <= Rows; r += 2)
                    Dot4x2<S, TV, TW, P>(Y + (long)r * ldy + o, ldy, X + (long)r * n, W + (long)o * n, n, prefetch: r == 0);
                if (r < Rows)
                    Dot4<S, TV, TW, P>(Y + (long)r * ldy + o, X + (long)r * n, W + (long)o * n, n);
            }
            for (; o < o1; o++)
                for (int r = 0; r < Rows; r++)
                    Y[(long)r * ldy + o] = Dot1<S, TV, TW, P>(X + (long)r * n, W + (long)o * n, n);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV LoadW<S, TV, TW>(TW* p) where S : struct, ISimd<TV> where TV : unmanaged where TW : unmanaged
        => typeof(TW) == typeof(float) ? S.Load((float*)p) : S.LoadBF16((ushort*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ScalarW<TW>(TW* p) where TW : unmanaged
        => typeof(TW) == typeof(float) ? *(float*)p : BitConverter.Int32BitsToSingle(*(ushort*)p << 16);

    /// <summary>Σ_i x[i] · w[i] in the fixed order described on the class.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot1<S, TV, TW, P>(float* x, TW* w, int n) where S : struct, ISimd<TV> where TV : unmanaged where TW : unmanaged where P : struct, IProduct
    {
        n = Sizes.Of(P.In, n);                       // a constant for a model's product
        int vw = S.Width, i = 0;
        TV a0 = S.Zero, a1 = S.Zero;
        for (; i + 2 * vw <= n; i += 2 * vw)
        {
            a0 = S.Fma(S.Load(x + i), LoadW<S, TV, TW>(w + i), a0);
            a1 = S.Fma(S.Load(x + i + vw), LoadW<S, TV, TW>(w + i + vw), a1);
        }
        if (i + vw <= n) { a0 = S.Fma(S.Load(x + i), LoadW<S, TV, TW>(w + i), a0); i += vw; }
        float sum = S.Sum(S.Add(a0, a1));
        for (; i < n; i++) sum += x[i] * ScalarW(w + i);
        return sum;
    }

    /// <summary>
    /// <see cref="Dot4"/> for two rows of x at once (x and x + n; outputs y and y + ldy): the same operations per
    /// (row, output) in the same order, so each result is bit-identical to the single-row one; W is loaded once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4x2<S, TV, TW, P>(float* y, int ldy, float* x, TW* w, int n, bool prefetch) where S : struct, ISimd<TV> where TV : unmanaged where TW : unmanaged where P : struct, IProduct
    {
        n = Sizes.Of(P.In, n); ldy = Sizes.Of(P.Out, ldy);   // constants for a model's product
        int vw = S.Width, i = 0;
        float* z = x + n;
        TW* w0 = w, w1 = w + n, w2 = w1 + n, w3 = w2 + n;
        TV a00 = S.Zero, a01 = S.Zero, a10 = S.Zero, a11 = S.Zero, a20 = S.Zero, a21 = S.Zero, a30 = S.Zero, a31 = S.Zero;
        TV b00 = S.Zero, b01 = S.Zero, b10 = S.Zero, b11 = S.Zero, b20 = S.Zero, b21 = S.Zero, b30 = S.Zero, b31 = S.Zero;
        byte* next = (byte*)(w + 4L * n);
        long rowBytes = (long)n * sizeof(TW);
        prefetch &= Sse.IsSupported;
        for (; i + 2 * vw <= n; i += 2 * vw)
        {
            if (prefetch)
            {
                byte* p = next + (long)i * sizeof(TW);
                Sse.Prefetch1(p); Sse.Prefetch1(p + rowBytes); Sse.Prefetch1(p + 2 * rowBytes); Sse.Prefetch1(p + 3 * rowBytes);
                if (2 * vw * sizeof(TW) > 64)
                {
                    Sse.Prefetch1(p + 64); Sse.Prefetch1(p + rowBytes + 64); Sse.Prefetch1(p + 2 * rowBytes + 64); Sse.Prefetch1(p + 3 * rowBytes + 64);
                }
            }
            TV xa = S.Load(x + i), xb = S.Load(x + i + vw), za = S.Load(z + i), zb = S.Load(z + i + vw);
            TV wa = LoadW<S, TV, TW>(w0 + i), wb = LoadW<S, TV, TW>(w0 + i + vw);
            a00 = S.Fma(xa, wa, a00); a01 = S.Fma(xb, wb, a01); b00 = S.Fma(za, wa, b00); b01 = S.Fma(zb, wb, b01);
            wa = LoadW<S, TV, TW>(w1 + i); wb = LoadW<S, TV, TW>(w1 + i + vw);
            a10 = S.Fma(xa, wa, a10); a11 = S.Fma(xb, wb, a11); b10 = S.Fma(za, wa, b10); b11 = S.Fma(zb, wb, b11);
            wa = LoadW<S, TV, TW>(w2 + i); wb = LoadW<S, TV, TW>(w2 + i + vw);
            a20 = S.Fma(xa, wa, a20); a21 = S.Fma(xb, wb, a21); b20 = S.Fma(za, wa, b20); b21 = S.Fma(zb, wb, b21);
            wa = LoadW<S, TV, TW>(w3 + i); wb = LoadW<S, TV, TW>(w3 + i + vw);
            a30 = S.Fma(xa, wa, a30); a31 = S.Fma(xb, wb, a31); b30 = S.Fma(za, wa, b30); b31 = S.Fma(zb, wb, b31);
        }
        if (i + vw <= n)
        {
            TV xa = S.Load(x + i), za = S.Load(z + i), wa;
            wa = LoadW<S, TV, TW>(w0 + i); a00 = S.Fma(xa, wa, a00); b00 = S.Fma(za, wa, b00);
            wa = LoadW<S, TV, TW>(w1 + i); a10 = S.Fma(xa, wa, a10); b10 = S.Fma(za, wa, b10);
            wa = LoadW<S, TV, TW>(w2 + i); a20 = S.Fma(xa, wa, a20); b20 = S.Fma(za, wa, b20);
            wa = LoadW<S, TV, TW>(w3 + i); a30 = S.Fma(xa, wa, a30); b30 = S.Fma(za, wa, b30);
            i += vw;
        }
        float s0 = S.Sum(S.Add(a00, a01)), s1 = S.Sum(S.Add(a10, a11)), s2 = S.Sum(S.Add(a20, a21)), s3 = S.Sum(S.Add(a30, a31));
        float t0 = S.Sum(S.Add(b00, b01)), t1 = S.Sum(S.Add(b10, b11)), t2 = S.Sum(S.Add(b20, b21)), t3 = S.Sum(S.Add(b30, b31));
        for (; i < n; i++)
        {
            float xi = x[i], zi = z[i];
            float v0 = ScalarW(w0 + i), v1 = ScalarW(w1 + i), v2 = ScalarW(w2 + i), v3 = ScalarW(w3 + i);
            s0 += xi * v0; s1 += xi * v1; s2 += xi * v2; s3 += xi * v3;
            t0 += zi * v0; t1 += zi * v1; t2 += zi * v2; t3 += zi * v3;
        }
        y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3;
        float* u = y + ldy;
        u[0] = t0; u[1] = t1; u[2] = t2; u[3] = t3;
    }

    /// <summary>
    /// <see cref="Dot1"/> for two consecutive rows of w (outputs y[0], y[1]) and four rows of x (x + k·n; outputs at
    /// y + k·ldy): sixteen accumulators, the same operations per (row, output) in the same order as alone, each weight
    /// vector loaded and widened once for the four rows. prefetch: ask for the two rows of w after the next two
    /// (the quad after this one, into L2 as <see cref="Dot4"/> does; the caller's two calls per quad cover its four rows).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot2x4<S, TV, TW, P>(float* y, int ldy, float* x, TW* w, int n, bool prefetch) where S : struct, ISimd<TV> where TV : unmanaged where TW : unmanaged where P : struct, IProduct
    {
        n = Sizes.Of(P.In, n); ldy = Sizes.Of(P.Out, ldy);   // constants for a model's product
        int vw = S.Width, i = 0;
        float* x0 = x, x1 = x + n, x2 = x1 + n, x3 = x2 + n;
        TW* w0 = w, w1 = w + n;
        // c{row}{output}{half}: half 0 sums the even vectors of k, half 1 the odd ones (Dot1's a0, a1).
        TV c000 = S.Zero, c001 = S.Zero, c010 = S.Zero, c011 = S.Zero, c100 = S.Zero, c101 = S.Zero, c110 = S.Zero, c111 = S.Zero;
        TV c200 = S.Zero, c201 = S.Zero, c210 = S.Zero, c211 = S.Zero, c300 = S.Zero, c301 = S.Zero, c310 = S.Zero, c311 = S.Zero;
        byte* next = (byte*)(w + 4L * n);
        long rowBytes = (long)n * sizeof(TW);
        prefetch &= Sse.IsSupported;
        for (; i + 2 * vw <= n; i += 2 * vw)
        {
            if (prefetch)
            {
                byte* p = next + (long)i * sizeof(TW);
                Sse.Prefetch1(p); Sse.Prefetch1(p + rowBytes);
                if (2 * vw * sizeof(TW) > 64) { Sse.Prefetch1(p + 64); Sse.Prefetch1(p + rowBytes + 64); }
            }
            TV wa = LoadW<S, TV, TW>(w0 + i), wb = LoadW<S, TV, TW>(w0 + i + vw);
            TV va = LoadW<S, TV, TW>(w1 + i), vb = LoadW<S, TV, TW>(w1 + i + vw);
            TV xa = S.Load(x0 + i), xb = S.Load(x0 + i + vw);
            c000 = S.Fma(xa, wa, c000); c001 = S.Fma(xb, wb, c001); c010 = S.Fma(xa, va, c010); c011 = S.Fma(xb, vb, c011);
            xa = S.Load(x1 + i); xb = S.Load(x1 + i + vw);
            c100 = S.Fma(xa, wa, c100); c101 = S.Fma(xb, wb, c101); c110 = S.Fma(xa, va, c110); c111 = S.Fma(xb, vb, c111);
            xa = S.Load(x2 + i); xb = S.Load(x2 + i + vw);
            c200 = S.Fma(xa, wa, c200); c201 = S.Fma(xb, wb, c201); c210 = S.Fma(xa, va, c210); c211 = S.Fma(xb, vb, c211);
            xa = S.Load(x3 + i); xb = S.Load(x3 + i + vw);
            c300 = S.Fma(xa, wa, c300); c301 = S.Fma(xb, wb, c301); c310 = S.Fma(xa, va, c310); c311 = S.Fma(xb, vb, c311);
        }
        if (i + vw <= n)
        {
            TV wa = LoadW<S, TV, TW>(w0 + i), va = LoadW<S, TV, TW>(w1 + i), xa;
            xa = S.Load(x0 + i); c000 = S.Fma(xa, wa, c000); c010 = S.Fma(xa, va, c010);
            xa = S.Load(x1 + i); c100 = S.Fma(xa, wa, c100); c110 = S.Fma(xa, va, c110);
            xa = S.Load(x2 + i); c200 = S.Fma(xa, wa, c200); c210 = S.Fma(xa, va, c210);
            xa = S.Load(x3 + i); c300 = S.Fma(xa, wa, c300); c310 = S.Fma(xa, va, c310);
            i += vw;
        }
        float s00 = S.Sum(S.Add(c000, c001)), s01 = S.Sum(S.Add(c010, c011)), s10 = S.Sum(S.Add(c100, c101)), s11 = S.Sum(S.Add(c110, c111));
        float s20 = S.Sum(S.Add(c200, c201)), s21 = S.Sum(S.Add(c210, c211)), s30 = S.Sum(S.Add(c300, c301)), s31 = S.Sum(S.Add(c310, c311));
        for (; i < n; i++)
        {
            float v0 = ScalarW(w0 + i), v1 = ScalarW(w1 + i);
            s00 += x0[i] * v0; s01 += x0[i] * v1; s10 += x1[i] * v0; s11 += x1[i] * v1;
            s20 += x2[i] * v0; s21 += x2[i] * v1; s30 += x3[i] * v0; s31 += x3[i] * v1;
        }
        y[0] = s00; y[1] = s01;
        y[ldy] = s10; y[ldy + 1] = s11;
        y[2L * ldy] = s20; y[2L * ldy + 1] = s21;
        y[3L * ldy] = s30; y[3L * ldy + 1] = s31;
    }

    /// <summary>y[0..4) = four dot products of x with consecutive rows of w (row length n): <see cref="Dot1"/> four times, interleaved.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4<S, TV, TW, P>(float* y, float* x, TW* w, int n) where S : struct, ISimd<TV> where TV : unmanaged where TW : unmanaged where P : struct, IProduct
    {
        n = Sizes.Of(P.In, n);                       // a constant for a model's product
        int vw = S.Width, i = 0;
        TW* w0 = w, w1 = w + n, w2 = w1 + n, w3 = w2 + n;
        TV a00 = S.Zero, a01 = S.Zero, a10 = S.Zero, a11 = S.Zero, a20 = S.Zero, a21 = S.Zero, a30 = S.Zero, a31 = S.Zero;
        // The next four rows follow in memory; each row is only a page or so long, too short for the hardware
        // prefetcher to ramp up, so ask for the matching lines of the next quad while this one is summed. Into L2
        // (prefetcht1), not L1: on the 2-core Zen 5 VM the BF16 LM-head product (311 MB) ran 1.85× faster with T1 than
        // with T0, 2.0× faster than with no prefetch, 1.7× than NTA and 1.1× than T2 (paired runs, `paired-quick prefetch`);
        // the L1 is too small to hold the lines of four streams a quad ahead without evicting the ones being summed.
        byte* next = (byte*)(w + 4L * n);
        long rowBytes = (long)n * sizeof(TW);
        bool prefetch = Sse.IsSupported;
        for (; i + 2 * vw <= n; i += 2 * vw)
        {
            if (prefetch)
            {
                byte* p = next + (long)i * sizeof(TW);
                Sse.Prefetch1(p); Sse.Prefetch1(p + rowBytes); Sse.Prefetch1(p + 2 * rowBytes); Sse.Prefetch1(p + 3 * rowBytes);
                if (2 * vw * sizeof(TW) > 64)
                {
                    Sse.Prefetch1(p + 64); Sse.Prefetch1(p + rowBytes + 64); Sse.Prefetch1(p + 2 * rowBytes + 64); Sse.Prefetch1(p + 3 * rowBytes + 64);
                }
            }
            TV xa = S.Load(x + i), xb = S.Load(x + i + vw);
            a00 = S.Fma(xa, LoadW<S, TV, TW>(w0 + i), a00); a01 = S.Fma(xb, LoadW<S, TV, TW>(w0 + i + vw), a01);
            a10 = S.Fma(xa, LoadW<S, TV, TW>(w1 + i), a10); a11 = S.Fma(xb, LoadW<S, TV, TW>(w1 + i + vw), a11);
            a20 = S.Fma(xa, LoadW<S, TV, TW>(w2 + i), a20); a21 = S.Fma(xb, LoadW<S, TV, TW>(w2 + i + vw), a21);
            a30 = S.Fma(xa, LoadW<S, TV, TW>(w3 + i), a30); a31 = S.Fma(xb, LoadW<S, TV, TW>(w3 + i + vw), a31);
        }
        if (i + vw <= n)
        {
            TV xa = S.Load(x + i);
            a00 = S.Fma(xa, LoadW<S, TV, TW>(w0 + i), a00); a10 = S.Fma(xa, LoadW<S, TV, TW>(w1 + i), a10);
            a20 = S.Fma(xa, LoadW<S, TV, TW>(w2 + i), a20); a30 = S.Fma(xa, LoadW<S, TV, TW>(w3 + i), a30);
            i += vw;
        }
        float s0 = S.Sum(S.Add(a00, a01)), s1 = S.Sum(S.Add(a10, a11)), s2 = S.Sum(S.Add(a20, a21)), s3 = S.Sum(S.Add(a30, a31));
        for (; i < n; i++)
        {
            float xi = x[i];
            s0 += xi * ScalarW(w0 + i); s1 += xi * ScalarW(w1 + i); s2 += xi * ScalarW(w2 + i); s3 += xi * ScalarW(w3 + i);
        }
        y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3;
    }
}
