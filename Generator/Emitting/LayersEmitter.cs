using Qwen3Gen.Generator.Model;

namespace Qwen3Gen.Generator.Emitting;

/// <summary>
/// One forward/backward pair per layer kind, in forward order: Embedding, RMSNorm (also QK-norm), RoPE,
/// causal GQA attention, SwiGLU, cross-entropy. Loops run to the model's constant shapes.
/// </summary>
internal static class LayersEmitter
{
    public static void Write(SourceWriter w, ModelSpec spec)
    {
        w.Block(Embedding);
        w.Block(RmsNorm);
        w.Block(RopeText);
        w.Block(Attention);
        w.Block(SwiGlu);
        w.Block(CrossEntropy);
        if (spec.Shape.IsMoe) w.Block(MixtureOfExperts);
    }

    private const string Embedding = """
        // ================================ Embedding ================================
        // h[r, :] = E[id[r], :]          E = model.embed_tokens.weight [Vocab, Hidden]

        private static void EmbeddingForward(float* h, WeightMatrix embed, int* ids, int rows) =>
            MatrixRows.Gather(h, embed, ids, rows, Hidden);          // row id[r] of E in its stored format, widened

        // dE[id[r], :] += dh[r, :]       rows in order, so repeated ids accumulate in a fixed order
        private static void EmbeddingBackward(float* dEmbed, float* dh, int* ids, int rows)
        {
            for (int r = 0; r < rows; r++)
                RowOps.Add(dEmbed + (long)ids[r] * Hidden, dh + (long)r * Hidden, Hidden);
        }

        """;

    private const string RmsNorm = """
        // ================================ RMSNorm ================================
        // y = w ⊙ (x · r),   r = 1 / sqrt(mean(x²) + eps),   over the last dim n (Hidden, or HeadDim for QK-norm).
        // HF order: normalise first, then multiply by the weight (no 1 + w offset). r is kept for backward.
        // Rows are independent, so threads split them (Workers.ForRows); each row runs the same steps on any thread.

        private struct RmsNormJob : IParallelJob
        {
            public float* Y, Rstd, X, W, Residual;
            public int N;

            public void Execute(int start, int end)
            {
                int n = N;
                for (int r = start; r < end; r++)
                {
                    float* xr = X + (long)r * n, yr = Y + (long)r * n;
                    if (Residual != null) RowOps.Add(xr, Residual + (long)r * n, n);       // x += residual (the fused residual add)
                    var xs = new ReadOnlySpan<float>(xr, n);
                    var ys = new Span<float>(yr, n);
                    float meanSquare = TensorPrimitives.SumOfSquares(xs) / n;
                    float s = 1f / MathF.Sqrt(meanSquare + RmsNormEps);
                    Rstd[r] = s;
                    TensorPrimitives.Multiply(xs, s, ys);                                 // x · r
                    TensorPrimitives.Multiply(ys, new ReadOnlySpan<float>(W, n), ys);    // w ⊙ (x · r)
                }
            }
        }

        private static void RmsNormForward(float* y, float* rstd, float* x, float* w, int rows, int n) =>
            Workers.ForRows(rows, n, new RmsNormJob { Y = y, Rstd = rstd, X = x, W = w, N = n });

        // x += residual, then y = RMSNorm(x): a block's residual add fused into the next norm (one pass over x).
        private static void AddRmsNormForward(float* y, float* rstd, float* x, float* residual, float* w, int rows, int n) =>
            Workers.ForRows(rows, 2L * n, new RmsNormJob { Y = y, Rstd = rstd, X = x, W = w, Residual = residual, N = n });

        // y += x over rows of n floats (a residual add), split by rows.
        private struct AddJob : IParallelJob
        {
            public float* Y, X;
            public int N;

            public void Execute(int start, int end) => RowOps.Add(Y + (long)start * N, X + (long)start * N, (end - start) * N);
        }

        private static void ResidualAdd(float* y, float* x, int rows, int n) => Workers.ForRows(rows, n, new AddJob { Y = y, X = x, N = n });

        // With g = dy ⊙ w:   dx += r · g − x · r³ · mean(g ⊙ x)      dw += Σ_rows dy ⊙ x · r
        // dx is split by rows; dw by blocks of NormColumns columns, each block summing the rows in row order,
        // so every dw element is the same chain of additions for any thread count.
        private const int NormColumns = 32;

        private struct RmsNormBackwardJob : IParallelJob
        {
            public float* DX, DY, X, W, Rstd;
            public int N;

            public void Execute(int start, int end)
            {
                int n = N;
                var gw = RowOps.ScratchRow(n);
                var ws = new ReadOnlySpan<float>(W, n);
                for (int r = start; r < end; r++)
                {
                    var xs = new ReadOnlySpan<float>(X + (long)r * n, n);
                    var dys = new ReadOnlySpan<float>(DY + (long)r * n, n);
                    var dxs = new Span<float>(DX + (long)r * n, n);
                    float s = Rstd[r];
                    TensorPrimitives.Multiply(dys, ws, gw);                               // g = dy ⊙ w
                    float c = s * s * s * TensorPrimitives.Dot(gw, xs) / n;               // r³ · mean(g ⊙ x)
                    TensorPrimitives.MultiplyAdd(gw, s, dxs, dxs);                        // dx += r · g
                    TensorPrimitives.MultiplyAdd(xs, -c, dxs, dxs);                       // dx −= c · x
                }
            }
        }

        private struct RmsNormWeightGradientJob : IParallelJob
        {
            public float* DW, DY, X, Rstd;
            public int N, Rows;

            public void Execute(int start, int end)
            {
                int n = N, c0 = start * NormColumns, width = Math.Min(n, end * NormColumns) - c0;
                var dyx = RowOps.ScratchRow(width);
                var dws = new Span<float>(DW + c0, width);
                for (int r = 0; r < Rows; r++)                                            // rows in order
                {
                    long offset = (long)r * n + c0;
                    TensorPrimitives.Multiply(new ReadOnlySpan<float>(DY + offset, width), new ReadOnlySpan<float>(X + offset, width), dyx);
                    TensorPrimitives.MultiplyAdd(dyx, Rstd[r], dws, dws);                 // dw += dy ⊙ x · r
                }
            }
        }

        // dw null: a frozen weight (LoRA), only dx.
        private static void RmsNormBackward(float* dx, float* dw, float* dy, float* x, float* w, float* rstd, int rows, int n)
        {
            Workers.ForRows(rows, 2L * n, new RmsNormBackwardJob { DX = dx, DY = dy, X = x, W = w, Rstd = rstd, N = n });
            if (dw != null)
                Workers.ForRows((n + NormColumns - 1) / NormColumns, (long)rows * NormColumns,
                                new RmsNormWeightGradientJob { DW = dw, DY = dy, X = x, Rstd = rstd, N = n, Rows = rows });
        }

        """;

