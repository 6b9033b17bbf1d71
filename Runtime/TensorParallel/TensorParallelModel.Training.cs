using Qwen3Gen.Kernels;
using Qwen3Gen.Layers;
using Qwen3Gen.Models;

namespace Qwen3Gen.TensorParallel;

/// <summary>
/// Training of a dense model split <typeparamref name="W"/> ways: the forward pass of <see cref="Run"/> keeping every
/// layer's activations (as the generated model's training State does), and its backward with Megatron's collectives.
/// Column-parallel products (q/k/v from ln1, gate/up from ln2, and the LM head over the vocabulary) take a replicated
/// input x and give each rank its own output columns, so in backward each rank's dx = dy_r · W_r is a partial sum over
/// the ranks: one all-reduce of dx before it enters the replicated RMSNorm backward (Megatron's "f" operator: identity
/// forward, all-reduce backward). Row-parallel products (o_proj, down_proj) take the rank's own part of the input and
/// their forward output was all-reduced ("g"), so in backward dy is replicated and dx = dy · W_r is already exactly the
/// rank's part: nothing to communicate. Per layer, in backward order:
/// <code>
///   dact_r = dout · W_d[:, rank's columns]              local (dout replicated)
///   dgate_r, dup_r = SwiGLU'(...)                       local
///   dx = Σ_r (dgate_r · W_g,r + dup_r · W_u,r)          all-reduce 1, then dMid += RMSNorm'(dx)  (post_attention_layernorm)
///   dattn_r = dMid · W_o[:, rank's columns]             local
///   dq_r, dk_r, dv_r = attention', RoPE', QK-norm'      local: the rank's heads
///   dx = Σ_r (dq_r · W_q,r + dk_r · W_k,r + dv_r · W_v,r)  all-reduce 2, then dInput += RMSNorm'(dx)  (input_layernorm)
/// </code>
/// Weight gradients of split matrices are local (dW_r = dy_rᵀ · x for row slices, dyᵀ · x_r for column slices). The
/// replicated norm weights: input_layernorm, post_attention_layernorm and model.norm see the same dy and x on every
/// rank (both come out of all-reduces), so every rank computes the same gradient; q_norm and k_norm act per head and a
/// rank holds only its heads, so their gradients are partial sums, all-reduced once at the end of the backward pass.
/// The loss's backward is local (<see cref="VocabParallelLoss.Backward"/>); the LM head's dh is a partial sum over the
/// vocabulary (all-reduced once); the embedding's gradient lands on the rank's own vocabulary rows (tied: the same rows
/// as the LM head's).
/// </summary>
public sealed unsafe partial class TensorParallelModel<S, W> : ITensorParallelTraining
{
    private TrainState? _train;
    private NativeBuffer<float>? _gradients;

    public NativeBuffer<float> Gradients => _gradients ??= new NativeBuffer<float>(Split.Count);

    public void ZeroGradients() => Gradients.Clear();

    public long TrainingBufferBytes => _train?.Bytes ?? 0;

    private void CheckTrainable()
    {
        for (int l = 0; l < _layers.Length; l++)
            if (_layers[l].Sparse)
                throw new NotSupportedException($"Tensor-parallel training covers dense models; layer {l} is a mixture of experts " +
                                                "(the expert-parallel backward is not implemented): train MoE models in one process or with data parallelism.");
        if (_weights.Format != WeightFormat.F32)
            throw new NotSupportedException($"Tensor-parallel training needs F32 weights; these are {_weights.Format}.");
    }

