using Qwen3Gen.Distributed;
using Qwen3Gen.Kernels;
using Qwen3Gen.Layers;
using Qwen3Gen.Models;
using Qwen3Gen.Quantization;

namespace Qwen3Gen.TensorParallel;

/// <summary>
/// One rank of model <typeparamref name="S"/> split <typeparamref name="W"/> ways (Megatron-style tensor parallelism,
/// expert parallelism for MoE; <see cref="TensorSplit"/> says who holds what). Every rank runs this same code in step
/// with the others, on its own slice, and the layers are the ordinary <see cref="Layer{S}"/> code compiled for the rank's
/// shape <see cref="RankShape{S, W}"/>. Per decoder layer:
/// <code>
///   x = RMSNorm(h)                                   replicated: every rank holds the whole h
///   q, k, v = x · W_{q,k,v}ᵀ  (the rank's heads)    QK-norm, RoPE, the rank's KV cache, attention over its heads
///   o_r = attn_r · W_o[:, rank's columns]ᵀ           a partial sum:   o = Σ_r o_r   (all-reduce 1)
///   h = h + o;  x = RMSNorm(h)
///   dense:  m_r = (silu(x · W_gᵀ) ⊙ (x · W_uᵀ)) · W_d[:, rank's columns]ᵀ   (the rank's FFN columns)
///   MoE:    m_r = Σ over the token's routed experts that the rank owns of w_e · expert_e(x)   (router replicated)
///   h = h + Σ_r m_r                                  (all-reduce 2)
/// </code>
/// The embedding is split by vocabulary: a rank writes the rows of the tokens it holds and zeros elsewhere, and one
/// all-reduce assembles h (each element is one value plus zeros: exact). The LM head gives each rank the logits of its
/// vocabulary rows only; the loss and the sampler work on those parts (<see cref="VocabParallelLoss"/>,
/// <see cref="Sampling.ShardedSampler"/>) without gathering a whole row.
/// Sums of partial products are ordered differently from one process's single FMA chain, so logits agree with the
/// unsplit model to float rounding (the golden tolerances), not bit for bit; for a given N they are the same on every
/// run and any thread count.
/// </summary>
public sealed unsafe partial class TensorParallelModel<S, W> : ITensorParallelModel where S : struct, IModelShape where W : struct, IWays
{
    private readonly Weights _weights;
    private readonly ModelConfig _config;
    private readonly LayerWeights[] _layers;
    private readonly long _embed, _lmHead, _finalNorm;
    private State? _state;

    /// <summary>Where one layer's tensors sit in the rank's flat layout.</summary>
    private readonly record struct LayerWeights(long Q, long K, long V, long O, long Gate, long Up, long Down,
                                                long InputNorm, long PostNorm, long QNorm, long KNorm, long Router, ExpertMatrices Experts, bool Sparse);

    public TensorParallelModel(ICommunicator comm, ModelConfig config, Weights weights)
    {
        if (comm.Size != W.N) throw new ArgumentException($"A {W.N}-way model on a communicator of {comm.Size} ranks.", nameof(comm));
        Comm = comm;
        _config = config;
        Split = new TensorSplit(config, W.N, comm.Rank);
        if (weights.Count != Split.Count) throw new ArgumentException($"Weights of {weights.Count} elements for a slice of {Split.Count}.", nameof(weights));
        _weights = weights;
        long At(string name) => Split[name].Local.Offset;
        _embed = At("model.embed_tokens.weight");
        _lmHead = config.TieEmbeddings ? _embed : At("lm_head.weight");
        _finalNorm = At("model.norm.weight");
        _layers = new LayerWeights[config.Layers];
        for (int l = 0; l < config.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            bool sparse = config.IsSparse(l);
            ExpertMatrices experts = default;
            if (sparse && Split.ExpertCount > 0)
            {
                long gate0 = At(p + $"mlp.experts.{Split.ExpertStart}.gate_proj.weight");
                long stride = Split.ExpertCount > 1 ? At(p + $"mlp.experts.{Split.ExpertStart + 1}.gate_proj.weight") - gate0 : 0;
                experts = new ExpertMatrices(gate0, At(p + $"mlp.experts.{Split.ExpertStart}.up_proj.weight"),
                                             At(p + $"mlp.experts.{Split.ExpertStart}.down_proj.weight"), stride);
            }
            _layers[l] = new LayerWeights(
                At(p + "self_attn.q_proj.weight"), At(p + "self_attn.k_proj.weight"), At(p + "self_attn.v_proj.weight"), At(p + "self_attn.o_proj.weight"),
                sparse ? 0 : At(p + "mlp.gate_proj.weight"), sparse ? 0 : At(p + "mlp.up_proj.weight"), sparse ? 0 : At(p + "mlp.down_proj.weight"),
                At(p + "input_layernorm.weight"), At(p + "post_attention_layernorm.weight"), At(p + "self_attn.q_norm.weight"), At(p + "self_attn.k_norm.weight"),
                sparse ? At(p + "mlp.gate.weight") : 0, experts, sparse);
        }
    }