    private const string RopeText = """
        // ================================ RoPE ================================
        // Half-split rotation (rotate_half), frequency j for dims j and j + D/2, c = cos[pos, j], s = sin[pos, j]:
        //   x'[j] = x[j]·c − x[j + D/2]·s          x'[j + D/2] = x[j + D/2]·c + x[j]·s
        // x: [rows, heads, HeadDim] in place, rows = sequences of seqLen; row r is at position past[r / seqLen] + r % seqLen.
        // Rows are independent, so threads split them.

        private struct RopeJob : IParallelJob
        {
            public float* X, Cos, Sin;
            public int* Past;                                                         // first position of each sequence
            public int Heads, SeqLen;
            public bool Transposed;                                                   // backward: the rotation's transpose

            public void Execute(int start, int end)
            {
                const int half = HeadDim / 2;
                for (int r = start; r < end; r++)
                {
                    long position = Past[r / SeqLen] + r % SeqLen;
                    float* c = Cos + position * half, s = Sin + position * half;
                    for (int h = 0; h < Heads; h++)
                    {
                        float* v = X + ((long)r * Heads + h) * HeadDim;
                        if (!Transposed)
                            for (int j = 0; j < half; j++)
                            {
                                float a = v[j], b = v[j + half];
                                v[j] = a * c[j] - b * s[j];
                                v[j + half] = b * c[j] + a * s[j];
                            }
                        else
                            for (int j = 0; j < half; j++)
                            {
                                float a = v[j], b = v[j + half];
                                v[j] = a * c[j] + b * s[j];
                                v[j + half] = b * c[j] - a * s[j];
                            }
                    }
                }
            }
        }

        private static void RopeForward(float* x, int rows, int seqLen, int heads, int* past, float* cos, float* sin) =>
            Workers.ForRows(rows, (long)heads * HeadDim,
                            new RopeJob { X = x, Cos = cos, Sin = sin, Heads = heads, SeqLen = seqLen, Past = past });

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
                    long slot = ((long)Slot[b] * Capacity + Past[b] + t) * KvDim;
                    float* k = KCache != null ? KCache + slot : AttentionKernels.Scratch(KvDim);
                    new RmsNormJob { Y = k, Rstd = KRstd + (long)r * KvHeads, X = KRaw + (long)r * KvDim, W = NormWeight, N = HeadDim }
                        .Execute(0, KvHeads);
                    new RopeJob { X = k - (long)t * KvDim, Cos = Cos, Sin = Sin, Heads = KvHeads, SeqLen = SeqLen, Past = Past + b }
                        .Execute(t, t + 1);                                                  // row t of sequence b: position past[b] + t
                    if (KCache != null) RowOps.Copy(VCache + slot, VRaw + (long)r * KvDim, KvDim);
                    else
                    {
                        KvCacheKernels.Store(KRows, slot, k, KvDim);
                        KvCacheKernels.Store(VRows, slot, VRaw + (long)r * KvDim, KvDim);
                    }
                }
            }
        }

        // The rotation's transpose:  dx[j] = dy[j]·c + dy[j + D/2]·s     dx[j + D/2] = dy[j + D/2]·c − dy[j]·s
        private static void RopeBackward(float* dx, int rows, int seqLen, int heads, int* past, float* cos, float* sin) =>
            Workers.ForRows(rows, (long)heads * HeadDim,
                            new RopeJob { X = dx, Cos = cos, Sin = sin, Heads = heads, SeqLen = seqLen, Past = past, Transposed = true });

        """;