    public float ForwardTraining(ReadOnlySpan<int> ids, ReadOnlySpan<int> targets, int batch, int seqLen)
    {
        CheckTrainable();
        if (ids.Length != batch * seqLen) throw new ArgumentException($"{ids.Length} ids for batch {batch} × seqLen {seqLen}.", nameof(ids));
        if (targets.Length != ids.Length) throw new ArgumentException($"Training needs a target per id: {targets.Length} targets for {ids.Length} ids.", nameof(targets));
        if (seqLen < 1 || seqLen > _config.PositionLimit) throw new ArgumentOutOfRangeException(nameof(seqLen), seqLen, $"seqLen must be in [1, {_config.PositionLimit}].");
        if (_train is not { } s || s.MaxBatch < batch || s.MaxSeqLen < seqLen)
        {
            _train?.Dispose();
            _train = null;
            _train = s = new TrainState(this, batch, seqLen);
        }
        s.Batch = batch; s.SeqLen = seqLen; s.BackwardDone = false;
        int rows = batch * seqLen;
        for (int b = 0; b < batch; b++) { s.Slot[b] = b; s.Past[b] = 0; }
        for (int i = 0; i < rows; i++)
        {
            if ((uint)ids[i] >= (uint)_config.Vocab) throw new ArgumentOutOfRangeException(nameof(ids), ids[i], $"Token ids must be in [0, {_config.Vocab}).");
            s.Tokens[i] = ids[i];
            s.Targets[i] = targets[i];
        }
        var m = _weights;
        float* v = m.Vectors;
        EmbedLocal(s.Layer[0].Input, s.Tokens, rows);                                               // the rank's vocabulary rows, zeros elsewhere
        AllReduce(s.Layer[0].Input, (long)rows * S.Hidden);                                       // h = Σ_r (exact)
        for (int l = 0; l < _layers.Length; l++)                                                  // training buffers: every layer its own, cache = this call's keys
            LayerForward(ref s.Layer[l], _layers[l], batch, seqLen, s.Slot, s.Past, seqLen, s.RopeCos, s.RopeSin, ref s.Moe, aux: null);
        float* last = s.Layer[^1].Output;
        Layer<RankShape<S, W>>.RmsNormForward(s.FinalNorm, s.RstdF, last, v + _finalNorm, rows, S.Hidden);
        MatMul.Forward(s.Logits, s.FinalNorm, m.Matrix(_lmHead), rows, S.Hidden, Split.VocabCount);   // the rank's vocabulary columns
        return VocabParallelLoss.Mean(Comm, s.Logits, new ReadOnlySpan<int>(s.Targets, rows), Split.VocabStart, Split.VocabCount, rows, s.LogitLse);
    }

    public void Backward()
    {
        var s = _train ?? throw new InvalidOperationException("Backward needs a ForwardTraining first.");
        if (s.BackwardDone) throw new InvalidOperationException("Backward was already run for this ForwardTraining (the logits were overwritten by their gradient).");
        s.BackwardDone = true;
        int batch = s.Batch, seqLen = s.SeqLen, rows = batch * seqLen, vc = Split.VocabCount;
        var m = _weights;
        float* v = m.Vectors, g = Gradients.Pointer;
        VocabParallelLoss.Backward(s.Logits, s.LogitLse, new ReadOnlySpan<int>(s.Targets, rows), Split.VocabStart, vc, rows);   // logits ← dlogits (local)
        RowOps.Clear(s.DLn, (long)rows * S.Hidden);
        MatMul.BackwardInput(s.DLn, s.Logits, m.Matrix(_lmHead), rows, S.Hidden, vc);            // dh_r = dlogits_r · W_lm,r: a partial sum
        MatMul.BackwardWeight(g + _lmHead, s.Logits, s.FinalNorm, rows, S.Hidden, vc);           // dW_lm,r += dlogits_rᵀ · h (tied: the embedding's rows)
        AllReduce(s.DLn, (long)rows * S.Hidden);                                                  // dh = Σ_r dh_r
        RowOps.Clear(s.DResid, (long)rows * S.Hidden);
        Layer<RankShape<S, W>>.RmsNormBackward(s.DResid, g + _finalNorm, s.DLn, s.Layer[^1].Output, v + _finalNorm, s.RstdF, rows, S.Hidden);
        RowOps.Clear(s.DQkNorm, (long)_layers.Length * 2 * S.HeadDim);
        for (int l = _layers.Length - 1; l >= 0; l--) LayerBackward(ref s.Layer[l], _layers[l], s, g, l, batch, seqLen);
        for (int r = 0; r < rows; r++)                                                            // dE[id] += dh for the rank's own ids
        {
            int local = s.Tokens[r] - Split.VocabStart;
            if ((uint)local < (uint)vc) RowOps.Add(g + _embed + (long)local * S.Hidden, s.DResid + (long)r * S.Hidden, S.Hidden);
        }
        AllReduce(s.DQkNorm, (long)_layers.Length * 2 * S.HeadDim);                              // q_norm, k_norm: Σ over every rank's heads
        for (int l = 0; l < _layers.Length; l++)
        {
            RowOps.Add(g + _layers[l].QNorm, s.DQkNorm + (long)l * 2 * S.HeadDim, S.HeadDim);
            RowOps.Add(g + _layers[l].KNorm, s.DQkNorm + ((long)l * 2 + 1) * S.HeadDim, S.HeadDim);
        }
    }