    public ICommunicator Comm { get; }
    public TensorSplit Split { get; }
    public ModelConfig Config => _config;
    public Weights Weights => _weights;

    /// <summary>Time this rank spent in the all-reduces of the forward passes (the embedding's and two per layer) and of the training backward passes.</summary>
    public TimeSpan CommunicationTime => TimeSpan.FromSeconds(_commTicks / (double)System.Diagnostics.Stopwatch.Frequency);
    private long _commTicks;

    public long WorkBufferBytes => _state?.Bytes ?? 0;

    private State Reserve(int batch, int seqLen, int capacity)
    {
        if (_state is { } s && s.MaxBatch >= batch && s.MaxSeqLen >= seqLen && s.Capacity >= capacity) return s;
        _state?.Dispose();
        _state = null;
        return _state = new State(this, batch, seqLen, Math.Max(capacity, seqLen));
    }

    /// <summary>
    /// The forward pass over <paramref name="batch"/> sequences of <paramref name="seqLen"/> tokens from position 0; the
    /// rank's part of every logits row stays in <see cref="LocalLogits"/> [batch · seqLen, VocabCount]. With targets
    /// (HF convention, -100 ignored) returns the mean cross-entropy, computed across the ranks (same value on each), plus
    /// router_aux_loss_coef · the load-balancing loss for a MoE model with output_router_logits (as the one-process model).
    /// </summary>
    public float Forward(ReadOnlySpan<int> ids, ReadOnlySpan<int> targets, int batch, int seqLen)
    {
        if (ids.Length != batch * seqLen) throw new ArgumentException($"{ids.Length} ids for batch {batch} × seqLen {seqLen}.", nameof(ids));
        if (targets.Length != 0 && targets.Length != ids.Length) throw new ArgumentException($"{targets.Length} targets for {ids.Length} ids.", nameof(targets));
        var s = Reserve(batch, seqLen, seqLen);
        s.Batch = batch; s.SeqLen = seqLen;
        for (int b = 0; b < batch; b++) { s.Slot[b] = b; s.Past[b] = 0; }
        CopyIds(s, ids);
        s.PoolAux = targets.Length != 0 && _config.IsMoe;
        if (s.PoolAux) s.Aux.Clear();
        Run(s, lastOnly: false, capacity: seqLen);
        s.PoolAux = false;
        _logitRows = batch * seqLen;
        if (targets.Length == 0) return float.NaN;
        float crossEntropy = VocabParallelLoss.Mean(Comm, s.Logits, targets, Split.VocabStart, Split.VocabCount, batch * seqLen);
        if (!_config.IsMoe || !_config.OutputRouterLogits) return crossEntropy;
        // + router_aux_loss_coef · the load-balancing loss, as the one-process model and HF: the router is replicated, so every
        // rank pooled the same routing of every sparse layer and computes the same aux loss without communicating.
        float aux = Layer<RankShape<S, W>>.MoeAuxLoss(s.Aux.Selections, s.Aux.ProbSums, s.Aux.PooledRows, s.Aux.Fraction);
        return crossEntropy + (float)_config.RouterAuxLossCoef * aux;
    }