    private const string Attention = """
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
        private const int KeyBlock = 64;
        private const int QueryTile = 16;
        private const int DirectQueries = 8;

        private struct AttentionForwardJob : IParallelJob
        {
            public float* Out, Lse, Q, K, V;                        // K, V null: the cache is compact (KRows, VRows), read as stored
            public KvRows KRows, VRows;
            public int* Slot, Past;
            public int SeqLen, Capacity;

            /// <summary>Work items of a call: batch · KvHeads · ⌈SeqLen / QueryTile⌉.</summary>
            public static int Items(int batch, int seqLen) => batch * KvHeads * ((seqLen + QueryTile - 1) / QueryTile);

            public void Execute(int start, int end)
            {
                float* scores = stackalloc float[KeyBlock];
                float* acc = stackalloc float[HeadDim];
                int tiles = (SeqLen + QueryTile - 1) / QueryTile;
                for (int i = start; i < end; i++)
                {
                    int b = i / (KvHeads * tiles), kv = i / tiles % KvHeads, tile = i % tiles;
                    int t0 = tile * QueryTile, t1 = Math.Min(SeqLen, t0 + QueryTile);
                    int past = Past[b];
                    int keys = past + t1;                               // the tile's last row sees positions 0 .. past + t1 − 1
                    long e0 = (long)Slot[b] * Capacity * KvDim + kv * HeadDim;   // element of (slot, position 0, head kv, d 0)
                    bool compact = K == null;
                    float* k0 = K + e0, v0 = V + e0;
                    bool direct = (t1 - t0) * Group <= DirectQueries;       // too few queries to amortise kᵀ
                    int stride = AttentionKernels.Padded(keys);
                    float* kt = null;
                    if (!direct)
                    {
                        kt = AttentionKernels.Scratch(HeadDim * stride);
                        if (compact) KvCacheKernels.Transpose(kt, KRows, e0, keys, KvDim, HeadDim);
                        else AttentionKernels.Transpose(kt, k0, keys, KvDim, HeadDim);      // kᵀ[d, s] = k_s[d]
                    }
                    for (int h = kv * Group; h < (kv + 1) * Group; h++)     // the query heads that share this K/V head
                        for (int t = t0; t < t1; t++)
                        {
                            long row = (long)b * SeqLen + t;
                            int n = past + t + 1;                           // causal: positions 0 .. past + t
                            float* q = Q + row * QDim + h * HeadDim;
                            float m = float.NegativeInfinity, l = 0f;
                            new Span<float>(acc, HeadDim).Clear();
                            for (int s0 = 0; s0 < n; s0 += KeyBlock)
                            {
                                int nb = Math.Min(KeyBlock, n - s0);
                                if (!direct) AttentionKernels.Scores(scores, q, kt, stride, s0, nb, HeadDim, AttentionScale);
                                else if (compact) KvCacheKernels.ScoresDirect(scores, q, KRows, e0 + (long)s0 * KvDim, KvDim, nb, HeadDim, AttentionScale);
                                else AttentionKernels.ScoresDirect(scores, q, k0, KvDim, s0, nb, HeadDim, AttentionScale);  // q · k_s · scale
                                float mNew = MathF.Max(m, AttentionKernels.Max(scores, nb));
                                float correction = MathF.Exp(m - mNew);     // rescale what was summed under the old max
                                l = l * correction + AttentionKernels.ExpSum(scores, nb, mNew);  // p_s = exp(score_s − m), l += Σ p_s
                                AttentionKernels.Scale(acc, correction, HeadDim);
                                if (compact) KvCacheKernels.WeightedSum(acc, scores, VRows, e0 + (long)s0 * KvDim, KvDim, nb, HeadDim);
                                else AttentionKernels.WeightedSum(acc, scores, v0 + (long)s0 * KvDim, KvDim, nb, HeadDim);  // acc += Σ_s p_s v_s
                                m = mNew;
                            }
                            float* o = Out + row * QDim + h * HeadDim;
                            float inv = 1f / l;
                            for (int d = 0; d < HeadDim; d++) o[d] = acc[d] * inv;
                            Lse[row * Heads + h] = m + MathF.Log(l);
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
                    int b = i / (KvHeads * Splits), kv = i / Splits % KvHeads, split = i % Splits;
                    int n = Past[b] + 1, first = split * KeySplit, last = Math.Min(n, first + KeySplit);
                    long e0 = (long)Slot[b] * Capacity * KvDim + kv * HeadDim;
                    bool compact = K == null;
                    float* k0 = K + e0, v0 = V + e0;
                    for (int h = kv * Group; h < (kv + 1) * Group; h++)
                    {
                        float* part = Partials + (((long)b * Heads + h) * Splits + split) * (HeadDim + 2);
                        float* acc = part;
                        float* q = Q + (long)b * QDim + h * HeadDim;
                        float m = float.NegativeInfinity, l = 0f;
                        new Span<float>(acc, HeadDim).Clear();
                        for (int s0 = first; s0 < last; s0 += KeyBlock)
                        {
                            int nb = Math.Min(KeyBlock, last - s0);
                            if (compact) KvCacheKernels.ScoresDirect(scores, q, KRows, e0 + (long)s0 * KvDim, KvDim, nb, HeadDim, AttentionScale);
                            else AttentionKernels.ScoresDirect(scores, q, k0, KvDim, s0, nb, HeadDim, AttentionScale);
                            float mNew = MathF.Max(m, AttentionKernels.Max(scores, nb));
                            float correction = MathF.Exp(m - mNew);
                            l = l * correction + AttentionKernels.ExpSum(scores, nb, mNew);
                            AttentionKernels.Scale(acc, correction, HeadDim);
                            if (compact) KvCacheKernels.WeightedSum(acc, scores, VRows, e0 + (long)s0 * KvDim, KvDim, nb, HeadDim);
                            else AttentionKernels.WeightedSum(acc, scores, v0 + (long)s0 * KvDim, KvDim, nb, HeadDim);
                            m = mNew;
                        }
                        part[HeadDim] = m;                                  // an empty chunk (past this sequence's end): m = −∞, l = 0
                        part[HeadDim + 1] = l;
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
                    float* parts = Partials + (long)i * Splits * (HeadDim + 2);
                    float m = float.NegativeInfinity, l = 0f;
                    for (int c = 0; c < Splits; c++) m = MathF.Max(m, parts[c * (HeadDim + 2) + HeadDim]);
                    float* o = Out + (long)i * HeadDim;                          // a decode row's heads are consecutive: row b, head h
                    new Span<float>(o, HeadDim).Clear();
                    for (int c = 0; c < Splits; c++)
                    {
                        float* part = parts + c * (HeadDim + 2);
                        float lc = part[HeadDim + 1];
                        if (lc == 0f) continue;                                  // empty chunk
                        float factor = MathF.Exp(part[HeadDim] - m);
                        l += lc * factor;
                        AttentionKernels.Axpy(o, factor, part, HeadDim);         // o += e^(m_c − m) · acc_c
                    }
                    float inv = 1f / l;
                    for (int d = 0; d < HeadDim; d++) o[d] *= inv;
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
        private struct AttentionBackwardJob : IParallelJob
        {
            public float* DQ, DK, DV, DOut, Out, Lse, Q, K, V;
            public int SeqLen;

            public void Execute(int start, int end)
            {
                int stride = AttentionKernels.Padded(SeqLen);
                for (int i = start; i < end; i++)
                {
                    int b = i / KvHeads, kv = i % KvHeads;
                    long kvBase = (long)b * SeqLen * KvDim + kv * HeadDim;
                    float* kt = AttentionKernels.Scratch(2 * (HeadDim + 1) * stride);
                    float* vt = kt + HeadDim * stride, p = vt + HeadDim * stride, dp = p + stride;
                    AttentionKernels.Transpose(kt, K + kvBase, SeqLen, KvDim, HeadDim);      // kᵀ[d, s] = k_s[d]
                    AttentionKernels.Transpose(vt, V + kvBase, SeqLen, KvDim, HeadDim);      // vᵀ[d, s] = v_s[d]
                    for (int h = kv * Group; h < (kv + 1) * Group; h++)
                    {
                        for (int t = 0; t < SeqLen; t++)
                        {
                            long row = (long)b * SeqLen + t;
                            long qOffset = row * QDim + h * HeadDim;
                            float* q = Q + qOffset, dO = DOut + qOffset, dq = DQ + qOffset;
                            int n = t + 1;
                            float dDotO = AttentionKernels.Dot(dO, Out + qOffset, HeadDim);            // D = dO · o
                            AttentionKernels.Scores(p, q, kt, stride, 0, n, HeadDim, AttentionScale);   // q · k_s · scale
                            AttentionKernels.ExpSum(p, n, Lse[row * Heads + h]);                       // p_s = exp(q·k_s·scale − lse)
                            AttentionKernels.Scores(dp, dO, vt, stride, 0, n, HeadDim, 1f);             // dp_s = dO · v_s
                            AttentionKernels.ScoreGradient(dp, p, n, dDotO, AttentionScale);            // ds_s · scale = p_s (dp_s − D) · scale
                            AttentionKernels.WeightedSum(dq, dp, K + kvBase, KvDim, n, HeadDim);       // dq += Σ_s ds_s · scale · k_s
                            for (int s = 0; s < n; s++)
                            {
                                long kOffset = kvBase + (long)s * KvDim;
                                AttentionKernels.Axpy(DK + kOffset, dp[s], q, HeadDim);                 // dk_s += ds_s · scale · q
                                AttentionKernels.Axpy(DV + kOffset, p[s], dO, HeadDim);                 // dv_s += p_s · dO
                            }
                        }
                    }
                }
            }
        }

        """;

