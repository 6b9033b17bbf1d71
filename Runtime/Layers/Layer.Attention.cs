using Qwen3Gen.Kernels;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Layers;

// ================================ Causal GQA attention ================================
// For query head h at row (b, t), position p = past[b] + t, with K/V head g = h / Group (keys of cache slot slot[b]):
//   o = Σ_{s ≤ p} softmax_s(q · k_s · scale) v_s
// computed flash-style: keys in blocks of KeyBlock with an online softmax (running max m and sum l),
// so memory grows with T, not T². lse = m + log l is kept for the backward pass.
// One work item is (b, K/V head, tile of QueryTile positions): it copies the keys its rows can see into kᵀ[d, s]
// once, and every row of the tile and every query head of the group reuses that copy, so a score needs no
// horizontal sum: scores[s..s+16) = Σ_d q[d] · kᵀ[d, s..s+16) (AttentionKernels, 16 keys per FMA).
// A tile with few query rows (a decode step has one) does not pay for that copy (HeadDim scattered stores per
// key against Group · rows dot products per key), so when rows · Group ≤ DirectQueries it reads the key rows
// straight from the cache instead (AttentionKernels.ScoresDirect). The choice depends only on the shapes, never
// on the thread count, so results stay the same on any number of threads.
public static unsafe partial class Layer<S>
{
    private const int KeyBlock = 64;
    private const int QueryTile = 16;
    private const int DirectQueries = 8;

    /// <summary>
    /// Causal attention of rows (b, t) at positions past[b] + t over cache slot slot[b]: out [R, QDim] and lse [R, Heads].
    /// The cache is F32 (<paramref name="k"/>, <paramref name="v"/>) or compact (<paramref name="kRows"/>, <paramref name="vRows"/>;
    /// k, v null). partials: flash-decoding scratch (<see cref="PartialsFloats"/>; null: never split).
    /// </summary>
    public static void AttentionForward(float* output, float* lse, float* q, float* k, float* v, KvRows kRows, KvRows vRows, float* partials,
                                        int batch, int seqLen, int* slot, int* past, int capacity)
    {
        int splits = seqLen == 1 && S.Group <= DirectQueries && partials != null ? AttentionSplitJob.Count(batch, past) : 1;
        if (splits > 1)                                                                  // decode over a long cache: flash-decoding
        {
            Workers.For(batch * S.KvHeads * splits, new AttentionSplitJob
            {
                Q = q, K = k, V = v, KRows = kRows, VRows = vRows, Partials = partials, Slot = slot, Past = past,
                Capacity = capacity, Splits = splits,
            });
            Workers.For(batch * S.Heads, new AttentionMergeJob { Out = output, Lse = lse, Partials = partials, Splits = splits });
        }
        else
            Workers.For(AttentionForwardJob.Items(batch, seqLen), new AttentionForwardJob
            {
                Out = output, Lse = lse, Q = q, K = k, V = v, KRows = kRows, VRows = vRows, SeqLen = seqLen, Slot = slot, Past = past, Capacity = capacity,
            });
    }

    private struct AttentionForwardJob : IParallelJob
    {
        public float* Out, Lse, Q, K, V;                        // K, V null: the cache is compact (KRows, VRows), read as stored
        public KvRows KRows, VRows;
        public int* Slot, Past;
        public int SeqLen, Capacity;

        /// <summary>Work items of a call: batch · KvHeads · ⌈SeqLen / QueryTile⌉.</summary>
        public static int Items(int batch, int seqLen) => batch * S.KvHeads * ((seqLen + QueryTile - 1) / QueryTile);

