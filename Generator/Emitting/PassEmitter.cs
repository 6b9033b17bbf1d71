using System.Threading;
using Qwen3Gen.Generator.Model;

namespace Qwen3Gen.Generator.Emitting;

/// <summary>
/// The work buffers and the two passes: forward (embedding → decoder layers → final norm → LM head → loss)
/// and backward, the same steps in reverse, each layer's backward mirroring its forward line by line.
/// </summary>
internal static class PassEmitter
{
    public static void Write(SourceWriter w, ModelSpec spec, CancellationToken ct)
    {
        WriteBuffers(w, spec);
        ct.ThrowIfCancellationRequested();
        WriteForward(w, spec);
        ct.ThrowIfCancellationRequested();
        WriteBackward(w, spec);
    }

    private static void WriteBuffers(SourceWriter w, ModelSpec spec)
    {
        w.Block("""
            /// <summary>One decoder layer's activations: what the forward pass keeps for the backward pass. R = batch · seqLen rows.</summary>
            [GeneratedCode]
            private struct LayerBuffers
            {
                public float* Input;    // [R, Hidden]   residual stream entering the layer
                public float* Ln1;      // [R, Hidden]   RMSNorm(Input; input_layernorm)
                public float* Rstd1;    // [R]           its 1 / rms
                public float* QRaw;     // [R, QDim]     q_proj output, before QK-norm
                public float* KRaw;     // [R, KvDim]    k_proj output, before QK-norm
                public float* VRaw;     // [R, KvDim]    v_proj output
                public float* QRstd;    // [R, Heads]    1 / rms of each query head (QK-norm)
                public float* KRstd;    // [R, KvHeads]  1 / rms of each key head
                public float* Q;        // [R, QDim]     queries after QK-norm and RoPE
                public float* KCache;   // [batch, capacity, KvDim]  keys after QK-norm and RoPE, by position
                public float* VCache;   // [batch, capacity, KvDim]  values, by position
                public global::Qwen3Gen.Kernels.KvRows KRows, VRows;  // the same in a compact format (BF16 / F16 / Q8_0 sessions; KCache, VCache then null)
                public float* Partials; // [batch, Heads, chunks, HeadDim + 2]  flash-decoding scratch (inference; PartialsFloats)
                public float* Attn;     // [R, QDim]     softmax(q·kᵀ·scale + causal mask)·v, heads concatenated
                public float* Lse;      // [R, Heads]    log-sum-exp of each attention row (flash-style backward)
                public float* Mid;      // [R, Hidden]   Input + o_proj(Attn)
                public float* Ln2;      // [R, Hidden]   RMSNorm(Mid; post_attention_layernorm)
                public float* Rstd2;    // [R]
                public float* Gate;     // [R, Ffn]      gate_proj output
                public float* Up;       // [R, Ffn]      up_proj output
                public float* Act;      // [R, Ffn]      silu(Gate) ⊙ Up
                public float* Output;   // [R, Hidden]   Mid + down_proj(Act): the next layer's Input
            """);
        if (spec.Shape.IsMoe)
            w.Block("""
                    public global::Qwen3Gen.Layers.MoeBuffers Moe;  // sparse layers: routing, and the routed rows grouped by expert
                """);
        w.Block("""
            }

            /// <summary>
            /// Work buffers for up to MaxBatch × MaxSeqLen tokens, allocated once and reused by every call.
            /// Training keeps every layer's activations for backward; inference lets the layers share one set. Training with
            /// Recompute (gradient checkpointing) keeps only each layer's output and one shared set, which the backward
            /// refills by running each layer's forward again just before its backward.
            /// </summary>
            [GeneratedCode]
            private sealed class State : global::System.IDisposable
            {
                public readonly int MaxBatch, MaxSeqLen, Capacity;
                public readonly global::Qwen3Gen.Kernels.KvCacheFormat CacheFormat;
                public readonly bool Training, Recompute;
                public readonly LayerBuffers[] Layer = new LayerBuffers[Layers];
                public readonly float* FinalNorm, RstdF, Logits, LogitLse, RowLoss, RopeCos, RopeSin;
                public readonly int* Tokens, Targets;
                // Per sequence b of a call: its cache slot and its first position (a batched decode step mixes sequences
                // at different positions; a plain call has Slot[b] = b and Past[b] = past).
                public readonly int* Slot, Past;
                // gradient scratch (training only), reused by every layer
                public readonly float* DResid, DLn, DAttn, DQ, DK, DV, DQRaw, DKRaw, DGate, DUp, DAct;
            """);
        if (spec.Shape.IsMoe)
            w.Block("""
                    public readonly global::Qwen3Gen.Layers.MoeGradients DMoe;     // sparse layers' gradient scratch
                    // load-balancing aux loss, pooled over every sparse layer (spec §4)
                    public readonly double[] ExpertSelections = new double[Experts], ExpertProbSums = new double[Experts];
                    public readonly float[] ExpertFraction = new float[Experts];   // f_e = selections of e / M
                    public float AuxLoss, CrossEntropy;
                    public int PooledRows;                                         // M = sparse layers · R
                """);
        w.Block("""
                public int Batch, SeqLen;
                public bool HasTargets, BackwardDone;
                private readonly global::Qwen3Gen.Kernels.Arena _arena;

                public int Rows => Batch * SeqLen;

                /// <summary>
                /// Bytes of the work buffers these arguments take: a dry run of the constructor on a planner arena (nothing
                /// allocated), in checked arithmetic; null when the count overflows a long.
                /// </summary>
                public static long? PlannedBytes(int maxBatch, int maxSeqLen, bool training, global::Qwen3Gen.Kernels.RopeScaling rope, int capacity = 0, int logitRows = 0,
                                                 global::Qwen3Gen.Kernels.KvCacheFormat cacheFormat = global::Qwen3Gen.Kernels.KvCacheFormat.F32, bool recompute = false)
                {
                    try { return new State(maxBatch, maxSeqLen, training, rope, capacity, logitRows, cacheFormat, recompute, planOnly: true)._arena.Bytes; }
                    catch (global::System.OverflowException) { return null; }
                }

                /// <summary>Bytes of these work buffers.</summary>
                public long Bytes => _arena.Bytes;

                /// <param name="capacity">KV-cache positions per sequence (training: maxSeqLen).</param>
                /// <param name="logitRows">Rows of logits kept (a decoding session needs only the last position).</param>
                /// <param name="rope">RoPE scaling of the cos/sin tables.</param>
                /// <param name="cacheFormat">How keys and values are stored (training: F32 only).</param>
                /// <param name="recompute">Training only: keep one layer's activations and recompute the others in backward.</param>
                /// <param name="planOnly">Allocate nothing, only count the bytes (<see cref="PlannedBytes"/>); callers check them first (WorkBufferLimits).</param>
                public State(int maxBatch, int maxSeqLen, bool training, global::Qwen3Gen.Kernels.RopeScaling rope, int capacity = 0, int logitRows = 0,
                             global::Qwen3Gen.Kernels.KvCacheFormat cacheFormat = global::Qwen3Gen.Kernels.KvCacheFormat.F32, bool recompute = false, bool planOnly = false)
                {
                    checked {                                           // sizes from run-time values: an overflow is an error, never a wrapped size
                    _arena = planOnly ? global::Qwen3Gen.Kernels.Arena.Planner() : new global::Qwen3Gen.Kernels.Arena();
                    MaxBatch = maxBatch; MaxSeqLen = maxSeqLen; Training = training; Recompute = training && recompute;
                    if (training && cacheFormat != global::Qwen3Gen.Kernels.KvCacheFormat.F32) throw new global::System.ArgumentException("Training keeps an F32 cache.", nameof(cacheFormat));
                    CacheFormat = cacheFormat;
                    Capacity = training ? maxSeqLen : global::System.Math.Max(capacity, maxSeqLen);
                    long r = (long)maxBatch * maxSeqLen, cache = (long)maxBatch * Capacity;
                    var a = _arena;
                    Tokens = a.Ints(r); Targets = a.Ints(r);
                    Slot = a.Ints(maxBatch); Past = a.Ints(maxBatch);
                    RopeCos = a.Floats((long)Capacity * (HeadDim / 2)); RopeSin = a.Floats((long)Capacity * (HeadDim / 2));
                    if (!planOnly) global::Qwen3Gen.Kernels.Rope.BuildTables(RopeCos, RopeSin, Capacity, HeadDim, RopeTheta, rope);
                    LayerBuffers shared = default;
                    float* residual = a.Floats(r * Hidden);
                    float* partials = training ? null : a.Floats(PartialsFloats(maxBatch, Capacity));
                    for (int l = 0; l < Layers; l++)
                    {
                        if (l == 0 || (training && !Recompute)) shared = NewLayer(a, r, residual, l);
                        var layer = shared;
                        layer.Input = residual;                         // recompute: each layer reads its own kept input
                        layer.Partials = partials;                      // scratch of one attention call, shared by the layers
                        if (cacheFormat != global::Qwen3Gen.Kernels.KvCacheFormat.F32)
                        {
                            layer.KRows = global::Qwen3Gen.Kernels.KvRows.Allocate(a, cacheFormat, cache * KvDim, HeadDim);
                            layer.VRows = global::Qwen3Gen.Kernels.KvRows.Allocate(a, cacheFormat, cache * KvDim, HeadDim);
                        }
                        else if (l == 0 || !Recompute)
                        {
                            layer.KCache = a.Floats(cache * KvDim);     // each layer has its own keys and values
                            layer.VCache = a.Floats(cache * KvDim);
                        }
                        else { layer.KCache = Layer[0].KCache; layer.VCache = Layer[0].VCache; }   // recompute: one pair, refilled per layer
            """);
        if (spec.Shape.IsMoe)
            w.Block("""
                            layer.Moe.Counts = a.Ints(Experts);                     // routing statistics per layer, also when inference shares the rest
                """);
        w.Block("""
                        if (training) { residual = a.Floats(r * Hidden); layer.Output = residual; }
                        else layer.Output = layer.Input;                // inference: the residual stream is updated in place
                        Layer[l] = layer;
                    }
                    FinalNorm = a.Floats(r * Hidden); RstdF = a.Floats(r);
                    Logits = a.Floats((logitRows > 0 ? logitRows : r) * Vocab); LogitLse = a.Floats(r); RowLoss = a.Floats(r);
                    if (training)
                    {
                        DResid = a.Floats(r * Hidden); DLn = a.Floats(r * Hidden); DAttn = a.Floats(r * QDim);
                        DQ = a.Floats(r * QDim); DQRaw = a.Floats(r * QDim);
                        DK = a.Floats(r * KvDim); DKRaw = a.Floats(r * KvDim); DV = a.Floats(r * KvDim);
                        DGate = a.Floats(r * Ffn); DUp = a.Floats(r * Ffn); DAct = a.Floats(r * Ffn);
            """);
        if (spec.Shape.IsMoe)
            w.Block("""
                            long p = r * ExpertsPerToken;
                            DMoe.DYe = a.Floats(p * Hidden); DMoe.DXe = a.Floats(p * Hidden);
                            DMoe.DAe = a.Floats(p * ExpertFfn); DMoe.DGe = a.Floats(p * ExpertFfn); DMoe.DUe = a.Floats(p * ExpertFfn);
                            DMoe.DRouteWeight = a.Floats(p); DMoe.DProbs = a.Floats(r * Experts);
                """);
        w.Block("""
                    }
                    }
                }

                private static LayerBuffers NewLayer(global::Qwen3Gen.Kernels.Arena a, long r, float* input, int layer)
                {
                    checked {
                    var b = new LayerBuffers
                    {
                    Input = input,
                    Ln1 = a.Floats(r * Hidden), Rstd1 = a.Floats(r),
                    QRaw = a.Floats(r * QDim), KRaw = a.Floats(r * KvDim), VRaw = a.Floats(r * KvDim),
                    QRstd = a.Floats(r * Heads), KRstd = a.Floats(r * KvHeads), Q = a.Floats(r * QDim),
                    Attn = a.Floats(r * QDim), Lse = a.Floats(r * Heads),
                    Mid = a.Floats(r * Hidden), Ln2 = a.Floats(r * Hidden), Rstd2 = a.Floats(r),
                    Gate = a.Floats(r * Ffn), Up = a.Floats(r * Ffn), Act = a.Floats(r * Ffn),
                    };
            """);
        if (spec.Shape.IsMoe)
            w.Block("""
                        long p = r * ExpertsPerToken;
                        ref var e = ref b.Moe;
                        e.RouterLogits = a.Floats(r * Experts); e.Probs = a.Floats(r * Experts);
                        e.Selected = a.Ints(p); e.RouteWeight = a.Floats(p); e.Starts = a.Ints(Experts + 1);
                        e.PackedRow = a.Ints(p); e.PackedPos = a.Ints(p);
                        e.Xe = a.Floats(p * Hidden); e.Ye = a.Floats(p * Hidden);
                        e.Ge = a.Floats(p * ExpertFfn); e.Ue = a.Floats(p * ExpertFfn); e.Ae = a.Floats(p * ExpertFfn);
                """);
        w.Block("""
                    return b;
                    }
                }

                public void Dispose() => _arena.Dispose();
            }

            """);
    }