    private int _logitRows;

    /// <summary>This rank's part of the logits of the last <see cref="Forward"/>: rows × VocabCount.</summary>
    public ReadOnlySpan<float> LocalLogits => _state is { } s ? new ReadOnlySpan<float>(s.Logits, _logitRows * Split.VocabCount) : default;

    public ITensorParallelSession CreateSession(int capacity, int chunk = 128) => new Session(this, capacity, chunk);

    private void CopyIds(State s, ReadOnlySpan<int> ids)
    {
        for (int i = 0; i < ids.Length; i++)
        {
            if ((uint)ids[i] >= (uint)_config.Vocab) throw new ArgumentOutOfRangeException(nameof(ids), ids[i], $"Token ids must be in [0, {_config.Vocab}).");
            s.Tokens[i] = ids[i];
        }
    }

    private void AllReduce(float* data, long count)
    {
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        Comm.AllReduceSum(data, count);
        _commTicks += System.Diagnostics.Stopwatch.GetTimestamp() - t0;
    }

    /// <summary>The forward pass over s.Batch × s.SeqLen rows at positions s.Past[b] + t; logits of every row, or of each sequence's last (lastOnly).</summary>
    private void Run(State s, bool lastOnly, int capacity)
    {
        int batch = s.Batch, seqLen = s.SeqLen, rows = batch * seqLen, vc = Split.VocabCount;
        var m = _weights;
        float* v = m.Vectors;
        EmbedLocal(s.Layer[0].Input, s.Tokens, rows);                                               // the rank's vocabulary rows, zeros elsewhere
        AllReduce(s.Layer[0].Input, (long)rows * S.Hidden);                                         // h = Σ_r (exact: one non-zero term per row)
        for (int l = 0; l < _layers.Length; l++)
            LayerForward(ref s.Layer[l], _layers[l], batch, seqLen, s.Slot, s.Past, capacity, s.RopeCos, s.RopeSin, ref s.Moe, s.PoolAux ? s.Aux : null);
        Layer<RankShape<S, W>>.RmsNormForward(s.FinalNorm, s.RstdF, s.Layer[^1].Output, v + _finalNorm, rows, S.Hidden);
        if (!lastOnly)
            MatMul.Forward(s.Logits, s.FinalNorm, m.Matrix(_lmHead), rows, S.Hidden, vc);             // the rank's vocabulary columns of h · W_lmᵀ
        else
            for (int b = 0; b < batch; b++)
                MatMul.Forward(s.Logits + (long)b * vc, s.FinalNorm + ((long)b * seqLen + seqLen - 1) * S.Hidden, m.Matrix(_lmHead), 1, S.Hidden, vc);
    }