        public void Execute(int start, int end)
        {
            float* scores = stackalloc float[KeyBlock];
            float* acc = stackalloc float[S.HeadDim];
            int tiles = (SeqLen + QueryTile - 1) / QueryTile;
            for (int i = start; i < end; i++)
            {
                int b = i / (S.KvHeads * tiles), kv = i / tiles % S.KvHeads, tile = i % tiles;
                int t0 = tile * QueryTile, t1 = Math.Min(SeqLen, t0 + QueryTile);
                int past = Past[b];
                int keys = past + t1;                               // the tile's last row sees positions 0 .. past + t1 − 1
                long e0 = (long)Slot[b] * Capacity * S.KvDim + kv * S.HeadDim;   // element of (slot, position 0, head kv, d 0)
                bool compact = K == null;
                float* k0 = K + e0, v0 = V + e0;
                bool direct = (t1 - t0) * S.Group <= DirectQueries;     // too few queries to amortise kᵀ
                int stride = AttentionKernels.Padded(keys);
                float* kt = null;
                if (!direct)
                {
                    kt = AttentionKernels.Scratch(S.HeadDim * stride);
                    if (compact) KvCacheKernels.Transpose(kt, KRows, e0, keys, S.KvDim, S.HeadDim);
                    else AttentionKernels.Transpose(kt, k0, keys, S.KvDim, S.HeadDim);      // kᵀ[d, s] = k_s[d]
                }
                for (int h = kv * S.Group; h < (kv + 1) * S.Group; h++)     // the query heads that share this K/V head
                    for (int t = t0; t < t1; t++)
                    {
                        long row = (long)b * SeqLen + t;
                        int n = past + t + 1;                           // causal: positions 0 .. past + t
                        float* q = Q + row * S.QDim + h * S.HeadDim;
                        float m = float.NegativeInfinity, l = 0f;
                        new Span<float>(acc, S.HeadDim).Clear();
                        for (int s0 = 0; s0 < n; s0 += KeyBlock)
                        {
                            int nb = Math.Min(KeyBlock, n - s0);
                            if (!direct) AttentionKernels.Scores(scores, q, kt, stride, s0, nb, S.HeadDim, S.AttentionScale);
                            else if (compact) KvCacheKernels.ScoresDirect(scores, q, KRows, e0 + (long)s0 * S.KvDim, S.KvDim, nb, S.HeadDim, S.AttentionScale);
                            else AttentionKernels.ScoresDirect(scores, q, k0, S.KvDim, s0, nb, S.HeadDim, S.AttentionScale);  // q · k_s · scale
                            float mNew = MathF.Max(m, AttentionKernels.Max(scores, nb));
                            float correction = MathF.Exp(m - mNew);     // rescale what was summed under the old max
                            l = l * correction + AttentionKernels.ExpSum(scores, nb, mNew);  // p_s = exp(score_s − m), l += Σ p_s
                            AttentionKernels.Scale(acc, correction, S.HeadDim);
                            if (compact) KvCacheKernels.WeightedSum(acc, scores, VRows, e0 + (long)s0 * S.KvDim, S.KvDim, nb, S.HeadDim);
                            else AttentionKernels.WeightedSum(acc, scores, v0 + (long)s0 * S.KvDim, S.KvDim, nb, S.HeadDim);  // acc += Σ_s p_s v_s
                            m = mNew;
                        }
                        float* o = Out + row * S.QDim + h * S.HeadDim;
                        float inv = 1f / l;
                        for (int d = 0; d < S.HeadDim; d++) o[d] = acc[d] * inv;
                        Lse[row * S.Heads + h] = m + MathF.Log(l);
                    }
            }
        }
    }

    // Flash-decoding: a decode step (one row per sequence) has only batch · KvHeads work items above, too few to keep
    // the threads busy when the cache is long and the K/V heads few. Its keys are then split into chunks of KeySplit
    // positions (boundaries fixed by position, never by the thread count); item (b, K/V head, chunk) runs the loop above
    // over its chunk only and leaves, per query head, its running max m_i, sum l_i and unnormalised acc_i. The merge then
    // combines the chunks of each (b, h) in chunk order:  m = max_i m_i,  l = Σ_i l_i e^(m_i − m),  o = Σ_i acc_i e^(m_i − m) / l.
    // With one chunk every factor is e^0 = 1 and o is bit for bit the unsplit result.
    private const int KeySplit = 1024;

    /// <summary>Floats of flash-decoding scratch for decode steps of up to <paramref name="maxBatch"/> sequences over <paramref name="capacity"/> positions:
    /// [batch, Heads, ⌈capacity / KeySplit⌉, HeadDim + 2] (acc, m, l of each chunk).</summary>
    public static long PartialsFloats(int maxBatch, int capacity) =>
        checked((long)maxBatch * S.Heads * ((capacity + KeySplit - 1) / KeySplit) * (S.HeadDim + 2));