    private const string SwiGlu = """
        // ================================ SwiGLU ================================
        // act = silu(gate) ⊙ up,   silu(z) = z · σ(z)
        // Element-wise: threads split the elements into fixed blocks of SwiGluBlock (the blocks do not depend on the
        // thread count, so neither does any result).
        private const int SwiGluBlock = 4096;

        private struct SwiGluJob : IParallelJob
        {
            public float* Act, Gate, Up, DGate, DUp, DAct;
            public long N;
            public bool Backward;

            public void Execute(int start, int end)
            {
                for (int block = start; block < end; block++)
                {
                    long i0 = (long)block * SwiGluBlock;
                    int length = (int)Math.Min(SwiGluBlock, N - i0);
                    if (Backward) SwiGluBackwardBlock(DGate + i0, DUp + i0, DAct + i0, Gate + i0, Up + i0, length);
                    else SwiGluForwardBlock(Act + i0, Gate + i0, Up + i0, length);
                }
            }
        }

        private static int SwiGluBlocks(long n) => checked((int)((n + SwiGluBlock - 1) / SwiGluBlock));

        private static void SwiGluForward(float* act, float* gate, float* up, long n) =>
            Workers.ForRows(SwiGluBlocks(n), SwiGluBlock, new SwiGluJob { Act = act, Gate = gate, Up = up, N = n });

        private static void SwiGluForwardBlock(float* act, float* gate, float* up, int length)
        {
            var a = new Span<float>(act, length);
            var z = new ReadOnlySpan<float>(gate, length);
            TensorPrimitives.Sigmoid(z, a);                                           // σ(z)
            TensorPrimitives.Multiply(a, z, a);                                       // silu(z) = z · σ(z)
            TensorPrimitives.Multiply(a, new ReadOnlySpan<float>(up, length), a);    // ⊙ up
        }

        // dgate = dact ⊙ up ⊙ σ(z)(1 + z(1 − σ(z)))      dup = dact ⊙ silu(z)      (overwrites dgate, dup)
        private static void SwiGluBackward(float* dGate, float* dUp, float* dAct, float* gate, float* up, long n) =>
            Workers.ForRows(SwiGluBlocks(n), 2 * SwiGluBlock,
                            new SwiGluJob { DGate = dGate, DUp = dUp, DAct = dAct, Gate = gate, Up = up, N = n, Backward = true });

        private static void SwiGluBackwardBlock(float* dGate, float* dUp, float* dAct, float* gate, float* up, int length)
        {
            var z = new ReadOnlySpan<float>(gate, length);
            var dg = new Span<float>(dGate, length);
            var du = new Span<float>(dUp, length);
            var da = new ReadOnlySpan<float>(dAct, length);
            TensorPrimitives.Sigmoid(z, dg);                                          // dg = σ
            TensorPrimitives.Multiply(z, dg, du);                                     // du = silu(z)
            RowOps.SwiGluGateGradient(dGate, dAct, gate, up, length);                // dg = dact ⊙ up ⊙ σ(1 + z(1 − σ))
            TensorPrimitives.Multiply(du, da, du);                                    // du = dact ⊙ silu(z)
        }

        """;