    /// <summary>
    /// One decoder layer over rows (b, t) at positions past[b] + t, the generated model's order on the rank's slice, for
    /// inference (the layers share one set of buffers, Output = Input: the residual stream updated in place, each layer
    /// its own KV cache of the rank's heads) and training (every layer its own buffers, the cache = this call's keys).
    /// <paramref name="aux"/>: pool a sparse layer's routing for the load-balancing loss (null: not wanted).
    /// </summary>
    private void LayerForward(ref LayerBuffers a, LayerWeights w, int batch, int seqLen, int* slot, int* past, int capacity, float* cos, float* sin,
                              ref MoeBuffers moe, AuxStatistics? aux)
    {
        int rows = batch * seqLen;
        var m = _weights;
        float* v = m.Vectors;
        // ---- attention block, the rank's heads: Mid = Input + Σ_r o_r ----
        Layer<RankShape<S, W>>.RmsNormForward(a.Ln1, a.Rstd1, a.Input, v + w.InputNorm, rows, S.Hidden);
        MatMul.Forward<RankProducts<S, W>.QProj>(a.QRaw, a.Ln1, m.Matrix(w.Q), rows);
        MatMul.Forward<RankProducts<S, W>.KvProj>(a.KRaw, a.Ln1, m.Matrix(w.K), rows);
        MatMul.Forward<RankProducts<S, W>.KvProj>(a.VRaw, a.Ln1, m.Matrix(w.V), rows);
        Layer<RankShape<S, W>>.RmsNormForward(a.Q, a.QRstd, a.QRaw, v + w.QNorm, rows * RankShape<S, W>.Heads, S.HeadDim);
        Layer<RankShape<S, W>>.RopeForward(a.Q, rows, seqLen, RankShape<S, W>.Heads, past, cos, sin);
        Layer<RankShape<S, W>>.KvCacheWrite(a.K, a.V, default, default, a.KRstd, a.KRaw, a.VRaw, v + w.KNorm, cos, sin, rows, seqLen, slot, past, capacity);
        Layer<RankShape<S, W>>.AttentionForward(a.Attn, a.Lse, a.Q, a.K, a.V, default, default, a.Partials, batch, seqLen, slot, past, capacity);
        MatMul.Forward<RankProducts<S, W>.OProj>(a.Mid, a.Attn, m.Matrix(w.O), rows);           // o_r: this rank's heads' share of o
        AllReduce(a.Mid, (long)rows * S.Hidden);                                                      // o = Σ_r o_r
        Layer<RankShape<S, W>>.AddRmsNormForward(a.Ln2, a.Rstd2, a.Mid, a.Input, v + w.PostNorm, rows, S.Hidden);   // Mid = Input + o, then its norm
        // ---- MLP block, the rank's FFN columns or experts: Output = Mid + Σ_r m_r ----
        if (w.Sparse)
        {
            Layer<RankShape<S, W>>.MoeForward(ref moe, a.Output, a.Ln2, m, w.Router, w.Experts, rows, Split.ExpertStart, Split.ExpertCount);
            if (aux is not null)                                                                       // the layer's routing, before the next reuses the buffers
            {
                Layer<RankShape<S, W>>.MoeAuxStatistics(ref moe, rows, aux.Selections, aux.ProbSums);
                aux.PooledRows += rows;
            }
        }
        else
        {
            MatMul.Forward<RankProducts<S, W>.GateUpProj>(a.Gate, a.Ln2, m.Matrix(w.Gate), rows);
            MatMul.Forward<RankProducts<S, W>.GateUpProj>(a.Up, a.Ln2, m.Matrix(w.Up), rows);
            Layer<RankShape<S, W>>.SwiGluForward(a.Act, a.Gate, a.Up, (long)rows * RankShape<S, W>.Ffn);
            MatMul.Forward<RankProducts<S, W>.DownProj>(a.Output, a.Act, m.Matrix(w.Down), rows);   // m_r (inference: Output is Input, no longer needed)
        }
        AllReduce(a.Output, (long)rows * S.Hidden);                                                   // m = Σ_r m_r
        Layer<RankShape<S, W>>.ResidualAdd(a.Output, a.Mid, rows, S.Hidden);                          // Output = Mid + m
    }

    /// <summary>h[r] = E[id[r]] for the ids in this rank's vocabulary rows, 0 for the others.</summary>
    private void EmbedLocal(float* h, int* ids, int rows)
    {
        var table = _weights.Matrix(_embed);
        for (int r = 0; r < rows; r++)
        {
            int local = ids[r] - Split.VocabStart;
            float* row = h + (long)r * S.Hidden;
            if ((uint)local < (uint)Split.VocabCount) MatrixRows.Gather(row, table, &local, 1, S.Hidden);
            else RowOps.Clear(row, S.Hidden);
        }
    }

    public void Dispose()
    {
        _state?.Dispose();
        DisposeTraining();
        _weights.Dispose();
    }