    private struct AttentionSplitJob : IParallelJob
    {
        public float* Q, K, V, Partials;                        // Partials [batch, Heads, Splits, HeadDim + 2]: acc, m, l
        public KvRows KRows, VRows;
        public int* Slot, Past;
        public int Capacity, Splits;

        /// <summary>Chunks of the longest sequence of a decode step (1 when every sequence fits one).</summary>
        public static int Count(int batch, int* past)
        {
            int keys = 0;
            for (int b = 0; b < batch; b++) keys = Math.Max(keys, past[b] + 1);
            return (keys + KeySplit - 1) / KeySplit;
        }

        public void Execute(int start, int end)
        {
            float* scores = stackalloc float[KeyBlock];
            for (int i = start; i < end; i++)
            {
                int b = i / (S.KvHeads * Splits), kv = i / Splits % S.KvHeads, split = i % Splits;
                int n = Past[b] + 1, first = split * KeySplit, last = Math.Min(n, first + KeySplit);
                long e0 = (long)Slot[b] * Capacity * S.KvDim + kv * S.HeadDim;
                bool compact = K == null;
                float* k0 = K + e0, v0 = V + e0;
                for (int h = kv * S.Group; h < (kv + 1) * S.Group; h++)
                {
                    float* part = Partials + (((long)b * S.Heads + h) * Splits + split) * (S.HeadDim + 2);
                    float* acc = part;
                    float* q = Q + (long)b * S.QDim + h * S.HeadDim;
                    float m = float.NegativeInfinity, l = 0f;
                    new Span<float>(acc, S.HeadDim).Clear();
                    for (int s0 = first; s0 < last; s0 += KeyBlock)
                    {
                        int nb = Math.Min(KeyBlock, last - s0);
                        if (compact) KvCacheKernels.ScoresDirect(scores, q, KRows, e0 + (long)s0 * S.KvDim, S.KvDim, nb, S.HeadDim, S.AttentionScale);
                        else AttentionKernels.ScoresDirect(scores, q, k0, S.KvDim, s0, nb, S.HeadDim, S.AttentionScale);
                        float mNew = MathF.Max(m, AttentionKernels.Max(scores, nb));
                        float correction = MathF.Exp(m - mNew);
                        l = l * correction + AttentionKernels.ExpSum(scores, nb, mNew);
                        AttentionKernels.Scale(acc, correction, S.HeadDim);
                        if (compact) KvCacheKernels.WeightedSum(acc, scores, VRows, e0 + (long)s0 * S.KvDim, S.KvDim, nb, S.HeadDim);
                        else AttentionKernels.WeightedSum(acc, scores, v0 + (long)s0 * S.KvDim, S.KvDim, nb, S.HeadDim);
                        m = mNew;
                    }
                    part[S.HeadDim] = m;                                // an empty chunk (past this sequence's end): m = −∞, l = 0
                    part[S.HeadDim + 1] = l;
                }
            }
        }
    }

    private struct AttentionMergeJob : IParallelJob
    {
        public float* Out, Lse, Partials;
        public int Splits;

        public void Execute(int start, int end)
        {
            for (int i = start; i < end; i++)                            // i = b · Heads + h
            {
                float* parts = Partials + (long)i * Splits * (S.HeadDim + 2);
                float m = float.NegativeInfinity, l = 0f;
                for (int c = 0; c < Splits; c++) m = MathF.Max(m, parts[c * (S.HeadDim + 2) + S.HeadDim]);
                float* o = Out + (long)i * S.HeadDim;                        // a decode row's heads are consecutive: row b, head h
                new Span<float>(o, S.HeadDim).Clear();
                for (int c = 0; c < Splits; c++)
                {
                    float* part = parts + c * (S.HeadDim + 2);
                    float lc = part[S.HeadDim + 1];
                    if (lc == 0f) continue;                                  // empty chunk
                    float factor = MathF.Exp(part[S.HeadDim] - m);
                    l += lc * factor;
                    AttentionKernels.Axpy(o, factor, part, S.HeadDim);       // o += e^(m_c − m) · acc_c
                }
                float inv = 1f / l;
                for (int d = 0; d < S.HeadDim; d++) o[d] *= inv;
                Lse[i] = m + MathF.Log(l);
            }
        }
    }

