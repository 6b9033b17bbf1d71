using Qwen3Gen.Kernels;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Layers;

// ================================ RoPE ================================
// Half-split rotation (rotate_half), frequency j for dims j and j + D/2, c = cos[pos, j], s = sin[pos, j]:
//   x'[j] = x[j]·c − x[j + D/2]·s          x'[j + D/2] = x[j + D/2]·c + x[j]·s
// x: [rows, heads, HeadDim] in place, rows = sequences of seqLen; row r is at position past[r / seqLen] + r % seqLen.
// Rows are independent, so threads split them.
public static unsafe partial class Layer<S>
{
    // Half a head: a property, not a local, so that the JIT sees the constant where each index is formed.
    private static int Half => S.HeadDim / 2;

    private struct RopeJob : IParallelJob
    {
        public float* X, Cos, Sin;
        public int* Past;                                                         // first position of each sequence
        public int Heads, SeqLen;
        public bool Transposed;                                                   // backward: the rotation's transpose

        public void Execute(int start, int end)
        {
            for (int r = start; r < end; r++)
            {
                long position = Past[r / SeqLen] + r % SeqLen;
                float* c = Cos + position * Half, s = Sin + position * Half;
                for (int h = 0; h < Heads; h++)
                {
                    float* v = X + ((long)r * Heads + h) * S.HeadDim;
                    if (!Transposed)
                        for (int j = 0; j < Half; j++)
                        {
                            float a = v[j], b = v[j + Half];
                            v[j] = a * c[j] - b * s[j];
                            v[j + Half] = b * c[j] + a * s[j];
                        }
                    else
                        for (int j = 0; j < Half; j++)
                        {
                            float a = v[j], b = v[j + Half];
                            v[j] = a * c[j] + b * s[j];
                            v[j + Half] = b * c[j] - a * s[j];
                        }
                }
            }
        }
    }

    public static void RopeForward(float* x, int rows, int seqLen, int heads, int* past, float* cos, float* sin) =>
        Workers.ForRows(rows, (long)heads * S.HeadDim,
                        new RopeJob { X = x, Cos = cos, Sin = sin, Heads = heads, SeqLen = seqLen, Past = past });

    // The rotation's transpose:  dx[j] = dy[j]·c + dy[j + D/2]·s     dx[j + D/2] = dy[j + D/2]·c − dy[j]·s
    public static void RopeBackward(float* dx, int rows, int seqLen, int heads, int* past, float* cos, float* sin) =>
        Workers.ForRows(rows, (long)heads * S.HeadDim,
                        new RopeJob { X = dx, Cos = cos, Sin = sin, Heads = heads, SeqLen = seqLen, Past = past, Transposed = true });

    // Cache write for rows (b, t) of a forward call, in one job instead of two small calls per sequence:
    //   KCache[slot[b], past[b] + t] = RoPE(RMSNorm_k(KRaw[b, t]))  per K/V head,   VCache[slot[b], past[b] + t] = VRaw[b, t]
    // Each row runs exactly the steps of RmsNormJob and RopeJob on its own K/V heads, so the result is the same.
    // A compact cache (KCache null) gets the row computed in float32 scratch, then encoded (KvCacheKernels.Store).
    private struct KvCacheWriteJob : IParallelJob
    {
        public float* KCache, VCache, KRstd, KRaw, VRaw, NormWeight, Cos, Sin;
        public KvRows KRows, VRows;
        public int* Slot, Past;
        public int SeqLen, Capacity;

        public void Execute(int start, int end)
        {
            for (int r = start; r < end; r++)
            {
                int b = r / SeqLen, t = r % SeqLen;
                long slot = ((long)Slot[b] * Capacity + Past[b] + t) * S.KvDim;
                float* k = KCache != null ? KCache + slot : AttentionKernels.Scratch(S.KvDim);
                new RmsNormJob { Y = k, Rstd = KRstd + (long)r * S.KvHeads, X = KRaw + (long)r * S.KvDim, W = NormWeight, N = S.HeadDim }
                    .Execute(0, S.KvHeads);
                new RopeJob { X = k - (long)t * S.KvDim, Cos = Cos, Sin = Sin, Heads = S.KvHeads, SeqLen = SeqLen, Past = Past + b }
                    .Execute(t, t + 1);                                                  // row t of sequence b: position past[b] + t
                if (KCache != null) RowOps.Copy(VCache + slot, VRaw + (long)r * S.KvDim, S.KvDim);
                else
                {
                    KvCacheKernels.Store(KRows, slot, k, S.KvDim);
                    KvCacheKernels.Store(VRows, slot, VRaw + (long)r * S.KvDim, S.KvDim);
                }
            }
        }
    }

    /// <summary>
    /// k of rows (b, t): QK-norm (k_norm weight <paramref name="kNorm"/>, 1 / rms kept in <paramref name="kRstd"/>) and
    /// RoPE into the cache of slot slot[b] at position past[b] + t; v copied beside it. The cache is F32
    /// (<paramref name="kCache"/>, <paramref name="vCache"/>) or compact (<paramref name="kRows"/>, <paramref name="vRows"/>; the F32 pointers null).
    /// </summary>
    public static void KvCacheWrite(float* kCache, float* vCache, KvRows kRows, KvRows vRows, float* kRstd, float* kRaw, float* vRaw, float* kNorm,
                                    float* cos, float* sin, int rows, int seqLen, int* slot, int* past, int capacity) =>
        Workers.ForRows(rows, 3L * S.KvDim, new KvCacheWriteJob
        {
            KCache = kCache, VCache = vCache, KRows = kRows, VRows = vRows, KRstd = kRstd, KRaw = kRaw, VRaw = vRaw, NormWeight = kNorm,
            Cos = cos, Sin = sin, SeqLen = seqLen, Slot = slot, Past = past, Capacity = capacity,
        });
}