    /// <summary>On entry s.DResid holds d(loss)/d(Output), the same on every rank; on exit d(loss)/d(Input).</summary>
    private void LayerBackward(ref LayerBuffers a, LayerWeights w, TrainState s, float* g, int l, int batch, int seqLen)
    {
        int rows = batch * seqLen, q = RankShape<S, W>.QDim, kv = RankShape<S, W>.KvDim, ffn = RankShape<S, W>.Ffn;
        var m = _weights;
        float* v = m.Vectors;
        // ---- MLP block ----
        RowOps.Clear(s.DAct, (long)rows * ffn);
        MatMul.BackwardInput(s.DAct, s.DResid, m.Matrix(w.Down), rows, ffn, S.Hidden);             // dact_r = dout · W_d,r (local)
        MatMul.BackwardWeight(g + w.Down, s.DResid, a.Act, rows, ffn, S.Hidden);                   // dW_d,r += doutᵀ · act_r
        Layer<RankShape<S, W>>.SwiGluBackward(s.DGate, s.DUp, s.DAct, a.Gate, a.Up, (long)rows * ffn);
        RowOps.Clear(s.DLn, (long)rows * S.Hidden);
        MatMul.BackwardInput(s.DLn, s.DGate, m.Matrix(w.Gate), rows, S.Hidden, ffn);              // dx_r = dgate_r · W_g,r + dup_r · W_u,r
        MatMul.BackwardInput(s.DLn, s.DUp, m.Matrix(w.Up), rows, S.Hidden, ffn);
        MatMul.BackwardWeight(g + w.Gate, s.DGate, a.Ln2, rows, S.Hidden, ffn);
        MatMul.BackwardWeight(g + w.Up, s.DUp, a.Ln2, rows, S.Hidden, ffn);
        AllReduce(s.DLn, (long)rows * S.Hidden);                                                  // dx = Σ_r dx_r
        Layer<RankShape<S, W>>.RmsNormBackward(s.DResid, g + w.PostNorm, s.DLn, a.Mid, v + w.PostNorm, a.Rstd2, rows, S.Hidden);
        // s.DResid is now d(loss)/d(Mid), the same on every rank

        // ---- attention block, the rank's heads ----
        RowOps.Clear(s.DAttn, (long)rows * q);
        MatMul.BackwardInput(s.DAttn, s.DResid, m.Matrix(w.O), rows, q, S.Hidden);                // dattn_r = dmid · W_o,r (local)
        MatMul.BackwardWeight(g + w.O, s.DResid, a.Attn, rows, q, S.Hidden);
        RowOps.Clear(s.DQ, (long)rows * q);
        RowOps.Clear(s.DK, (long)rows * kv);
        RowOps.Clear(s.DV, (long)rows * kv);
        Layer<RankShape<S, W>>.AttentionBackward(s.DQ, s.DK, s.DV, s.DAttn, a.Attn, a.Lse, a.Q, a.K, a.V, batch, seqLen);
        Layer<RankShape<S, W>>.RopeBackward(s.DQ, rows, seqLen, RankShape<S, W>.Heads, s.Past, s.RopeCos, s.RopeSin);
        Layer<RankShape<S, W>>.RopeBackward(s.DK, rows, seqLen, RankShape<S, W>.KvHeads, s.Past, s.RopeCos, s.RopeSin);
        RowOps.Clear(s.DQRaw, (long)rows * q);
        RowOps.Clear(s.DKRaw, (long)rows * kv);
        float* dNorms = s.DQkNorm + (long)l * 2 * S.HeadDim;                                      // this rank's heads' part, reduced at the end
        Layer<RankShape<S, W>>.RmsNormBackward(s.DQRaw, dNorms, s.DQ, a.QRaw, v + w.QNorm, a.QRstd, rows * RankShape<S, W>.Heads, S.HeadDim);
        Layer<RankShape<S, W>>.RmsNormBackward(s.DKRaw, dNorms + S.HeadDim, s.DK, a.KRaw, v + w.KNorm, a.KRstd, rows * RankShape<S, W>.KvHeads, S.HeadDim);
        RowOps.Clear(s.DLn, (long)rows * S.Hidden);
        MatMul.BackwardInput(s.DLn, s.DQRaw, m.Matrix(w.Q), rows, S.Hidden, q);                   // dx_r = dq_r · W_q,r + dk_r · W_k,r + dv_r · W_v,r
        MatMul.BackwardInput(s.DLn, s.DKRaw, m.Matrix(w.K), rows, S.Hidden, kv);
        MatMul.BackwardInput(s.DLn, s.DV, m.Matrix(w.V), rows, S.Hidden, kv);
        MatMul.BackwardWeight(g + w.Q, s.DQRaw, a.Ln1, rows, S.Hidden, q);
        MatMul.BackwardWeight(g + w.K, s.DKRaw, a.Ln1, rows, S.Hidden, kv);
        MatMul.BackwardWeight(g + w.V, s.DV, a.Ln1, rows, S.Hidden, kv);
        AllReduce(s.DLn, (long)rows * S.Hidden);                                                  // dx = Σ_r dx_r
        Layer<RankShape<S, W>>.RmsNormBackward(s.DResid, g + w.InputNorm, s.DLn, a.Input, v + w.InputNorm, a.Rstd1, rows, S.Hidden);
        // s.DResid is now d(loss)/d(Input)
    }