    // Backward (as FlashAttention-2), recomputing p from lse instead of storing the T×T matrix:
    //   p_s = exp(q·k_s·scale − lse),  D = dO · o,  dp_s = dO · v_s,  ds_s = p_s (dp_s − D)
    //   dq += Σ_s ds_s · scale · k_s     dk_s += ds_s · scale · q     dv_s += p_s · dO
    // One work item per (batch row, K/V head): it owns dK, dV of that head and dQ of its Group query heads,
    // so no two threads write the same output and the sums run in a fixed order. The item copies K and V to
    // kᵀ, vᵀ once, so that p_s and dp_s of a row come 16 keys per FMA, as in the forward pass.
    // Training only: the keys are this call's (past 0, cache [batch, seqLen, KvDim]); dq, dk, dv are added to.

    /// <summary>dq [R, QDim], dk, dv [R, KvDim] (added to) from dout [R, QDim] and the forward's out, lse, q, k, v.</summary>
    public static void AttentionBackward(float* dq, float* dk, float* dv, float* dOut, float* output, float* lse, float* q, float* k, float* v,
                                         int batch, int seqLen) =>
        Workers.For(batch * S.KvHeads, new AttentionBackwardJob
        {
            DQ = dq, DK = dk, DV = dv, DOut = dOut, Out = output, Lse = lse, Q = q, K = k, V = v, SeqLen = seqLen,
        });

    private struct AttentionBackwardJob : IParallelJob
    {
        public float* DQ, DK, DV, DOut, Out, Lse, Q, K, V;
        public int SeqLen;

        public void Execute(int start, int end)
        {
            int stride = AttentionKernels.Padded(SeqLen);
            for (int i = start; i < end; i++)
            {
                int b = i / S.KvHeads, kv = i % S.KvHeads;
                long kvBase = (long)b * SeqLen * S.KvDim + kv * S.HeadDim;
                float* kt = AttentionKernels.Scratch(2 * (S.HeadDim + 1) * stride);
                float* vt = kt + S.HeadDim * stride, p = vt + S.HeadDim * stride, dp = p + stride;
                AttentionKernels.Transpose(kt, K + kvBase, SeqLen, S.KvDim, S.HeadDim);      // kᵀ[d, s] = k_s[d]
                AttentionKernels.Transpose(vt, V + kvBase, SeqLen, S.KvDim, S.HeadDim);      // vᵀ[d, s] = v_s[d]
                for (int h = kv * S.Group; h < (kv + 1) * S.Group; h++)
                {
                    for (int t = 0; t < SeqLen; t++)
                    {
                        long row = (long)b * SeqLen + t;
                        long qOffset = row * S.QDim + h * S.HeadDim;
                        float* q = Q + qOffset, dO = DOut + qOffset, dq = DQ + qOffset;
                        int n = t + 1;
                        float dDotO = AttentionKernels.Dot(dO, Out + qOffset, S.HeadDim);              // D = dO · o
                        AttentionKernels.Scores(p, q, kt, stride, 0, n, S.HeadDim, S.AttentionScale);  // q · k_s · scale
                        AttentionKernels.ExpSum(p, n, Lse[row * S.Heads + h]);                         // p_s = exp(q·k_s·scale − lse)
                        AttentionKernels.Scores(dp, dO, vt, stride, 0, n, S.HeadDim, 1f);               // dp_s = dO · v_s
                        AttentionKernels.ScoreGradient(dp, p, n, dDotO, S.AttentionScale);              // ds_s · scale = p_s (dp_s − D) · scale
                        AttentionKernels.WeightedSum(dq, dp, K + kvBase, S.KvDim, n, S.HeadDim);       // dq += Σ_s ds_s · scale · k_s
                        for (int s = 0; s < n; s++)
                        {
                            long kOffset = kvBase + (long)s * S.KvDim;
                            AttentionKernels.Axpy(DK + kOffset, dp[s], q, S.HeadDim);                   // dk_s += ds_s · scale · q
                            AttentionKernels.Axpy(DV + kOffset, p[s], dO, S.HeadDim);                   // dv_s += p_s · dO
                        }
                    }
                }
            }
        }
    }
}
