using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Kernels;

/// <summary>
/// The register-blocked core behind <see cref="MatMul"/>:  C[m, n] (+)= Σ_k A(m, k) · B(k, n).
/// <list type="bullet">
/// <item>A is read in place through two strides, A(m, k) = a[m·aRow + k·aK]; it is broadcast one float at a time.</item>
/// <item>B is copied, one k-block of KC rows and one panel of NR = 2 vectors of columns at a time, into a per-thread
/// buffer laid out [KC][NR] (allocated once per thread, reused): the micro-kernel then reads it contiguously.
/// "Transposed" sources are nn.Linear weights (B(k, n) = w[n, k], F32 or BF16, widened while packing);
/// "rows" sources are row-major (B(k, n) = src[k, n]; F32, or BF16 widened while packing).</item>
/// <item>The micro-kernel keeps an MR × NR = 6 × 2-vector tile of C in 12 registers (Vector512: 6 × 32 floats)
/// and walks k: 2 loads of B, 6 broadcasts of A, 12 FMAs per step.</item>
/// </list>
/// Determinism: every C element is the chain c ← fma(A(m, k), B(k, n), c) for k = 0, 1, ..., K-1, started from 0
/// (or from C when accumulating). K-blocking stores and reloads c between blocks, which changes nothing, and the
/// 1-row tail kernel and the partial-panel path run the same chain. So a result depends neither on the thread
/// split nor on which rows are computed together.
/// </summary>
internal static unsafe class Gemm
{
    public const int MR = 6;
    /// <summary>k-block: a packed panel is KC × NR floats = 32 KiB for Vector512, which stays in L1 (48 KiB).</summary>
    public const int KC = 256;
    private const int MaxNR = 32;

    /// <summary>Rows of C per work item: the A block (MC × KC floats, 192 KiB) and the item's slice of C stay in L2 across its panels.</summary>
    public const int MC = 192;
    /// <summary>Column panels per work item (8 × 32 = 256 columns for Vector512).</summary>
    public const int PanelsPerItem = 8;

    [ThreadStatic] private static float* _packB;
    [ThreadStatic] private static float* _packA;

    /// <summary>This thread's packing buffers (KC × 32 floats for B, MC × KC for A), allocated on first use and kept for the thread's life.</summary>
    private static float* PackBufferB() => _packB != null ? _packB : _packB = (float*)NativeMemory.AlignedAlloc((nuint)(KC * MaxNR * sizeof(float)), 64);

    private static float* PackBufferA() => _packA != null ? _packA : _packA = (float*)NativeMemory.AlignedAlloc((nuint)(KC * MC * sizeof(float)), 64);

    /// <summary>Panel width for the current vector size: 2 vectors (32, 16, 8 or 2 floats).</summary>
    public static int PanelWidth => SimdLevel.Current switch { SimdLevel.V512 => 32, SimdLevel.V256 => 16, SimdLevel.V128 => 8, _ => 2 };

    public enum Source : byte { Transposed, TransposedBF16, Rows, RowsBF16 }

    /// <summary>
    /// The sizes of C = A·B that are constants of the product being computed (−1: not a constant, the job's field holds it).
    /// For a model's product the JIT compiles the job per sizes type, with N and K folded into its loops.
    /// </summary>
    public interface ISizes
    {
        static abstract int N { get; }
        static abstract int K { get; }
    }

    /// <summary>y = x · Wᵀ: C = y [rows, Out], summed over K = In.</summary>
    public readonly struct ForwardSizes<P> : ISizes where P : struct, IProduct
    {
        public static int N => P.Out;
        public static int K => P.In;
    }

    /// <summary>dx += dy · W: C = dx [rows, In], summed over K = Out.</summary>
    public readonly struct InputGradientSizes<P> : ISizes where P : struct, IProduct
    {
        public static int N => P.In;
        public static int K => P.Out;
    }

    /// <summary>
    /// The length of the k-block at k0: KC, or what is left of K. When K is a constant at most KC or a multiple of KC the
    /// answer is one constant for every block (the same value the general rule gives), so it folds.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int BlockLength(int k, int k0) => k <= KC ? k : k % KC == 0 ? KC : Math.Min(KC, k - k0);