    private void DisposeTraining()
    {
        _train?.Dispose();
        _train = null;
        _gradients?.Dispose();
        _gradients = null;
    }

    /// <summary>Training work buffers for up to MaxBatch × MaxSeqLen rows: every layer's activations, one set of gradient scratch.</summary>
    private sealed class TrainState : IDisposable
    {
        public readonly int MaxBatch, MaxSeqLen;
        public readonly int* Tokens, Targets, Slot, Past;
        public readonly float* RopeCos, RopeSin, FinalNorm, RstdF, Logits, LogitLse;
        public readonly float* DResid, DLn, DAttn, DQ, DK, DV, DQRaw, DKRaw, DGate, DUp, DAct, DQkNorm;
        public readonly LayerBuffers[] Layer;
        public MoeBuffers Moe;                                    // unused: training covers dense models
        public int Batch, SeqLen;
        public bool BackwardDone;
        private readonly Arena _arena = new();

        public TrainState(TensorParallelModel<S, W> model, int maxBatch, int maxSeqLen)
        {
            checked
            {
                MaxBatch = maxBatch; MaxSeqLen = maxSeqLen;
                var a = _arena;
                long r = (long)maxBatch * maxSeqLen;
                int q = RankShape<S, W>.QDim, kv = RankShape<S, W>.KvDim, heads = RankShape<S, W>.Heads, ffn = RankShape<S, W>.Ffn;
                Tokens = a.Ints(r); Targets = a.Ints(r); Slot = a.Ints(maxBatch); Past = a.Ints(maxBatch);
                RopeCos = a.Floats((long)maxSeqLen * (S.HeadDim / 2)); RopeSin = a.Floats((long)maxSeqLen * (S.HeadDim / 2));
                Rope.BuildTables(RopeCos, RopeSin, maxSeqLen, S.HeadDim, model._config.RopeTheta, model._config.RopeScaling);
                Layer = new LayerBuffers[model._layers.Length];
                float* residual = a.Floats(r * S.Hidden);
                for (int l = 0; l < Layer.Length; l++)
                {
                    Layer[l] = new LayerBuffers
                    {
                        Input = residual,
                        Ln1 = a.Floats(r * S.Hidden), Rstd1 = a.Floats(r),
                        QRaw = a.Floats(r * q), KRaw = a.Floats(r * kv), VRaw = a.Floats(r * kv),
                        QRstd = a.Floats(r * heads), KRstd = a.Floats(r * RankShape<S, W>.KvHeads), Q = a.Floats(r * q),
                        K = a.Floats(r * kv), V = a.Floats(r * kv),
                        Attn = a.Floats(r * q), Lse = a.Floats(r * heads),
                        Mid = a.Floats(r * S.Hidden), Ln2 = a.Floats(r * S.Hidden), Rstd2 = a.Floats(r),
                        Gate = a.Floats(r * ffn), Up = a.Floats(r * ffn), Act = a.Floats(r * ffn),
                        Output = residual = a.Floats(r * S.Hidden),
                    };
                }
                FinalNorm = a.Floats(r * S.Hidden); RstdF = a.Floats(r);
                Logits = a.Floats(r * model.Split.VocabCount); LogitLse = a.Floats(r);
                DResid = a.Floats(r * S.Hidden); DLn = a.Floats(r * S.Hidden); DAttn = a.Floats(r * q);
                DQ = a.Floats(r * q); DQRaw = a.Floats(r * q);
                DK = a.Floats(r * kv); DKRaw = a.Floats(r * kv); DV = a.Floats(r * kv);
                DGate = a.Floats(r * ffn); DUp = a.Floats(r * ffn); DAct = a.Floats(r * ffn);
                DQkNorm = a.Floats((long)Layer.Length * 2 * S.HeadDim);
            }
        }

        public long Bytes => _arena.Bytes;

        public void Dispose() => _arena.Dispose();
    }
}