    /// <summary>
    /// One decoder layer's buffers on this rank (the rank's heads and FFN columns; Input, Mid, Output are whole hidden
    /// vectors). Training keeps every layer's; inference lets the layers share one set, except each layer's KV cache.
    /// </summary>
    private struct LayerBuffers
    {
        public float* Input;                 // [R, Hidden]   the residual stream entering the layer (replicated)
        public float* Ln1, Rstd1;            // [R, Hidden], [R]
        public float* QRaw, KRaw, VRaw;      // [R, QDim / N], [R, KvDim / N]: the rank's heads before QK-norm
        public float* QRstd, KRstd, Q;       // [R, Heads / N], [R, KvHeads / N], [R, QDim / N]
        public float* K, V;                  // [batch, capacity, KvDim / N]  keys after QK-norm and RoPE, values (training: capacity = seqLen)
        public float* Partials;              // flash-decoding scratch (inference; null: never split)
        public float* Attn, Lse;             // [R, QDim / N], [R, Heads / N]
        public float* Mid, Ln2, Rstd2;       // [R, Hidden] Input + o, its norm, [R]
        public float* Gate, Up, Act;         // [R, Ffn / N]
        public float* Output;                // [R, Hidden]   Mid + m: the next layer's Input (inference: Input itself)
    }

    /// <summary>The load-balancing loss's statistics, pooled over the sparse layers of a forward pass.</summary>
    private sealed class AuxStatistics
    {
        public readonly double[] Selections = new double[S.Experts], ProbSums = new double[S.Experts];
        public readonly float[] Fraction = new float[S.Experts];
        public int PooledRows;

        public void Clear()
        {
            Array.Clear(Selections);
            Array.Clear(ProbSums);
            PooledRows = 0;
        }
    }

    /// <summary>Work buffers for up to MaxBatch × MaxSeqLen rows; the layers share one set (inference), each has its own cache.</summary>
    private sealed class State : IDisposable
    {
        public readonly int MaxBatch, MaxSeqLen, Capacity;
        public readonly int* Tokens, Slot, Past;
        public readonly float* FinalNorm, RstdF, Logits, RopeCos, RopeSin;
        public readonly LayerBuffers[] Layer;
        public MoeBuffers Moe;
        public readonly AuxStatistics Aux = new();
        public bool PoolAux;
        public int Batch, SeqLen;
        private readonly Arena _arena = new();

        public State(TensorParallelModel<S, W> model, int maxBatch, int maxSeqLen, int capacity)
        {
            checked
            {
                MaxBatch = maxBatch; MaxSeqLen = maxSeqLen; Capacity = capacity;
                var a = _arena;
                long r = (long)maxBatch * maxSeqLen;
                int q = RankShape<S, W>.QDim, kv = RankShape<S, W>.KvDim, heads = RankShape<S, W>.Heads, ffn = RankShape<S, W>.Ffn;
                Tokens = a.Ints(r); Slot = a.Ints(maxBatch); Past = a.Ints(maxBatch);
                float* hidden = a.Floats(r * S.Hidden);
                var shared = new LayerBuffers
                {
                    Input = hidden, Output = hidden,                                                    // the residual stream, updated in place
                    Ln1 = a.Floats(r * S.Hidden), Rstd1 = a.Floats(r), Mid = a.Floats(r * S.Hidden),
                    QRaw = a.Floats(r * q), KRaw = a.Floats(r * kv), VRaw = a.Floats(r * kv),
                    QRstd = a.Floats(r * heads), KRstd = a.Floats(r * RankShape<S, W>.KvHeads), Q = a.Floats(r * q),
                    Attn = a.Floats(r * q), Lse = a.Floats(r * heads),
                    Gate = a.Floats(r * ffn), Up = a.Floats(r * ffn), Act = a.Floats(r * ffn),
                    Partials = a.Floats(Layer<RankShape<S, W>>.PartialsFloats(maxBatch, capacity)),
                };
                shared.Ln2 = shared.Ln1; shared.Rstd2 = shared.Rstd1;                                   // inference needs one norm output at a time
                FinalNorm = shared.Ln1; RstdF = shared.Rstd1;
                Logits = a.Floats(r * model.Split.VocabCount);
                RopeCos = a.Floats((long)capacity * (S.HeadDim / 2)); RopeSin = a.Floats((long)capacity * (S.HeadDim / 2));
                Rope.BuildTables(RopeCos, RopeSin, capacity, S.HeadDim, model._config.RopeTheta, model._config.RopeScaling);
                Layer = new LayerBuffers[model._layers.Length];
                for (int l = 0; l < Layer.Length; l++)
                {
                    Layer[l] = shared;
                    Layer[l].K = a.Floats((long)maxBatch * capacity * kv);                             // each layer its own keys and values
                    Layer[l].V = a.Floats((long)maxBatch * capacity * kv);
                }
                if (S.Experts > 0)
                {
                    long p = r * S.ExpertsPerToken;
                    Moe = new MoeBuffers
                    {
                        RouterLogits = a.Floats(r * S.Experts), Probs = a.Floats(r * S.Experts),
                        Selected = a.Ints(p), RouteWeight = a.Floats(p), Counts = a.Ints(S.Experts), Starts = a.Ints(S.Experts + 1),
                        PackedRow = a.Ints(p), PackedPos = a.Ints(p), Xe = a.Floats(p * S.Hidden),
                        Ge = a.Floats(p * S.ExpertFfn), Ue = a.Floats(p * S.ExpertFfn), Ae = a.Floats(p * S.ExpertFfn), Ye = a.Floats(p * S.Hidden),
                    };
                }
            }
        }