    /// <summary>
    /// One C = A·B product, split into items of (up to <see cref="MC"/> rows) × (up to <see cref="PanelsPerItem"/> panels).
    /// An item walks k in blocks of KC; per block it copies A when A is strided along k (A(m, k) with aRow = 1), then packs
    /// each panel of B once and runs all the item's rows against it. The split only decides who computes an element,
    /// never how, so it may depend on the thread count. Z: which of N and K are constants (<see cref="ISizes"/>).
    /// </summary>
    public struct Job<Z> : IParallelJob where Z : struct, ISizes
    {
        public float* C; public long Ldc;
        public float* A; public long ARow, AK;
        public void* B; public long Ldb; public Source Kind;
        public int M, N, K; public bool Accumulate;
        public int MChunk, MChunks, NR, Groups, GroupPanels;

        /// <summary>Sets the split: row chunks of at most MC rows (smaller if that is needed to give every thread some work).</summary>
        public void Plan()
        {
            NR = PanelWidth;
            int panels = (N + NR - 1) / NR;
            Groups = (panels + PanelsPerItem - 1) / PanelsPerItem;
            GroupPanels = (panels + Groups - 1) / Groups;                  // equal groups: 12 panels -> 6 + 6, not 8 + 4
            Groups = (panels + GroupPanels - 1) / GroupPanels;
            int wanted = 2 * Workers.Threads;
            MChunks = Math.Max((M + MC - 1) / MC, Groups >= wanted ? 1 : Math.Min((wanted + Groups - 1) / Groups, M / 48));
            MChunk = (M + MChunks - 1) / MChunks;
            MChunk = Math.Min(MC, (MChunk + MR - 1) / MR * MR);
            MChunks = (M + MChunk - 1) / MChunk;
        }

        public readonly int Items => Groups * MChunks;