    private static void WriteForward(SourceWriter w, ModelSpec spec)
    {
        w.Block("""
            // ================================ Forward ================================
            // h = embed_tokens[ids]
            // for each layer:  h = h + Attention(RMSNorm(h));  h = h + MLP(RMSNorm(h))
            // logits = RMSNorm(h) · W_lmᵀ;  loss = mean cross-entropy of logits[b, t] vs targets[b, t]
            // m.Matrix(offset) is a matrix's handle (data + storage format: F32, BF16 or GGML blocks); Linear<QProj>(y, x, W, rows)
            // is y = x · Wᵀ with the sizes of the product type QProj (declared after Shape), dispatched once on the format.
            // Vectors (norm weights) and activations are always float.
            // The layer functions called here (EmbeddingForward, RmsNormForward, Linear, AttentionForward, SwiGluForward, ...)
            // are Qwen3Gen.Layers.Layer<Shape>'s (Runtime/Layers, imported by the using static above): ordinary C#, written once,
            // compiled by the JIT for this model's Shape, so their loops run to this model's constants.

            /// <summary>
            /// The forward pass over s.Batch × s.SeqLen tokens at positions past .. past + SeqLen − 1 (past > 0 continues a
            /// KV-cached sequence). lastOnly: logits of each row's last position only (decoding), [Batch, Vocab].
            /// perSequence: the caller has set s.Slot and s.Past for each sequence (a batched decode step); past is ignored.
            /// </summary>
            private float ForwardPass(State s, int past = 0, bool lastOnly = false, bool perSequence = false)
            {
                int batch = s.Batch, seqLen = s.SeqLen, rows = s.Rows;
                int capacity = s.Training ? seqLen : s.Capacity;                   // training: the cache is exactly this call's keys
                if (!perSequence)
                    for (int b = 0; b < batch; b++) { s.Slot[b] = b; s.Past[b] = past; }
                global::Qwen3Gen.Models.Weights m = _weights;
                float* v = _weights.Vectors;
                var lora = Adapters;                                                    // LoRA: adapters add to their matrices' outputs
                s.BackwardDone = false;
                EmbeddingForward(s.Layer[0].Input, m.Matrix(Layout.Embed), s.Tokens, rows);
            """);
        if (!spec.Shape.IsMoe)
            w.Block("""
                    for (int l = 0; l < Layers; l++)
                        DecoderLayerForward(ref s.Layer[l], m, v, lora, l, batch, seqLen, s.Slot, s.Past, capacity, s.RopeCos, s.RopeSin);
                """);
        else
            w.Block("""
                    // The aux loss pools every sparse layer's routing. Training buffers keep each layer's (AuxLossForward reads
                    // them after the pass); inference buffers hold one layer's at a time, so with targets they are pooled as
                    // each layer ends.
                    bool poolEachLayer = s.HasTargets && !s.Training;
                    if (poolEachLayer) BeginAuxStatistics(s);
                    for (int l = 0; l < Layers; l++)
                    {
                        DecoderLayerForward(ref s.Layer[l], m, v, lora, l, batch, seqLen, s.Slot, s.Past, capacity, s.RopeCos, s.RopeSin);
                        if (poolEachLayer && IsSparse(l)) AddAuxStatistics(s, l);
                    }
                """);
        w.Block("""
                RmsNormForward(s.FinalNorm, s.RstdF, s.Layer[Layers - 1].Output, v + Layout.FinalNorm, rows, Hidden);
                if (lastOnly && seqLen == 1)                                            // decode step: every row is a last position
                {
                    Linear<LmHead>(s.Logits, s.FinalNorm, m.Matrix(Layout.LmHead), batch);
                    return float.NaN;
                }
                if (lastOnly)
                {
                    for (int b = 0; b < batch; b++)                                     // logits of the last position of each row
                        Linear<LmHead>(s.Logits + (long)b * Vocab, s.FinalNorm + ((long)b * seqLen + seqLen - 1) * Hidden, m.Matrix(Layout.LmHead), 1);
                    return float.NaN;
                }
                Linear<LmHead>(s.Logits, s.FinalNorm, m.Matrix(Layout.LmHead), rows);                          // logits = h · W_lmᵀ   [R, Vocab]
            """);
        if (!spec.Shape.IsMoe)
            w.Block("""
                    return s.HasTargets ? CrossEntropyForward(s.RowLoss, s.LogitLse, s.Logits, s.Targets, rows) : float.NaN;
                }
                """);
        else
            w.Block("""
                    s.CrossEntropy = s.HasTargets ? CrossEntropyForward(s.RowLoss, s.LogitLse, s.Logits, s.Targets, rows) : float.NaN;
                    s.AuxLoss = s.Training ? AuxLossForward(s)
                              : s.HasTargets ? MoeAuxLoss(s.ExpertSelections, s.ExpertProbSums, s.PooledRows, s.ExpertFraction)   // pooled layer by layer above
                              : float.NaN;
                    // total loss = cross-entropy + router_aux_loss_coef · aux (only when output_router_logits, as HF, in training and evaluation)
                    return OutputRouterLogits ? s.CrossEntropy + RouterAuxLossCoef * s.AuxLoss : s.CrossEntropy;
                }

                // Load-balancing loss over every sparse layer pooled (M = sparse layers · R rows), spec §4:
                //   aux = Experts · Σ_e f_e · P̄_e,   f_e = (selections of e) / M  (sums to k),   P̄_e = mean_m p[m, e]
                private static float AuxLossForward(State s)
                {
                    BeginAuxStatistics(s);
                    for (int l = 0; l < Layers; l++)
                        if (IsSparse(l)) AddAuxStatistics(s, l);
                    return MoeAuxLoss(s.ExpertSelections, s.ExpertProbSums, s.PooledRows, s.ExpertFraction);
                }

                private static void BeginAuxStatistics(State s)
                {
                    global::System.Array.Clear(s.ExpertSelections);
                    global::System.Array.Clear(s.ExpertProbSums);
                    s.PooledRows = 0;
                }

                // Layer l's selections and routing probabilities, added to the pooled statistics (layers in order).
                private static void AddAuxStatistics(State s, int l)
                {
                    MoeAuxStatistics(ref s.Layer[l].Moe, s.Rows, s.ExpertSelections, s.ExpertProbSums);
                    s.PooledRows += s.Rows;
                }
                """);
        w.Block("""

            /// <summary>
            /// One decoder layer over rows (b, t) at positions past[b] + t. Keys and values enter cache slot slot[b] at those
            /// positions, and each query attends to that slot's positions 0 .. past[b] + t (causal).
            /// lora: adapters (null: none) add their term to the output of the projection they sit on, y += s·(x·Aᵀ)·Bᵀ.
            /// </summary>
            private static void DecoderLayerForward(ref LayerBuffers a, global::Qwen3Gen.Models.Weights m, float* v, global::Qwen3Gen.Models.IMatrixAdapters? lora, int l, int batch, int seqLen, int* slot, int* past,
                                                    int capacity, float* cos, float* sin)
            {
                int rows = batch * seqLen;
                // ---- attention block: Mid = Input + o_proj(Attention(RMSNorm(Input))) ----
                RmsNormForward(a.Ln1, a.Rstd1, a.Input, v + Layout.InputNorm(l), rows, Hidden);
                Linear<QProj>(a.QRaw, a.Ln1, m.Matrix(Layout.QProj(l)), rows);                   // q = x · Wqᵀ   [R, Heads·HeadDim]
                Linear<KProj>(a.KRaw, a.Ln1, m.Matrix(Layout.KProj(l)), rows);                   // k = x · Wkᵀ   [R, KvHeads·HeadDim]
                Linear<VProj>(a.VRaw, a.Ln1, m.Matrix(Layout.VProj(l)), rows);                   // v = x · Wvᵀ
                if (lora is not null)                                                            // (+ the adapters of q, k, v)
                {
                    lora.Forward(Layout.QProj(l), a.QRaw, a.Ln1, rows);
                    lora.Forward(Layout.KProj(l), a.KRaw, a.Ln1, rows);
                    lora.Forward(Layout.VProj(l), a.VRaw, a.Ln1, rows);
                }
                RmsNormForward(a.Q, a.QRstd, a.QRaw, v + Layout.QNorm(l), rows * Heads, HeadDim);  // QK-norm per head, before RoPE
                RopeForward(a.Q, rows, seqLen, Heads, past, cos, sin);
                KvCacheWrite(a.KCache, a.VCache, a.KRows, a.VRows, a.KRstd, a.KRaw, a.VRaw, v + Layout.KNorm(l), cos, sin,   // k: QK-norm + RoPE into
                             rows, seqLen, slot, past, capacity);                                              // the cache, v copied beside it
                // attn = softmax(q·kᵀ·scale + causal mask)·v per query head, K/V head h / Group (flash-decoding when a decode step's cache is long)
                AttentionForward(a.Attn, a.Lse, a.Q, a.KCache, a.VCache, a.KRows, a.VRows, a.Partials, batch, seqLen, slot, past, capacity);
                Linear<OProj>(a.Mid, a.Attn, m.Matrix(Layout.OProj(l)), rows);                   // o = attn · Woᵀ   [R, Hidden]
                lora?.Forward(Layout.OProj(l), a.Mid, a.Attn, rows);

                // ---- MLP block: Output = Mid + MLP(RMSNorm(Mid)) ----
                AddRmsNormForward(a.Ln2, a.Rstd2, a.Mid, a.Input, v + Layout.PostAttentionNorm(l), rows, Hidden);  // Mid = Input + o, then its norm
            """);
        if (spec.Shape.IsMoe)
            w.Block("""
                    if (IsSparse(l))
                    {
                        MoeForward(ref a.Moe, a.Output, a.Ln2, m, Layout.Router(l), Layout.ExpertBlock(l), rows);  // Output = Σ_k w_k · expert_k(Ln2)
                        ResidualAdd(a.Output, a.Mid, rows, Hidden);                                  // Output = Mid + moe
                        return;
                    }
                """);
        w.Block("""
                Linear<GateProj>(a.Gate, a.Ln2, m.Matrix(Layout.GateProj(l)), rows);             // gate = x · Wgᵀ   [R, Ffn]
                Linear<UpProj>(a.Up, a.Ln2, m.Matrix(Layout.UpProj(l)), rows);                   // up   = x · Wuᵀ
                if (lora is not null)
                {
                    lora.Forward(Layout.GateProj(l), a.Gate, a.Ln2, rows);
                    lora.Forward(Layout.UpProj(l), a.Up, a.Ln2, rows);
                }
                SwiGluForward(a.Act, a.Gate, a.Up, (long)rows * Ffn);                            // act  = silu(gate) ⊙ up
                Linear<DownProj>(a.Output, a.Act, m.Matrix(Layout.DownProj(l)), rows);           // down = act · Wdᵀ   [R, Hidden]
                lora?.Forward(Layout.DownProj(l), a.Output, a.Act, rows);
                ResidualAdd(a.Output, a.Mid, rows, Hidden);                                      // Output = Mid + down
            }

            """);
    }