        public long Bytes => _arena.Bytes;

        public void Dispose() => _arena.Dispose();
    }

    /// <summary>KV-cached decoding of one sequence on this rank (every rank of the group drives its own in step).</summary>
    private sealed class Session : ITensorParallelSession
    {
        private readonly TensorParallelModel<S, W> _model;
        private readonly State _state;
        private readonly int _chunk;

        public Session(TensorParallelModel<S, W> model, int capacity, int chunk)
        {
            if (capacity < 1 || capacity > model._config.PositionLimit)
                throw new ArgumentOutOfRangeException(nameof(capacity), capacity, $"Capacity must be in [1, {model._config.PositionLimit}].");
            ArgumentOutOfRangeException.ThrowIfLessThan(chunk, 1);
            _model = model;
            _chunk = Math.Min(chunk, capacity);
            _state = new State(model, 1, _chunk, capacity);
            Capacity = capacity;
        }

        public int Capacity { get; }
        public int Position { get; private set; }
        public int VocabStart => _model.Split.VocabStart;
        public int VocabCount => _model.Split.VocabCount;
        public ICommunicator Comm => _model.Comm;

        public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> tokens)
        {
            if (tokens.IsEmpty) throw new ArgumentException("Prefill needs at least one token.", nameof(tokens));
            if (Position + tokens.Length > Capacity)
                throw new InvalidOperationException($"The session holds {Capacity} positions: {Position} used, {tokens.Length} more do not fit.");
            for (int i = 0; i < tokens.Length; i += _chunk)
            {
                var part = tokens.Slice(i, Math.Min(_chunk, tokens.Length - i));
                Step(part);
            }
            return new ReadOnlySpan<float>(_state.Logits, VocabCount);
        }

        public ReadOnlySpan<float> Decode(int token)
        {
            if (Position + 1 > Capacity) throw new InvalidOperationException($"The session holds {Capacity} positions: all are used.");
            Step(new ReadOnlySpan<int>(in token));
            return new ReadOnlySpan<float>(_state.Logits, VocabCount);
        }

        private void Step(ReadOnlySpan<int> tokens)
        {
            var s = _state;
            s.Batch = 1; s.SeqLen = tokens.Length;
            s.Slot[0] = 0; s.Past[0] = Position;
            _model.CopyIds(s, tokens);
            _model.Run(s, lastOnly: true, capacity: Capacity);
            Position += tokens.Length;
        }

        public void Rewind(int position)
        {
            if (position < 0 || position > Position) throw new ArgumentOutOfRangeException(nameof(position), position, $"Rewind to [0, {Position}].");
            Position = position;
        }

        public void Dispose() => _state.Dispose();
    }
}