        public void Execute(int start, int end)
        {
            for (int item = start; item < end; item++)
            {
                switch (SimdLevel.Current)
                {
                    case SimdLevel.V512: RunItem<Simd512, Vector512<float>>(item); break;
                    case SimdLevel.V256: RunItem<Simd256, Vector256<float>>(item); break;
                    case SimdLevel.V128: RunItem<Simd128, Vector128<float>>(item); break;
                    default: RunItem<Scalar, float>(item); break;
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void RunItem<S, TV>(int item) where S : struct, ISimd<TV> where TV : unmanaged
        {
            int N = Sizes.Of(Z.N, this.N), K = Sizes.Of(Z.K, this.K);       // constants for a model's product
            int nr = 2 * S.Width;
            int group = item / MChunks, chunk = item % MChunks;
            int p0 = group * GroupPanels, p1 = Math.Min(p0 + GroupPanels, (N + nr - 1) / nr);
            int m0 = chunk * MChunk, m1 = Math.Min(M, m0 + MChunk);
            if (K == 0)
            {
                if (!Accumulate)
                    for (int m = m0; m < m1; m++)
                        new Span<float>(C + m * Ldc + p0 * nr, Math.Min(N, p1 * nr) - p0 * nr).Clear();
                return;
            }
            float* packedB = PackBufferB();
            // A strided along k (the backward-weight product reads dyᵀ): copy the block into 6-row micro-panels
            // [tile][k][6], so the micro-kernel reads it densely and sequentially.
            bool packA = ARow == 1 && AK != 1;
            float* packedA = packA ? PackBufferA() : null;
            for (int k0 = 0; k0 < K; k0 += KC)
            {
                int kc = BlockLength(K, k0);
                float* a; long aRow, aK, aTile;
                if (packA)
                {
                    int full = (m1 - m0) / MR, tail = (m1 - m0) % MR;
                    for (int k = 0; k < kc; k++)
                    {
                        float* src = A + (k0 + k) * AK + m0;
                        float* dst = packedA + k * MR;
                        for (int t = 0; t < full; t++, src += MR, dst += kc * MR)
                        {
                            Unsafe.WriteUnaligned(dst, Unsafe.ReadUnaligned<Vector128<float>>(src));   // 4 + 2 floats
                            Unsafe.WriteUnaligned(dst + 4, Unsafe.ReadUnaligned<long>(src + 4));
                        }
                        for (int r = 0; r < tail; r++) dst[r] = src[r];
                    }
                    a = packedA; aRow = 1; aK = MR; aTile = kc * MR;
                }
                else { a = A + m0 * ARow + k0 * AK; aRow = ARow; aK = AK; aTile = MR * ARow; }
                for (int p = p0; p < p1; p++)
                {
                    int n0 = p * nr, cols = N % nr == 0 ? nr : Math.Min(nr, N - n0);   // (a full panel: folds for a constant N)
                    Pack(B, Ldb, Kind, packedB, nr, n0, cols, k0, kc);
                    RowsOfPanel<S, TV, Z>(C + n0, Ldc, cols, a, aRow, aK, aTile, packedB, kc, m0, m1, load: Accumulate || k0 > 0);
                }
            }
        }
    }

    /// <summary>
    /// packed[k, n] = B(k0 + k, n0 + n) for n &lt; cols, 0 for the padding columns (B at b, row stride ldb, stored as kind).
    /// Outside the job, which is compiled per product's sizes: one copy serves every product.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Pack(void* b, long ldb, Source kind, float* packed, int nr, int n0, int cols, int k0, int kc)
    {
        if (cols < nr) new Span<float>(packed, kc * nr).Clear();
        switch (kind)
        {
            case Source.Rows:
            {
                // A 128-byte row copy per k: inline vector moves (a memmove call per row cost ~15% here).
                float* src = (float*)b + k0 * ldb + n0;
                if (cols == 32 && Vector512.IsHardwareAccelerated)
                    for (int k = 0; k < kc; k++, src += ldb)
                    {
                        Vector512.Load(src).Store(packed + k * 32);
                        Vector512.Load(src + 16).Store(packed + k * 32 + 16);
                    }
                else if (cols == nr && nr % 4 == 0 && Vector128.IsHardwareAccelerated)
                    for (int k = 0; k < kc; k++, src += ldb)
                        for (int j = 0; j < nr; j += 4) Vector128.Load(src + j).Store(packed + k * nr + j);
                else
                    for (int k = 0; k < kc; k++, src += ldb)
                        Unsafe.CopyBlockUnaligned(packed + k * nr, src, (uint)(cols * sizeof(float)));
                break;
            }
            case Source.RowsBF16:                                  // BF16 rows, widened exactly (bits << 16)
            {
                BF16* src = (BF16*)b + k0 * ldb + n0;
                for (int k = 0; k < kc; k++, src += ldb) RowOps.Load(packed + k * nr, src, cols);
                break;
            }
            case Source.Transposed:
                Transpose.Pack((float*)b + n0 * ldb + k0, ldb, packed, nr, cols, kc);
                break;
            default:
                Transpose.Pack((ushort*)b + n0 * ldb + k0, ldb, packed, nr, cols, kc);
                break;
        }
    }

    /// <summary>
    /// C[m0..m1, 0..cols) (+)= A·Bpacked for one panel: 6-row tiles, then single rows; a partial panel goes through a stack tile.
    /// Row m0 + 6t + r of A starts at a + t·aTile + r·aRow (aTile = 6·aRow when A is read in place).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowsOfPanel<S, TV, Z>(float* c, long ldc, int cols, float* a, long aRow, long aK, long aTile, float* b, int kc, int m0, int m1, bool load)
        where S : struct, ISimd<TV> where TV : unmanaged where Z : struct, ISizes
    {
        int nr = 2 * S.Width;
        // For a model's product the caller's kc and cols are known here too: one k-block length for every block, and
        // only full panels when N is a multiple of the panel width (the stack-tile path below then compiles away).
        if (Z.K >= 0 && (Z.K <= KC || Z.K % KC == 0)) kc = Math.Min(Z.K, KC);
        if (Z.N >= 0 && Z.N % nr == 0) cols = nr;
        int m = m0;
        if (cols == nr)
        {
            for (; m + MR <= m1; m += MR, a += aTile) Tile6<S, TV>(c + m * ldc, ldc, a, aRow, aK, b, kc, load);
            for (int r = 0; m < m1; m++, r++) Tile1<S, TV>(c + m * ldc, a + r * aRow, aK, b, kc, load);
            return;
        }
        float* tile = stackalloc float[MR * MaxNR];
        for (; m < m1; m += MR, a += aTile)
        {
            int rows = Math.Min(MR, m1 - m);
            if (load)
                for (int r = 0; r < rows; r++)
                    for (int n = 0; n < cols; n++) tile[r * nr + n] = c[(m + r) * ldc + n];
            if (rows == MR) Tile6<S, TV>(tile, nr, a, aRow, aK, b, kc, load);
            else for (int r = 0; r < rows; r++) Tile1<S, TV>(tile + r * nr, a + r * aRow, aK, b, kc, load);
            for (int r = 0; r < rows; r++)
                for (int n = 0; n < cols; n++) c[(m + r) * ldc + n] = tile[r * nr + n];
        }
    }

    /// <summary>The micro-kernel: a 6 × 2-vector tile of C held in 12 registers over kc steps of k.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile6<S, TV>(float* c, long ldc, float* a, long aRow, long aK, float* b, int kc, bool load)
        where S : struct, ISimd<TV> where TV : unmanaged
    {
        int w = S.Width;
        TV c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        float* c0 = c, c1 = c + ldc, c2 = c1 + ldc, c3 = c2 + ldc, c4 = c3 + ldc, c5 = c4 + ldc;
        if (load)
        {
            c00 = S.Load(c0); c01 = S.Load(c0 + w); c10 = S.Load(c1); c11 = S.Load(c1 + w);
            c20 = S.Load(c2); c21 = S.Load(c2 + w); c30 = S.Load(c3); c31 = S.Load(c3 + w);
            c40 = S.Load(c4); c41 = S.Load(c4 + w); c50 = S.Load(c5); c51 = S.Load(c5 + w);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = S.Zero;
        }
        float* a0 = a, a1 = a + aRow, a2 = a1 + aRow, a3 = a2 + aRow, a4 = a3 + aRow, a5 = a4 + aRow;
        float* bEnd = b + kc * 2 * w;
        long off = 0;
        for (; b < bEnd; b += 2 * w, off += aK)
        {
            TV b0 = S.Load(b), b1 = S.Load(b + w), x;
            x = S.Broadcast(a0[off]); c00 = S.Fma(x, b0, c00); c01 = S.Fma(x, b1, c01);
            x = S.Broadcast(a1[off]); c10 = S.Fma(x, b0, c10); c11 = S.Fma(x, b1, c11);
            x = S.Broadcast(a2[off]); c20 = S.Fma(x, b0, c20); c21 = S.Fma(x, b1, c21);
            x = S.Broadcast(a3[off]); c30 = S.Fma(x, b0, c30); c31 = S.Fma(x, b1, c31);
            x = S.Broadcast(a4[off]); c40 = S.Fma(x, b0, c40); c41 = S.Fma(x, b1, c41);
            x = S.Broadcast(a5[off]); c50 = S.Fma(x, b0, c50); c51 = S.Fma(x, b1, c51);
        }
        S.Store(c0, c00); S.Store(c0 + w, c01); S.Store(c1, c10); S.Store(c1 + w, c11);
        S.Store(c2, c20); S.Store(c2 + w, c21); S.Store(c3, c30); S.Store(c3 + w, c31);
        S.Store(c4, c40); S.Store(c4 + w, c41); S.Store(c5, c50); S.Store(c5 + w, c51);
    }

    /// <summary>One row of C against the packed panel: the same per-element chain as <see cref="Tile6"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile1<S, TV>(float* c, float* a, long aK, float* b, int kc, bool load)
        where S : struct, ISimd<TV> where TV : unmanaged
    {
        int w = S.Width;
        TV c0 = load ? S.Load(c) : S.Zero, c1 = load ? S.Load(c + w) : S.Zero;
        float* bEnd = b + kc * 2 * w;
        for (long off = 0; b < bEnd; b += 2 * w, off += aK)
        {
            TV x = S.Broadcast(a[off]);
            c0 = S.Fma(x, S.Load(b), c0); c1 = S.Fma(x, S.Load(b + w), c1);
        }
        S.Store(c, c0); S.Store(c + w, c1);
    }
}
