using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.Quantization;

/// <summary>The instruction set a quantised dot product runs on (all give the same bits).</summary>
public enum QuantPath
{
    /// <summary>Plain integer and float arithmetic (any CPU).</summary>
    Scalar,
    /// <summary>256-bit: AVX2 <c>vpmaddubsw</c> + <c>vpmaddwd</c>, or one AVX-VNNI <c>vpdpbusd</c> where the CPU has it.</summary>
    V256,
    /// <summary>512-bit AVX-512BW <c>vpmaddubsw</c> + <c>vpmaddwd</c>, two 32-element blocks per instruction.</summary>
    V512,
}

/// <summary>
/// The dot product of one weight row in GGML blocks with one int8-quantised activation row (<see cref="QuantMatMul"/>),
/// read straight from the stored blocks. Every path computes the same numbers in the same order:
/// <code>
///   for each 32-element block b (in order), lanes k = 0..7 (elements 4k .. 4k+3 of the block):
///     P[k] = Σ_{4 elements} w·q                          (exact integers; w the signed weight quant)
///     acc[b mod 2][k] = fma(A_b[k], P[k], acc[b mod 2][k])  A_b[k] = s·d_b, s the weight scale of the 16 elements
///     (Q4_K, Q5_K) acc[b mod 2][k] = fma(−(m_b·d_b), G_b[k], acc[b mod 2][k])   m_b the block's min, G_b[k] = Σ q
///   y = R(acc[0] + acc[1]),  R(v) = ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7))
/// </code>
/// with d_b the activation block's scale and q its quants. The integer sums are exact however they are formed (the
/// vector paths multiply unsigned stored quants and subtract the offset 8 or 32 times G; Q8_0 moves the weight's sign
/// onto q), scales s and mins m are exact products of fp16 and small integers, and the float operations and their
/// order are the same on every path: scalar, 256-bit and 512-bit results are bit-identical (<c>QuantDotTests</c>).
/// Two accumulators (even and odd blocks) are what a 512-bit register holds for a block pair, and they halve the
/// dependency chain of the 256-bit and scalar loops.
/// </summary>
internal static unsafe class QuantDot
{
    /// <summary>The widest path this CPU runs.</summary>
    public static readonly QuantPath Best =
        Avx512BW.IsSupported && Avx512F.IsSupported ? QuantPath.V512 :
        Avx2.IsSupported ? QuantPath.V256 : QuantPath.Scalar;

    /// <summary>fp16 → float32 for all 65536 bit patterns (exact; 256 KiB, stays in L2), one load per block scale.</summary>
    private static readonly float* HalfTable = BuildHalfTable();