    private const string CrossEntropy = """
        // ================================ Cross-entropy (HF ForCausalLMLoss) ================================
        // loss_r = logsumexp(z_r) − z_r[target_r]; the loss is the mean over rows whose target is not −100.

        private struct CrossEntropyJob : IParallelJob
        {
            public float* Logits, Lse, RowLoss;
            public int* Targets;

            public void Execute(int start, int end)
            {
                for (int r = start; r < end; r++)
                {
                    float* z = Logits + (long)r * Vocab;
                    Lse[r] = RowOps.LogSumExp(z, Vocab);
                    int target = Targets[r];
                    RowLoss[r] = target == CausalLm.IgnoreIndex ? 0f : Lse[r] - z[target];
                }
            }
        }

        private static float CrossEntropyForward(float* rowLoss, float* lse, float* logits, int* targets, int rows)
        {
            Workers.For(rows, new CrossEntropyJob { Logits = logits, Lse = lse, RowLoss = rowLoss, Targets = targets });
            double sum = 0;
            int count = 0;
            for (int r = 0; r < rows; r++)
                if (targets[r] != CausalLm.IgnoreIndex) { sum += rowLoss[r]; count++; }
            return count == 0 ? float.NaN : (float)(sum / count);
        }

        // dz_r = (softmax(z_r) − onehot(target_r)) / count, written over the logits; ignored rows get 0.
        private struct CrossEntropyBackwardJob : IParallelJob
        {
            public float* Logits, Lse;
            public int* Targets;
            public float InvCount;

            public void Execute(int start, int end)
            {
                for (int r = start; r < end; r++)
                {
                    float* z = Logits + (long)r * Vocab;
                    int target = Targets[r];
                    if (target == CausalLm.IgnoreIndex) { RowOps.Clear(z, Vocab); continue; }
                    RowOps.ExpScale(z, Vocab, Lse[r], InvCount);                      // softmax(z) / count = exp(z − lse) / count
                    z[target] -= InvCount;
                }
            }
        }

        private static void CrossEntropyBackward(float* logits, float* lse, int* targets, int rows)
        {
            int count = 0;
            for (int r = 0; r < rows; r++) if (targets[r] != CausalLm.IgnoreIndex) count++;
            Workers.For(rows, new CrossEntropyBackwardJob { Logits = logits, Lse = lse, Targets = targets, InvCount = count == 0 ? 0f : 1f / count });
        }
        """;