    private static void WriteBackward(SourceWriter w, ModelSpec spec)
    {
        w.Block("""
            // ================================ Backward ================================
            // The forward steps in reverse. Gradients of parameters are ADDED into _gradients (the caller zeroes them);
            // gradients of activations live in the State's scratch, reused by every layer.
            // With Adapters set (LoRA) the base is frozen: g is null, no weight gradient is computed and Gradients is never
            // allocated; the input gradients flow as before and each adapter takes its own from its matrix's dy and x.

            private void BackwardPass(State s)
            {
                int batch = s.Batch, seqLen = s.SeqLen, rows = s.Rows;
                global::Qwen3Gen.Models.Weights m = _weights;
                float* v = _weights.Vectors;
                var lora = Adapters;
                float* g = lora is null ? Gradients.Pointer : null;
                CrossEntropyBackward(s.Logits, s.LogitLse, s.Targets, rows);                  // logits ← dlogits, in place
                global::Qwen3Gen.Kernels.RowOps.Clear(s.DLn, (long)rows * Hidden);
                InputGradient<LmHead>(s.DLn, s.Logits, m.Matrix(Layout.LmHead), rows);          // dh   = dlogits · W_lm
                WeightGradient<LmHead>(g, lora, Layout.LmHead, s.DLn, s.Logits, s.FinalNorm, rows);  // dW_lm += dlogitsᵀ · h (tied: into the embedding)
                global::Qwen3Gen.Kernels.RowOps.Clear(s.DResid, (long)rows * Hidden);
                RmsNormBackward(s.DResid, At(g, Layout.FinalNorm), s.DLn, s.Layer[Layers - 1].Output, v + Layout.FinalNorm, s.RstdF, rows, Hidden);
                var hook = BackwardHook;                                                        // data parallelism: reduce each part as it becomes final
                hook?.HeadDone();                                                               // model.norm (and an untied lm_head) are final
                for (int l = Layers - 1; l >= 0; l--)
                {
                    // Gradient checkpointing: the shared buffers hold the last layer's activations; refill them for layer l
                    // by running its forward again from its kept input (the same operations, so the same bits).
                    if (s.Recompute && l < Layers - 1)
                        DecoderLayerForward(ref s.Layer[l], m, v, lora, l, batch, seqLen, s.Slot, s.Past, seqLen, s.RopeCos, s.RopeSin);
                    DecoderLayerBackward(ref s.Layer[l], s, m, v, g, lora, l, batch, seqLen);
                    hook?.LayerDone(l);                                                         // layer l's parameters are final
                }
                if (g != null) EmbeddingBackward(g + Layout.Embed, s.DResid, s.Tokens, rows);   // dE[id] += dh
                hook?.EmbeddingDone();
            }

            /// <summary>On entry s.DResid holds d(loss)/d(Output); on exit d(loss)/d(Input). g null: a frozen base (see BackwardPass).</summary>
            private static void DecoderLayerBackward(ref LayerBuffers a, State s, global::Qwen3Gen.Models.Weights m, float* v, float* g, global::Qwen3Gen.Models.IMatrixAdapters? lora, int l, int batch, int seqLen)
            {
                int rows = batch * seqLen;
                // ---- MLP block ----
            """);
        if (spec.Shape.IsMoe)
            w.Block("""
                    if (IsSparse(l))                                                                // s.DLn = d(loss)/d(Ln2)
                        MoeBackward(ref a.Moe, in s.DMoe, s.DResid, s.DLn, a.Ln2, m, g, lora, Layout.Router(l), Layout.ExpertBlock(l), rows,
                                    OutputRouterLogits ? RouterAuxLossCoef * Experts / s.PooledRows : 0f, s.ExpertFraction);
                    else
                    {
                """);
        w.Block("""
                global::Qwen3Gen.Kernels.RowOps.Clear(s.DAct, (long)rows * Ffn);
                InputGradient<DownProj>(s.DAct, s.DResid, m.Matrix(Layout.DownProj(l)), rows);  // dact = dout · Wd
                WeightGradient<DownProj>(g, lora, Layout.DownProj(l), s.DAct, s.DResid, a.Act, rows); // dWd += doutᵀ · act
                SwiGluBackward(s.DGate, s.DUp, s.DAct, a.Gate, a.Up, (long)rows * Ffn);
                global::Qwen3Gen.Kernels.RowOps.Clear(s.DLn, (long)rows * Hidden);
                InputGradient<GateProj>(s.DLn, s.DGate, m.Matrix(Layout.GateProj(l)), rows);    // dx = dgate · Wg + dup · Wu
                InputGradient<UpProj>(s.DLn, s.DUp, m.Matrix(Layout.UpProj(l)), rows);
                WeightGradient<GateProj>(g, lora, Layout.GateProj(l), s.DLn, s.DGate, a.Ln2, rows);  // dWg += dgateᵀ · x
                WeightGradient<UpProj>(g, lora, Layout.UpProj(l), s.DLn, s.DUp, a.Ln2, rows);        // dWu += dupᵀ · x
            """);
        if (spec.Shape.IsMoe)
            w.Block("""
                    }
                """);
        w.Block("""
                RmsNormBackward(s.DResid, At(g, Layout.PostAttentionNorm(l)), s.DLn, a.Mid, v + Layout.PostAttentionNorm(l), a.Rstd2, rows, Hidden);
                // s.DResid is now d(loss)/d(Mid): the skip path plus the MLP path

                // ---- attention block ----
                global::Qwen3Gen.Kernels.RowOps.Clear(s.DAttn, (long)rows * QDim);
                InputGradient<OProj>(s.DAttn, s.DResid, m.Matrix(Layout.OProj(l)), rows);       // dattn = dmid · Wo
                WeightGradient<OProj>(g, lora, Layout.OProj(l), s.DAttn, s.DResid, a.Attn, rows); // dWo  += dmidᵀ · attn
                global::Qwen3Gen.Kernels.RowOps.Clear(s.DQ, (long)rows * QDim);
                global::Qwen3Gen.Kernels.RowOps.Clear(s.DK, (long)rows * KvDim);
                global::Qwen3Gen.Kernels.RowOps.Clear(s.DV, (long)rows * KvDim);
                AttentionBackward(s.DQ, s.DK, s.DV, s.DAttn, a.Attn, a.Lse, a.Q, a.KCache, a.VCache, batch, seqLen);  // FlashAttention-2 style
                RopeBackward(s.DQ, rows, seqLen, Heads, s.Past, s.RopeCos, s.RopeSin);         // training: Past[b] = 0
                RopeBackward(s.DK, rows, seqLen, KvHeads, s.Past, s.RopeCos, s.RopeSin);
                global::Qwen3Gen.Kernels.RowOps.Clear(s.DQRaw, (long)rows * QDim);
                global::Qwen3Gen.Kernels.RowOps.Clear(s.DKRaw, (long)rows * KvDim);
                RmsNormBackward(s.DQRaw, At(g, Layout.QNorm(l)), s.DQ, a.QRaw, v + Layout.QNorm(l), a.QRstd, rows * Heads, HeadDim);
                RmsNormBackward(s.DKRaw, At(g, Layout.KNorm(l)), s.DK, a.KRaw, v + Layout.KNorm(l), a.KRstd, rows * KvHeads, HeadDim);
                global::Qwen3Gen.Kernels.RowOps.Clear(s.DLn, (long)rows * Hidden);
                InputGradient<QProj>(s.DLn, s.DQRaw, m.Matrix(Layout.QProj(l)), rows);          // dx = dq · Wq + dk · Wk + dv · Wv
                InputGradient<KProj>(s.DLn, s.DKRaw, m.Matrix(Layout.KProj(l)), rows);
                InputGradient<VProj>(s.DLn, s.DV, m.Matrix(Layout.VProj(l)), rows);
                WeightGradient<QProj>(g, lora, Layout.QProj(l), s.DLn, s.DQRaw, a.Ln1, rows);    // dWq += dqᵀ · x, and so on
                WeightGradient<KProj>(g, lora, Layout.KProj(l), s.DLn, s.DKRaw, a.Ln1, rows);
                WeightGradient<VProj>(g, lora, Layout.VProj(l), s.DLn, s.DV, a.Ln1, rows);
                RmsNormBackward(s.DResid, At(g, Layout.InputNorm(l)), s.DLn, a.Input, v + Layout.InputNorm(l), a.Rstd1, rows, Hidden);
                // s.DResid is now d(loss)/d(Input)
            }

            """);
    }
}