    private static float* BuildHalfTable()
    {
        var t = (float*)NativeMemory.AlignedAlloc(65536 * sizeof(float), 64);
        for (int i = 0; i < 65536; i++) t[i] = (float)BitConverter.UInt16BitsToHalf((ushort)i);
        return t;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float H(byte* p) => HalfTable[*(ushort*)p];

    /// <summary>
    /// y = w_row · x for <paramref name="blocks"/> activation blocks of 32 (<paramref name="q"/> quants,
    /// <paramref name="d"/> scales, <paramref name="g"/> 8 group sums per block).
    /// </summary>
    public static float Row(QuantPath path, MatrixFormat format, byte* w, sbyte* q, float* d, int* g, int blocks)
    {
        if (path == QuantPath.V512) return format switch
        {
            MatrixFormat.Q8_0 => Q8_0_512(w, q, d, blocks),
            MatrixFormat.Q4_0 => Q4_0_512(w, q, d, g, blocks),
            MatrixFormat.Q4_K => QK_512(w, q, d, g, blocks, five: false),
            MatrixFormat.Q5_K => QK_512(w, q, d, g, blocks, five: true),
            _ => Q6_K_512(w, q, d, g, blocks),
        };
        return format switch
        {
            MatrixFormat.Q8_0 => Q8_0_256(w, q, d, blocks),
            MatrixFormat.Q4_0 => Q4_0_256(w, q, d, g, blocks),
            MatrixFormat.Q4_K => QK_256(w, q, d, g, blocks, five: false),
            MatrixFormat.Q5_K => QK_256(w, q, d, g, blocks, five: true),
            _ => Q6_K_256(w, q, d, g, blocks),
        };
    }

    // ---------------------------------------------------------------- scalar (the definition, on unpacked rows)

    /// <summary>
    /// The scalar path on a row unpacked by <see cref="Unpack.Row"/> (signed quants, a scale per 16, a min per 32):
    /// the formula above written out.
    /// </summary>
    public static float Scalar(sbyte* w, float* scale, float* min, bool hasMin, sbyte* q, float* d, int* g, int blocks)
    {
        float* acc = stackalloc float[16];
        for (int k = 0; k < 16; k++) acc[k] = 0;
        for (int b = 0; b < blocks; b++)
        {
            float* a = acc + 8 * (b & 1);
            float lo = scale[2 * b] * d[b], hi = scale[2 * b + 1] * d[b];
            float mn = -(min[b] * d[b]);
            for (int k = 0; k < 8; k++)
            {
                int p = 0;
                for (int i = 0; i < 4; i++) p += w[32 * b + 4 * k + i] * q[32 * b + 4 * k + i];
                a[k] = MathF.FusedMultiplyAdd(k < 4 ? lo : hi, p, a[k]);
                if (hasMin) a[k] = MathF.FusedMultiplyAdd(mn, g[8 * b + k], a[k]);
            }
        }
        for (int k = 0; k < 8; k++) acc[k] += acc[8 + k];
        return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>Lanes k: Σ_{i&lt;4} u[4k+i]·s[4k+i] (u unsigned ≤ 128, so the 16-bit pair sums never saturate).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dot4(Vector256<byte> u, Vector256<sbyte> s, Vector256<int> addend)
    {
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(addend, u, s);
        return Avx2.Add(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256.Create((short)1)), addend);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Dot4(Vector512<byte> u, Vector512<sbyte> s) =>
        Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, s), Vector512.Create((short)1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> F(Vector256<int> v) => Avx.ConvertToVector256Single(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> F(Vector512<int> v) => Avx512F.ConvertToVector512Single(v);

    /// <summary>R(acc0 + acc1), the fixed reduction order of the definition.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Reduce(Vector256<float> acc0, Vector256<float> acc1)
    {
        var v = acc0 + acc1;
        var h = v.GetLower() + v.GetUpper();                                  // v0+v4, v1+v5, v2+v6, v3+v7
        return (h.GetElement(0) + h.GetElement(2)) + (h.GetElement(1) + h.GetElement(3));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Reduce(Vector512<float> acc) => Reduce(acc.GetLower(), acc.GetUpper());

    /// <summary>Two 128-bit halves as one 256-bit vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Pair(float lo, float hi) => Vector256.Create(Vector128.Create(lo), Vector128.Create(hi));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Pair(Vector256<float> lo, Vector256<float> hi) => Vector512.Create(lo, hi);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Shr(Vector256<byte> v, int n) => (v.AsUInt16() >>> n).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Shl(Vector256<byte> v, int n) => (v.AsUInt16() << n).AsByte();

    // ---------------------------------------------------------------- Q8_0: fp16 d, 32 int8

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Q8_0_256(byte* w, sbyte* q, float* d, int blocks)
    {
        Vector256<float> acc0 = default, acc1 = default;
        int b = 0;
        for (; b + 1 < blocks; b += 2)
        {
            byte* w0 = w + 34 * b, w1 = w0 + 34;
            var x0 = Vector256.Load(q + 32 * b);
            var x1 = Vector256.Load(q + 32 * b + 32);
            var q0 = Vector256.Load((sbyte*)(w0 + 2));
            var q1 = Vector256.Load((sbyte*)(w1 + 2));
            var p0 = Dot4(Avx2.Abs(q0), Avx2.Sign(x0, q0), default);
            var p1 = Dot4(Avx2.Abs(q1), Avx2.Sign(x1, q1), default);
            acc0 = Vector256.FusedMultiplyAdd(Vector256.Create(H(w0) * d[b]), F(p0), acc0);
            acc1 = Vector256.FusedMultiplyAdd(Vector256.Create(H(w1) * d[b + 1]), F(p1), acc1);
        }
        if (b < blocks)
        {
            byte* w0 = w + 34 * b;
            var x0 = Vector256.Load(q + 32 * b);
            var q0 = Vector256.Load((sbyte*)(w0 + 2));
            acc0 = Vector256.FusedMultiplyAdd(Vector256.Create(H(w0) * d[b]), F(Dot4(Avx2.Abs(q0), Avx2.Sign(x0, q0), default)), acc0);
        }
        return Reduce(acc0, acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Q8_0_512(byte* w, sbyte* q, float* d, int blocks)
    {
        Vector512<float> acc = default;
        int b = 0;
        for (; b + 1 < blocks; b += 2)
        {
            byte* w0 = w + 34 * b;
            var wq = Vector512.Create(Vector256.Load((sbyte*)(w0 + 2)), Vector256.Load((sbyte*)(w0 + 36)));
            var x = Vector512.Load(q + 32 * b);
            // w·x = |w| · (x with w's sign): vpmaddubsw needs one unsigned operand; |−128| = 128 as a byte.
            var sx = Vector512.ConditionalSelect(Vector512.LessThan(wq, Vector512<sbyte>.Zero), -x, x);
            var p = Dot4(Vector512.Abs(wq).AsByte(), sx);
            var a = Pair(Vector256.Create(H(w0) * d[b]), Vector256.Create(H(w0 + 34) * d[b + 1]));
            acc = Vector512.FusedMultiplyAdd(a, F(p), acc);
        }
        var acc0 = acc.GetLower();
        if (b < blocks)
        {
            byte* w0 = w + 34 * b;
            var x0 = Vector256.Load(q + 32 * b);
            var q0 = Vector256.Load((sbyte*)(w0 + 2));
            acc0 = Vector256.FusedMultiplyAdd(Vector256.Create(H(w0) * d[b]), F(Dot4(Avx2.Abs(q0), Avx2.Sign(x0, q0), default)), acc0);
        }
        return Reduce(acc0, acc.GetUpper());
    }

    // ---------------------------------------------------------------- Q4_0: fp16 d, 16 bytes of nibbles (j, j + 16)

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Nibbles(byte* qs)
    {
        var v = Vector128.Load(qs);
        return Vector256.Create(v, (v.AsUInt16() >> 4).AsByte()) & Vector256.Create((byte)0x0F);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Q4_0_256(byte* w, sbyte* q, float* d, int* g, int blocks)
    {
        Vector256<float> acc0 = default, acc1 = default;
        int b = 0;
        for (; b + 1 < blocks; b += 2)
        {
            byte* w0 = w + 18 * b, w1 = w0 + 18;
            // Σ (n − 8)·q = Σ n·q − 8·G.
            var p0 = Dot4(Nibbles(w0 + 2), Vector256.Load(q + 32 * b), -(Vector256.Load(g + 8 * b) << 3));
            var p1 = Dot4(Nibbles(w1 + 2), Vector256.Load(q + 32 * b + 32), -(Vector256.Load(g + 8 * b + 8) << 3));
            acc0 = Vector256.FusedMultiplyAdd(Vector256.Create(H(w0) * d[b]), F(p0), acc0);
            acc1 = Vector256.FusedMultiplyAdd(Vector256.Create(H(w1) * d[b + 1]), F(p1), acc1);
        }
        if (b < blocks)
        {
            byte* w0 = w + 18 * b;
            var p0 = Dot4(Nibbles(w0 + 2), Vector256.Load(q + 32 * b), -(Vector256.Load(g + 8 * b) << 3));
            acc0 = Vector256.FusedMultiplyAdd(Vector256.Create(H(w0) * d[b]), F(p0), acc0);
        }
        return Reduce(acc0, acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Q4_0_512(byte* w, sbyte* q, float* d, int* g, int blocks)
    {
        Vector512<float> acc = default;
        int b = 0;
        for (; b + 1 < blocks; b += 2)
        {
            byte* w0 = w + 18 * b;
            var u = Vector512.Create(Nibbles(w0 + 2), Nibbles(w0 + 20));
            var p = Dot4(u, Vector512.Load(q + 32 * b)) - (Vector512.Load(g + 8 * b) << 3);
            var a = Pair(Vector256.Create(H(w0) * d[b]), Vector256.Create(H(w0 + 18) * d[b + 1]));
            acc = Vector512.FusedMultiplyAdd(a, F(p), acc);
        }
        var acc0 = acc.GetLower();
        if (b < blocks)
        {
            byte* w0 = w + 18 * b;
            var p0 = Dot4(Nibbles(w0 + 2), Vector256.Load(q + 32 * b), -(Vector256.Load(g + 8 * b) << 3));
            acc0 = Vector256.FusedMultiplyAdd(Vector256.Create(H(w0) * d[b]), F(p0), acc0);
        }
        return Reduce(acc0, acc.GetUpper());
    }

    // ---------------------------------------------------------------- Q4_K / Q5_K: 8 sub-blocks of 32 with 6-bit scale and min

    /// <summary>Per sub-block j of a super-block: a[j] = (d·sc_j)·d_b, mn[j] = −((dmin·m_j)·d_b), b = b0 + j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScalesMins(byte* blk, float* d, float* a, float* mn)
    {
        float dd = H(blk), dmin = H(blk + 2);
        byte* s = blk + 4;
        for (int j = 0; j < 8; j++)
        {
            Dequantize.ScaleMin(j, s, out int sc, out int m);
            a[j] = dd * sc * d[j];
            mn[j] = -(dmin * m * d[j]);
        }
    }

    /// <summary>Q4_K / Q5_K quants of sub-blocks 2c (low nibbles) and 2c + 1 (high), fifth bits from qh when five.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void KQuants(byte* blk, int c, bool five, out Vector256<byte> lo, out Vector256<byte> hi)
    {
        var mask = Vector256.Create((byte)0x0F);
        var v = Vector256.Load(blk + (five ? 48 : 16) + 32 * c);
        lo = v & mask;
        hi = Shr(v, 4) & mask;
        if (five)
        {
            var qh = Vector256.Load(blk + 16);
            var bit = Vector256.Create((byte)0x10);
            // Bit 2c of qh[l] → 16 for sub-block 2c; bit 2c + 1 → 16 for sub-block 2c + 1.
            lo |= (2 * c <= 4 ? Shl(qh, 4 - 2 * c) : Shr(qh, 2 * c - 4)) & bit;
            hi |= (2 * c + 1 <= 4 ? Shl(qh, 3 - 2 * c) : Shr(qh, 2 * c - 3)) & bit;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float QK_256(byte* w, sbyte* q, float* d, int* g, int blocks, bool five)
    {
        float* a = stackalloc float[8];
        float* mn = stackalloc float[8];
        Vector256<float> acc0 = default, acc1 = default;
        int bytes = five ? 176 : 144;
        for (int sb = 0; sb < blocks / 8; sb++)
        {
            byte* blk = w + bytes * sb;
            int b0 = 8 * sb;
            ScalesMins(blk, d + b0, a, mn);
            for (int c = 0; c < 4; c++)
            {
                KQuants(blk, c, five, out var lo, out var hi);
                int b = b0 + 2 * c;
                var p0 = Dot4(lo, Vector256.Load(q + 32 * b), default);
                var p1 = Dot4(hi, Vector256.Load(q + 32 * b + 32), default);
                acc0 = Vector256.FusedMultiplyAdd(Vector256.Create(a[2 * c]), F(p0), acc0);
                acc0 = Vector256.FusedMultiplyAdd(Vector256.Create(mn[2 * c]), F(Vector256.Load(g + 8 * b)), acc0);
                acc1 = Vector256.FusedMultiplyAdd(Vector256.Create(a[2 * c + 1]), F(p1), acc1);
                acc1 = Vector256.FusedMultiplyAdd(Vector256.Create(mn[2 * c + 1]), F(Vector256.Load(g + 8 * b + 8)), acc1);
            }
        }
        return Reduce(acc0, acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float QK_512(byte* w, sbyte* q, float* d, int* g, int blocks, bool five)
    {
        float* a = stackalloc float[8];
        float* mn = stackalloc float[8];
        Vector512<float> acc = default;
        int bytes = five ? 176 : 144;
        for (int sb = 0; sb < blocks / 8; sb++)
        {
            byte* blk = w + bytes * sb;
            int b0 = 8 * sb;
            ScalesMins(blk, d + b0, a, mn);
            for (int c = 0; c < 4; c++)
            {
                KQuants(blk, c, five, out var lo, out var hi);
                int b = b0 + 2 * c;
                var p = Dot4(Vector512.Create(lo, hi), Vector512.Load(q + 32 * b));
                acc = Vector512.FusedMultiplyAdd(Pair(Vector256.Create(a[2 * c]), Vector256.Create(a[2 * c + 1])), F(p), acc);
                acc = Vector512.FusedMultiplyAdd(Pair(Vector256.Create(mn[2 * c]), Vector256.Create(mn[2 * c + 1])), F(Vector512.Load(g + 8 * b)), acc);
            }
        }
        return Reduce(acc);
    }

    // ---------------------------------------------------------------- Q6_K: 16 sub-blocks of 16 with int8 scales

    /// <summary>Unsigned 6-bit quants (q + 32) of 32-block k (0..3) of half h: low 4 bits from ql, high 2 from qh.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Q6Quants(Vector256<byte> l0, Vector256<byte> l1, Vector256<byte> qh, int k)
    {
        var low = Vector256.Create((byte)0x0F);
        var high = Vector256.Create((byte)0x30);
        return k switch
        {
            0 => (l0 & low) | (Shl(qh, 4) & high),
            1 => (l1 & low) | (Shl(qh, 2) & high),
            2 => (Shr(l0, 4) & low) | (qh & high),
            _ => (Shr(l1, 4) & low) | (Shr(qh, 2) & high),
        };
    }

    /// <summary>a[i] = (d·scale_i)·d_{i/2} for the 16 sub-blocks of 16 of a super-block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q6Scales(byte* blk, float* d, float* a)
    {
        float dd = H(blk + 208);
        sbyte* sc = (sbyte*)(blk + 192);
        for (int i = 0; i < 16; i++) a[i] = dd * sc[i] * d[i >> 1];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Q6_K_256(byte* w, sbyte* q, float* d, int* g, int blocks)
    {
        float* a = stackalloc float[16];
        Vector256<float> acc0 = default, acc1 = default;
        for (int sb = 0; sb < blocks / 8; sb++)
        {
            byte* blk = w + 210 * sb;
            int b0 = 8 * sb;
            Q6Scales(blk, d + b0, a);
            for (int h = 0; h < 2; h++)
            {
                var l0 = Vector256.Load(blk + 64 * h);
                var l1 = Vector256.Load(blk + 64 * h + 32);
                var qh = Vector256.Load(blk + 128 + 32 * h);
                for (int k = 0; k < 4; k += 2)
                {
                    int j = 4 * h + k, b = b0 + j;
                    // Σ (n − 32)·q = Σ n·q − 32·G.
                    var p0 = Dot4(Q6Quants(l0, l1, qh, k), Vector256.Load(q + 32 * b), -(Vector256.Load(g + 8 * b) << 5));
                    var p1 = Dot4(Q6Quants(l0, l1, qh, k + 1), Vector256.Load(q + 32 * b + 32), -(Vector256.Load(g + 8 * b + 8) << 5));
                    acc0 = Vector256.FusedMultiplyAdd(Pair(a[2 * j], a[2 * j + 1]), F(p0), acc0);
                    acc1 = Vector256.FusedMultiplyAdd(Pair(a[2 * j + 2], a[2 * j + 3]), F(p1), acc1);
                }
            }
        }
        return Reduce(acc0, acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Q6_K_512(byte* w, sbyte* q, float* d, int* g, int blocks)
    {
        float* a = stackalloc float[16];
        Vector512<float> acc = default;
        for (int sb = 0; sb < blocks / 8; sb++)
        {
            byte* blk = w + 210 * sb;
            int b0 = 8 * sb;
            Q6Scales(blk, d + b0, a);
            for (int h = 0; h < 2; h++)
            {
                var l0 = Vector256.Load(blk + 64 * h);
                var l1 = Vector256.Load(blk + 64 * h + 32);
                var qh = Vector256.Load(blk + 128 + 32 * h);
                for (int k = 0; k < 4; k += 2)
                {
                    int j = 4 * h + k, b = b0 + j;
                    var u = Vector512.Create(Q6Quants(l0, l1, qh, k), Q6Quants(l0, l1, qh, k + 1));
                    var p = Dot4(u, Vector512.Load(q + 32 * b)) - (Vector512.Load(g + 8 * b) << 5);
                    acc = Vector512.FusedMultiplyAdd(Pair(Pair(a[2 * j], a[2 * j + 1]), Pair(a[2 * j + 2], a[2 * j + 3])), F(p), acc);
                }
            }
        }
        return Reduce(acc);
    }
}