    private const string MixtureOfExperts = """

        // ================================ Mixture of experts (Qwen3MoeSparseMoeBlock) ================================
        // router_logits = x · W_routerᵀ,  p = softmax(router_logits) over ALL experts,
        // (w, sel) = top-k of p, descending;  if NormTopKProb: w = w / Σ w
        // out = Σ_slot w_slot · expert_sel(x),   expert_e(x) = down_e(silu(gate_e(x)) ⊙ up_e(x))
        // Only selected experts run: the routed (row, slot) pairs are packed by expert, in row order, and each
        // expert multiplies its own block of rows. No shared expert, no capacity limit, no jitter, no router bias.

        private static void MoeForward(ref LayerBuffers a, Weights m, int l, int rows)
        {
            MatMul.Forward(a.RouterLogits, a.Ln2, m.Matrix(Layout.Router(l)), rows, Hidden, Experts);     // [R, Experts]
            Route(ref a, rows);
            Pack(ref a, rows);
            var experts = new ExpertForwardJob { M = m, Layer = l, Counts = a.Counts, Starts = a.Starts, Xe = a.Xe, Ge = a.Ge, Ue = a.Ue, Ae = a.Ae, Ye = a.Ye };
            // Experts side by side, one per work item, each one's products on its thread alone: a decode step's few
            // small experts split poorly across threads one after another. When one expert holds over half of the routed
            // rows that would leave the other threads idle, so the experts run in turn with each product split instead.
            // Either way each expert's output is the same (products do not depend on how they are split).
            int busiest = 0;
            for (int e = 0; e < Experts; e++) busiest = Math.Max(busiest, a.Counts[e]);
            if (2L * busiest <= (long)rows * ExpertsPerToken) Workers.For(Experts, experts, 1);
            else experts.Execute(0, Experts);
            for (int r = 0; r < rows; r++)                                                          // out[r] = Σ_slot w · y
            {
                float* o = a.Output + (long)r * Hidden;
                RowOps.Clear(o, Hidden);
                for (int k = 0; k < ExpertsPerToken; k++)
                {
                    int i = r * ExpertsPerToken + k;
                    RowOps.Axpy(o, a.RouteWeight[i], a.Ye + (long)a.PackedPos[i] * Hidden, Hidden);
                }
            }
        }

        /// <summary>Experts [start, end) of a layer:  y_e = (silu(x_e · Wgᵀ) ⊙ (x_e · Wuᵀ)) · Wdᵀ  over the rows routed to each.</summary>
        private struct ExpertForwardJob : IParallelJob
        {
            public Weights M; public int Layer;
            public int* Counts, Starts;
            public float* Xe, Ge, Ue, Ae, Ye;

            public void Execute(int start, int end)
            {
                for (int e = start; e < end; e++)
                {
                    int n = Counts[e];
                    if (n == 0) continue;                                                           // an idle expert costs nothing
                    long p0 = Starts[e];
                    float* x = Xe + p0 * Hidden, ge = Ge + p0 * ExpertFfn, ue = Ue + p0 * ExpertFfn, ae = Ae + p0 * ExpertFfn;
                    MatMul.Forward(ge, x, M.Matrix(Layout.ExpertGateProj(Layer, e)), n, Hidden, ExpertFfn);    // gate_e = x · Wgᵀ
                    MatMul.Forward(ue, x, M.Matrix(Layout.ExpertUpProj(Layer, e)), n, Hidden, ExpertFfn);      // up_e   = x · Wuᵀ
                    SwiGluForward(ae, ge, ue, (long)n * ExpertFfn);                                  // act_e  = silu(gate_e) ⊙ up_e
                    MatMul.Forward(Ye + p0 * Hidden, ae, M.Matrix(Layout.ExpertDownProj(Layer, e)), n, ExpertFfn, Hidden);
                }
            }
        }

        // Softmax over all experts (float32, as HF), then top-k by repeated selection (ties: the lower id first).
        private static void Route(ref LayerBuffers a, int rows)
        {
            for (int r = 0; r < rows; r++)
            {
                float* z = a.RouterLogits + (long)r * Experts, p = a.Probs + (long)r * Experts;
                float max = z[0];
                for (int e = 1; e < Experts; e++) max = MathF.Max(max, z[e]);
                float sum = 0f;
                for (int e = 0; e < Experts; e++) { p[e] = MathF.Exp(z[e] - max); sum += p[e]; }
                for (int e = 0; e < Experts; e++) p[e] /= sum;
                int* sel = a.Selected + (long)r * ExpertsPerToken;
                float* w = a.RouteWeight + (long)r * ExpertsPerToken;
                float total = 0f;
                for (int k = 0; k < ExpertsPerToken; k++)
                {
                    int best = -1;
                    for (int e = 0; e < Experts; e++)
                    {
                        bool taken = false;
                        for (int j = 0; j < k; j++) taken |= sel[j] == e;
                        if (!taken && (best < 0 || p[e] > p[best])) best = e;
                    }
                    sel[k] = best;
                    w[k] = p[best];
                    total += w[k];
                }
                if (NormTopKProb)
                    for (int k = 0; k < ExpertsPerToken; k++) w[k] /= total;
            }
        }

        // Groups the routed (row, slot) pairs by expert: Counts, Starts, PackedRow, PackedPos, and the rows of x in Xe.
        private static void Pack(ref LayerBuffers a, int rows)
        {
            int* cursor = stackalloc int[Experts];
            for (int e = 0; e < Experts; e++) { a.Counts[e] = 0; cursor[e] = 0; }
            for (int i = 0; i < rows * ExpertsPerToken; i++) a.Counts[a.Selected[i]]++;
            a.Starts[0] = 0;
            for (int e = 0; e < Experts; e++) a.Starts[e + 1] = a.Starts[e] + a.Counts[e];
            for (int r = 0; r < rows; r++)
                for (int k = 0; k < ExpertsPerToken; k++)
                {
                    int i = r * ExpertsPerToken + k, e = a.Selected[i];
                    int pos = a.Starts[e] + cursor[e]++;
                    a.PackedRow[pos] = r;
                    a.PackedPos[i] = pos;
                    RowOps.Copy(a.Xe + (long)pos * Hidden, a.Ln2 + (long)r * Hidden, Hidden);
                }
        }

        // Load-balancing loss over every sparse layer pooled (M = sparse layers · R rows), spec §4:
        //   aux = Experts · Σ_e f_e · P̄_e,   f_e = (selections of e) / M  (sums to k),   P̄_e = mean_m p[m, e]
        private static float AuxLossForward(State s)
        {
            Array.Clear(s.ExpertSelections);
            Array.Clear(s.ExpertProbSums);
            int pooled = 0;
            for (int l = 0; l < Layers; l++)
            {
                if (!IsSparse(l)) continue;
                ref var a = ref s.Layer[l];
                for (int r = 0; r < s.Rows; r++)
                {
                    for (int k = 0; k < ExpertsPerToken; k++) s.ExpertSelections[a.Selected[r * ExpertsPerToken + k]] += 1;
                    for (int e = 0; e < Experts; e++) s.ExpertProbSums[e] += a.Probs[(long)r * Experts + e];
                }
                pooled += s.Rows;
            }
            s.PooledRows = pooled;
            double aux = 0;
            for (int e = 0; e < Experts; e++)
            {
                s.ExpertFraction[e] = (float)(s.ExpertSelections[e] / pooled);
                aux += s.ExpertSelections[e] / pooled * (s.ExpertProbSums[e] / pooled);
            }
            return (float)(Experts * aux);
        }

        // Backward of the sparse block. On entry s.DResid = d(loss)/d(out); on exit s.DLn = d(loss)/d(x).
        //   dw_slot = dout · y_slot,   dy_slot = w_slot · dout,   then each expert's SwiGLU backward on its block.
        //   Through the weights to the probabilities: NormTopKProb: dp_sel = (dw − Σ dw ⊙ w) / Σ p_sel;  else dp_sel = dw.
        //   Aux loss (if OutputRouterLogits): dp[m, e] += coef · Experts · f_e / M   (f is a constant: top-k is discrete).
        //   Softmax: dz = p ⊙ (dp − Σ_e dp_e p_e). Experts with no rows get exactly zero gradient.
        private static void MoeBackward(ref LayerBuffers a, State s, Weights m, float* g, IMatrixAdapters? lora, int l, int rows)
        {
            for (int r = 0; r < rows; r++)
                for (int k = 0; k < ExpertsPerToken; k++)
                {
                    int i = r * ExpertsPerToken + k;
                    long pos = a.PackedPos[i];
                    float* dOut = s.DResid + (long)r * Hidden, dy = s.DYe + pos * Hidden;
                    s.DRouteWeight[i] = RowOps.Dot(dOut, a.Ye + pos * Hidden, Hidden);
                    for (int j = 0; j < Hidden; j++) dy[j] = a.RouteWeight[i] * dOut[j];
                }
            for (int e = 0; e < Experts; e++)
            {
                int n = a.Counts[e];
                if (n == 0) continue;
                long p0 = a.Starts[e];
                float* x = a.Xe + p0 * Hidden, dx = s.DXe + p0 * Hidden, dy = s.DYe + p0 * Hidden;
                float* dAe = s.DAe + p0 * ExpertFfn, dGe = s.DGe + p0 * ExpertFfn, dUe = s.DUe + p0 * ExpertFfn;
                RowOps.Clear(dAe, (long)n * ExpertFfn);
                MatMul.BackwardInput(dAe, dy, m.Matrix(Layout.ExpertDownProj(l, e)), n, ExpertFfn, Hidden);
                WeightGradient(g, lora, Layout.ExpertDownProj(l, e), dAe, dy, a.Ae + p0 * ExpertFfn, n, ExpertFfn, Hidden);
                SwiGluBackward(dGe, dUe, dAe, a.Ge + p0 * ExpertFfn, a.Ue + p0 * ExpertFfn, (long)n * ExpertFfn);
                RowOps.Clear(dx, (long)n * Hidden);
                MatMul.BackwardInput(dx, dGe, m.Matrix(Layout.ExpertGateProj(l, e)), n, Hidden, ExpertFfn);
                MatMul.BackwardInput(dx, dUe, m.Matrix(Layout.ExpertUpProj(l, e)), n, Hidden, ExpertFfn);
                WeightGradient(g, lora, Layout.ExpertGateProj(l, e), dx, dGe, x, n, Hidden, ExpertFfn);
                WeightGradient(g, lora, Layout.ExpertUpProj(l, e), dx, dUe, x, n, Hidden, ExpertFfn);
            }
            RowOps.Clear(s.DLn, (long)rows * Hidden);
            for (int r = 0; r < rows; r++)                                                          // dx[r] = Σ_slot dXe[pos]
                for (int k = 0; k < ExpertsPerToken; k++)
                    RowOps.Add(s.DLn + (long)r * Hidden, s.DXe + (long)a.PackedPos[r * ExpertsPerToken + k] * Hidden, Hidden);

            float auxScale = OutputRouterLogits ? RouterAuxLossCoef * Experts / s.PooledRows : 0f;
            for (int r = 0; r < rows; r++)
            {
                float* p = a.Probs + (long)r * Experts, dp = s.DProbs + (long)r * Experts;
                float* w = a.RouteWeight + (long)r * ExpertsPerToken, dw = s.DRouteWeight + (long)r * ExpertsPerToken;
                int* sel = a.Selected + (long)r * ExpertsPerToken;
                for (int e = 0; e < Experts; e++) dp[e] = auxScale * s.ExpertFraction[e];
                if (NormTopKProb)
                {
                    float sum = 0f, dwDotW = 0f;
                    for (int k = 0; k < ExpertsPerToken; k++) { sum += p[sel[k]]; dwDotW += dw[k] * w[k]; }
                    for (int k = 0; k < ExpertsPerToken; k++) dp[sel[k]] += (dw[k] - dwDotW) / sum;
                }
                else
                {
                    for (int k = 0; k < ExpertsPerToken; k++) dp[sel[k]] += dw[k];
                }
                float dot = 0f;
                for (int e = 0; e < Experts; e++) dot += dp[e] * p[e];
                for (int e = 0; e < Experts; e++) dp[e] = p[e] * (dp[e] - dot);                    // now d(loss)/d(router_logits)
            }
            MatMul.BackwardInput(s.DLn, s.DProbs, m.Matrix(Layout.Router(l)), rows, Hidden, Experts);
            WeightGradient(g, lora, Layout.Router(l), s.DLn, s.DProbs, a.Ln2, rows, Hidden, Experts);
        }
        """;
}
