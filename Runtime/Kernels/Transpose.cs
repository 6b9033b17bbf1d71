using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Qwen3Gen.Kernels;

/// <summary>
/// Packing of nn.Linear weights for the forward product: dst[k, n] = w[n, k] (dst row stride nr), F32 or BF16 (widened).
/// With AVX-512 it moves 16 × 16 blocks through registers (4 rounds of 16 shuffles), with AVX2 8 × 8 blocks (3 rounds
/// of 8); edges, 128-bit and scalar paths copy element by element. (Shuffles are ISA-specific, so this is the one
/// kernel written against Avx512F / Avx rather than ISimd.) Exact either way: it only moves (and widens) values.
/// </summary>
internal static unsafe class Transpose
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Pack(float* src, long ld, float* dst, int nr, int cols, int kc)
    {
        int n = 0;
        if (Avx512F.IsSupported && SimdLevel.Current == SimdLevel.V512)
            for (; n + 16 <= cols; n += 16)
            {
                int k = 0;
                for (; k + 16 <= kc; k += 16) Block16<float>(src + n * ld + k, ld, dst + k * nr + n, nr);
                for (; k < kc; k++)
                    for (int j = 0; j < 16; j++) dst[k * nr + n + j] = src[(n + j) * ld + k];
            }
        else if (Avx2.IsSupported && SimdLevel.Current == SimdLevel.V256)
            for (; n + 8 <= cols; n += 8)
            {
                int k = 0;
                for (; k + 8 <= kc; k += 8) Block8<float>(src + n * ld + k, ld, dst + k * nr + n, nr);
                for (; k < kc; k++)
                    for (int j = 0; j < 8; j++) dst[k * nr + n + j] = src[(n + j) * ld + k];
            }
        for (; n < cols; n++)
        {
            float* s = src + n * ld;
            for (int k = 0; k < kc; k++) dst[k * nr + n] = s[k];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Pack(ushort* src, long ld, float* dst, int nr, int cols, int kc)
    {
        int n = 0;
        if (Avx512F.IsSupported && SimdLevel.Current == SimdLevel.V512)
            for (; n + 16 <= cols; n += 16)
            {
                int k = 0;
                for (; k + 16 <= kc; k += 16) Block16<ushort>(src + n * ld + k, ld, dst + k * nr + n, nr);
                for (; k < kc; k++)
                    for (int j = 0; j < 16; j++) dst[k * nr + n + j] = BitConverter.Int32BitsToSingle(src[(n + j) * ld + k] << 16);
            }
        else if (Avx2.IsSupported && SimdLevel.Current == SimdLevel.V256)
            for (; n + 8 <= cols; n += 8)
            {
                int k = 0;
                for (; k + 8 <= kc; k += 8) Block8<ushort>(src + n * ld + k, ld, dst + k * nr + n, nr);
                for (; k < kc; k++)
                    for (int j = 0; j < 8; j++) dst[k * nr + n + j] = BitConverter.Int32BitsToSingle(src[(n + j) * ld + k] << 16);
            }
        for (; n < cols; n++)
        {
            ushort* s = src + n * ld;
            for (int k = 0; k < kc; k++) dst[k * nr + n] = BitConverter.Int32BitsToSingle(s[k] << 16);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Row<T>(T* p) where T : unmanaged =>
        typeof(T) == typeof(float) ? Vector512.Load((float*)p) : Simd512.LoadBF16((ushort*)p);

    /// <summary>dst[k, j] = src[j, k] for a 16 × 16 block (src row stride ld, dst row stride nr).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block16<T>(T* src, long ld, float* dst, int nr) where T : unmanaged
    {
        Vector512<float> r0 = Row(src), r1 = Row(src + ld), r2 = Row(src + 2 * ld), r3 = Row(src + 3 * ld),
            r4 = Row(src + 4 * ld), r5 = Row(src + 5 * ld), r6 = Row(src + 6 * ld), r7 = Row(src + 7 * ld),
            r8 = Row(src + 8 * ld), r9 = Row(src + 9 * ld), r10 = Row(src + 10 * ld), r11 = Row(src + 11 * ld),
            r12 = Row(src + 12 * ld), r13 = Row(src + 13 * ld), r14 = Row(src + 14 * ld), r15 = Row(src + 15 * ld);
        // 1: interleave 32-bit elements of row pairs.
        var t0 = Avx512F.UnpackLow(r0, r1); var t1 = Avx512F.UnpackHigh(r0, r1);
        var t2 = Avx512F.UnpackLow(r2, r3); var t3 = Avx512F.UnpackHigh(r2, r3);
        var t4 = Avx512F.UnpackLow(r4, r5); var t5 = Avx512F.UnpackHigh(r4, r5);
        var t6 = Avx512F.UnpackLow(r6, r7); var t7 = Avx512F.UnpackHigh(r6, r7);
        var t8 = Avx512F.UnpackLow(r8, r9); var t9 = Avx512F.UnpackHigh(r8, r9);
        var t10 = Avx512F.UnpackLow(r10, r11); var t11 = Avx512F.UnpackHigh(r10, r11);
        var t12 = Avx512F.UnpackLow(r12, r13); var t13 = Avx512F.UnpackHigh(r12, r13);
        var t14 = Avx512F.UnpackLow(r14, r15); var t15 = Avx512F.UnpackHigh(r14, r15);
        // 2: interleave 64-bit pairs.
        r0 = Lo64(t0, t2); r1 = Hi64(t0, t2); r2 = Lo64(t1, t3); r3 = Hi64(t1, t3);
        r4 = Lo64(t4, t6); r5 = Hi64(t4, t6); r6 = Lo64(t5, t7); r7 = Hi64(t5, t7);
        r8 = Lo64(t8, t10); r9 = Hi64(t8, t10); r10 = Lo64(t9, t11); r11 = Hi64(t9, t11);
        r12 = Lo64(t12, t14); r13 = Hi64(t12, t14); r14 = Lo64(t13, t15); r15 = Hi64(t13, t15);
        // 3 and 4: move 128-bit lanes.
        t0 = Avx512F.Shuffle4x128(r0, r4, 0x88); t1 = Avx512F.Shuffle4x128(r1, r5, 0x88);
        t2 = Avx512F.Shuffle4x128(r2, r6, 0x88); t3 = Avx512F.Shuffle4x128(r3, r7, 0x88);
        t4 = Avx512F.Shuffle4x128(r0, r4, 0xDD); t5 = Avx512F.Shuffle4x128(r1, r5, 0xDD);
        t6 = Avx512F.Shuffle4x128(r2, r6, 0xDD); t7 = Avx512F.Shuffle4x128(r3, r7, 0xDD);
        t8 = Avx512F.Shuffle4x128(r8, r12, 0x88); t9 = Avx512F.Shuffle4x128(r9, r13, 0x88);
        t10 = Avx512F.Shuffle4x128(r10, r14, 0x88); t11 = Avx512F.Shuffle4x128(r11, r15, 0x88);
        t12 = Avx512F.Shuffle4x128(r8, r12, 0xDD); t13 = Avx512F.Shuffle4x128(r9, r13, 0xDD);
        t14 = Avx512F.Shuffle4x128(r10, r14, 0xDD); t15 = Avx512F.Shuffle4x128(r11, r15, 0xDD);
        Avx512F.Shuffle4x128(t0, t8, 0x88).Store(dst); Avx512F.Shuffle4x128(t1, t9, 0x88).Store(dst + nr);
        Avx512F.Shuffle4x128(t2, t10, 0x88).Store(dst + 2 * nr); Avx512F.Shuffle4x128(t3, t11, 0x88).Store(dst + 3 * nr);
        Avx512F.Shuffle4x128(t4, t12, 0x88).Store(dst + 4 * nr); Avx512F.Shuffle4x128(t5, t13, 0x88).Store(dst + 5 * nr);
        Avx512F.Shuffle4x128(t6, t14, 0x88).Store(dst + 6 * nr); Avx512F.Shuffle4x128(t7, t15, 0x88).Store(dst + 7 * nr);
        Avx512F.Shuffle4x128(t0, t8, 0xDD).Store(dst + 8 * nr); Avx512F.Shuffle4x128(t1, t9, 0xDD).Store(dst + 9 * nr);
        Avx512F.Shuffle4x128(t2, t10, 0xDD).Store(dst + 10 * nr); Avx512F.Shuffle4x128(t3, t11, 0xDD).Store(dst + 11 * nr);
        Avx512F.Shuffle4x128(t4, t12, 0xDD).Store(dst + 12 * nr); Avx512F.Shuffle4x128(t5, t13, 0xDD).Store(dst + 13 * nr);
        Avx512F.Shuffle4x128(t6, t14, 0xDD).Store(dst + 14 * nr); Avx512F.Shuffle4x128(t7, t15, 0xDD).Store(dst + 15 * nr);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Row8<T>(T* p) where T : unmanaged =>
        typeof(T) == typeof(float) ? Vector256.Load((float*)p) : Simd256.LoadBF16((ushort*)p);

    /// <summary>dst[k, j] = src[j, k] for an 8 × 8 block with AVX2 (the same three rounds as <see cref="Block16"/>, one 128-bit lane move fewer).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block8<T>(T* src, long ld, float* dst, int nr) where T : unmanaged
    {
        Vector256<float> r0 = Row8(src), r1 = Row8(src + ld), r2 = Row8(src + 2 * ld), r3 = Row8(src + 3 * ld),
            r4 = Row8(src + 4 * ld), r5 = Row8(src + 5 * ld), r6 = Row8(src + 6 * ld), r7 = Row8(src + 7 * ld);
        // 1: interleave 32-bit elements of row pairs.
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        // 2: interleave 64-bit pairs.
        r0 = Lo64(t0, t2); r1 = Hi64(t0, t2); r2 = Lo64(t1, t3); r3 = Hi64(t1, t3);
        r4 = Lo64(t4, t6); r5 = Hi64(t4, t6); r6 = Lo64(t5, t7); r7 = Hi64(t5, t7);
        // 3: the lower 128-bit lanes of rows 0-3 with those of rows 4-7 give output rows 0-3, the upper ones rows 4-7.
        Avx.Permute2x128(r0, r4, 0x20).Store(dst); Avx.Permute2x128(r1, r5, 0x20).Store(dst + nr);
        Avx.Permute2x128(r2, r6, 0x20).Store(dst + 2 * nr); Avx.Permute2x128(r3, r7, 0x20).Store(dst + 3 * nr);
        Avx.Permute2x128(r0, r4, 0x31).Store(dst + 4 * nr); Avx.Permute2x128(r1, r5, 0x31).Store(dst + 5 * nr);
        Avx.Permute2x128(r2, r6, 0x31).Store(dst + 6 * nr); Avx.Permute2x128(r3, r7, 0x31).Store(dst + 7 * nr);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Lo64(Vector256<float> a, Vector256<float> b) => Avx.UnpackLow(a.AsDouble(), b.AsDouble()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Hi64(Vector256<float> a, Vector256<float> b) => Avx.UnpackHigh(a.AsDouble(), b.AsDouble()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Lo64(Vector512<float> a, Vector512<float> b) => Avx512F.UnpackLow(a.AsDouble(), b.AsDouble()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Hi64(Vector512<float> a, Vector512<float> b) => Avx512F.UnpackHigh(a.AsDouble(), b.AsDouble()).AsSingle();
}
