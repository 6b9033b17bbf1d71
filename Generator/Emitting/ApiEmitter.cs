using Qwen3Gen.Generator.Model;

namespace Qwen3Gen.Generator.Emitting;

/// <summary>Construction, the static Definition (for ModelCatalog.Register) and the <c>IQwen3Model</c> surface: validation of inputs lives here.</summary>
internal static class ApiEmitter
{
    public static void Write(SourceWriter w, ModelSpec spec)
    {
        var c = spec.ClassName;
        w.Block($$"""
            private readonly global::Qwen3Gen.Models.Weights _weights;
            private global::Qwen3Gen.Kernels.NativeBuffer<float>? _gradients;
            private State? _state;
            private global::Qwen3Gen.Kernels.RopeScaling _ropeScaling = HyperParameters.RopeScaling;

            /// <summary>
            /// The RoPE scaling of work buffers and sessions made from now on (default: the definition's; a model directory
            /// sets its config.json's). Setting it drops the current work buffers; existing sessions keep their tables.
            /// </summary>
            public global::Qwen3Gen.Kernels.RopeScaling RopeScaling
            {
                get => _ropeScaling;
                set
                {
                    global::System.ArgumentNullException.ThrowIfNull(value);
                    if (value.Problem() is string problem) throw new global::System.ArgumentException($"RoPE scaling {value}: {problem}.", nameof(value));
                    _ropeScaling = value;
                    _state?.Dispose();
                    _state = null;
                }
            }

            /// <summary>The longest sequence or session: max_position_embeddings, or factor × original with RoPE scaling.</summary>
            public int PositionLimit => _ropeScaling.PositionLimit(MaxPositions);

            /// <summary>A model over existing weights (F32 for training; F32, BF16 or Quantized for inference).</summary>
            public {{c}}(global::Qwen3Gen.Models.Weights weights)
            {
                if (weights.Count != Layout.Count || weights.VectorStart != Layout.VectorStart)
                    throw new global::System.ArgumentException($"Weights of {weights.Count} parameters (vectors from {weights.VectorStart}) do not fit {{c}}: {Layout.Count} parameters, vectors from {Layout.VectorStart}.", nameof(weights));
                _weights = weights;
            }

            /// <summary>A model with all-zero weights in <paramref name="format"/> (load a checkpoint or initialise them next).</summary>
            public static {{c}} Create(global::Qwen3Gen.Models.WeightFormat format = global::Qwen3Gen.Models.WeightFormat.F32) => new(global::Qwen3Gen.Models.Weights.Create(format, Layout.Count, Layout.VectorStart));

            private static global::Qwen3Gen.Models.ModelDefinition? _definition;

            /// <summary>
            /// This class as a compiled definition (name, hyper-parameters, factories, layout). Register it with
            /// <c>ModelCatalog.Register({{c}}.Definition)</c> so that <c>ModelDirectory.Load</c> picks it for a matching config.json.
            /// </summary>
            public static global::Qwen3Gen.Models.ModelDefinition Definition => _definition ??= new global::Qwen3Gen.Models.ModelDefinition(nameof({{c}}),
                HyperParameters, static format => Create(format), static weights => new {{c}}(weights), TensorTable, Layout.Count, Layout.VectorStart,
                new global::Qwen3Gen.Layers.ModelShapeType<Shape>());

            public string Name => nameof({{c}});
            public global::Qwen3Gen.Models.ModelConfig Config => HyperParameters;
            public global::System.Collections.Generic.IReadOnlyList<global::Qwen3Gen.Models.TensorSpec> Tensors => TensorTable;
            public global::Qwen3Gen.Models.Weights Weights => _weights;
            public global::Qwen3Gen.Kernels.NativeBuffer<float> Gradients => _gradients ??= new global::Qwen3Gen.Kernels.NativeBuffer<float>(Layout.Count);
            public void ZeroGradients() => Gradients.Clear();
            public global::Qwen3Gen.Models.IBackwardHook? BackwardHook { get; set; }

            /// <summary>
            /// Low-rank adapters on a frozen base (LoRA), or null: with them set, Forward adds each adapter's term after its
            /// matrix's product and Backward computes no gradient of these weights (Gradients is not touched; BF16 weights allowed).
            /// </summary>
            public global::Qwen3Gen.Models.IMatrixAdapters? Adapters { get; set; }

            /// <summary>The logits of the last Forward: [batch, seqLen, Vocab].</summary>
            public global::System.ReadOnlySpan<float> Logits => _state is { } s
                ? new global::System.ReadOnlySpan<float>(s.Logits, (long)s.Rows * Vocab <= int.MaxValue ? s.Rows * Vocab
                    : throw new global::System.InvalidOperationException($"{s.Rows} rows × {Vocab} logits exceed the {int.MaxValue} elements of a span; read them per row."))
                : default;

            /// <summary>Bytes of the work buffers reserved now (0 before the first Reserve or Forward).</summary>
            public long WorkBufferBytes => _state?.Bytes ?? 0;

            /// <summary>Bytes the work buffers of Reserve(<paramref name="batch"/>, <paramref name="seqLen"/>, <paramref name="training"/>) would take (null: more than a long counts); nothing is allocated.</summary>
            public long? PlanWorkBufferBytes(int batch, int seqLen, bool training) => State.PlannedBytes(batch, seqLen, training, _ropeScaling, recompute: _checkpointing);

            private bool _checkpointing;

            /// <summary>
            /// Gradient checkpointing for training: keep only each layer's output, recompute a layer's activations just before its
            /// backward (one more forward per step, activations of one layer instead of all). Gradients are bit-identical.
            /// </summary>
            public bool GradientCheckpointing
            {
                get => _checkpointing;
                set
                {
                    if (value && HyperParameters.IsMoe) throw new global::System.NotSupportedException("Gradient checkpointing is implemented for dense models only (a MoE layer's forward also pools the aux-loss statistics).");
                    if (value == _checkpointing) return;
                    _checkpointing = value;
                    _state?.Dispose();                                  // the next Reserve or Forward allocates for the new mode
                    _state = null;
                }
            }

            /// <summary>Allocates work buffers for up to batch × seqLen tokens (once; a larger call later reallocates).</summary>
            public void Reserve(int batch, int seqLen, bool training)
            {
                if (batch <= 0) throw new global::System.ArgumentOutOfRangeException(nameof(batch), batch, "batch must be positive.");
                if (seqLen <= 0 || seqLen > PositionLimit)
                    throw new global::System.ArgumentOutOfRangeException(nameof(seqLen), seqLen, $"seqLen must be in 1..{PositionLimit} (max_position_embeddings, RoPE scaling {_ropeScaling}).");
                if (_state is { } s && s.MaxBatch >= batch && s.MaxSeqLen >= seqLen && (s.Training || !training)) return;
                // Sized from run-time values: rows and bytes checked before anything is allocated (or the old buffers freed).
                global::Qwen3Gen.Kernels.WorkBufferLimits.Check(State.PlannedBytes(batch, seqLen, training, _ropeScaling, recompute: _checkpointing), (long)batch * seqLen,
                                       nameof(batch), batch, $"Reserve(batch {batch}, seqLen {seqLen}, {(training ? "training" : "inference")})");
                _state?.Dispose();
                _state = null;
                _state = new State(batch, seqLen, training, _ropeScaling, recompute: _checkpointing);
            }

            public float Forward(global::System.ReadOnlySpan<int> inputs, global::System.ReadOnlySpan<int> targets, int batch, int seqLen)
            {
                if (batch <= 0) throw new global::System.ArgumentOutOfRangeException(nameof(batch), batch, "batch must be positive.");
                if (seqLen <= 0) throw new global::System.ArgumentException("The input is empty: seqLen must be at least 1.", nameof(seqLen));
                if (seqLen > PositionLimit)
                    throw new global::System.ArgumentOutOfRangeException(nameof(seqLen), seqLen, $"The context of {seqLen} tokens exceeds the model's {PositionLimit} positions (max_position_embeddings, RoPE scaling {_ropeScaling}).");
                if (inputs.Length != (long)batch * seqLen)
                    throw new global::System.ArgumentException($"{inputs.Length} input ids do not match batch {batch} × seqLen {seqLen}.", nameof(inputs));
                if (targets.Length != 0 && targets.Length != inputs.Length)
                    throw new global::System.ArgumentException($"{targets.Length} targets do not match {inputs.Length} inputs.", nameof(targets));
                for (int i = 0; i < inputs.Length; i++)
                    if ((uint)inputs[i] >= Vocab)
                        throw new global::System.ArgumentOutOfRangeException(nameof(inputs), inputs[i], $"Token id {inputs[i]} at position {i} is outside the vocabulary [0, {Vocab}).");
                for (int i = 0; i < targets.Length; i++)
                    if ((uint)targets[i] >= Vocab && targets[i] != global::Qwen3Gen.Models.CausalLm.IgnoreIndex)
                        throw new global::System.ArgumentOutOfRangeException(nameof(targets), targets[i], $"Target id {targets[i]} at position {i} is outside the vocabulary [0, {Vocab}) and is not {(global::Qwen3Gen.Models.CausalLm.IgnoreIndex)}.");
                if (_state is null || (long)_state.MaxBatch * _state.MaxSeqLen < (long)batch * seqLen || _state.Capacity < seqLen)
                    Reserve(global::System.Math.Max(batch, _state?.MaxBatch ?? 0), global::System.Math.Max(seqLen, _state?.MaxSeqLen ?? 0),
                            training: _state?.Training ?? (_weights.Format == global::Qwen3Gen.Models.WeightFormat.F32 || Adapters is not null));   // grows once; later calls reuse it
                var state = _state!;
                inputs.CopyTo(new global::System.Span<int>(state.Tokens, inputs.Length));
                state.HasTargets = targets.Length != 0;
                if (state.HasTargets) targets.CopyTo(new global::System.Span<int>(state.Targets, targets.Length));
                state.Batch = batch;
                state.SeqLen = seqLen;
                return ForwardPass(state);
            }

            public void Backward()
            {
                var state = _state ?? throw new global::System.InvalidOperationException("Backward needs a Forward first.");
                if (!state.Training) throw new global::System.InvalidOperationException("These work buffers were reserved for inference; Reserve(..., training: true) before Forward.");
                if (!state.HasTargets) throw new global::System.InvalidOperationException("Backward needs a Forward with targets (the loss).");
                if (state.BackwardDone) throw new global::System.InvalidOperationException("Backward was already run for this Forward (the logits were overwritten by their gradient).");
                if (_weights.Format != global::Qwen3Gen.Models.WeightFormat.F32 && !(Adapters is not null && _weights.Format == global::Qwen3Gen.Models.WeightFormat.BF16))
                    throw new global::System.InvalidOperationException("Training needs F32 weights (a frozen base under Adapters may be BF16).");
                BackwardPass(state);
                state.BackwardDone = true;
            }

            /// <summary>
            /// An intermediate of the last Forward (for tests and debugging), named as in the golden fixtures:
            /// "embed", "layer_out.{i}", "final_norm" [batch, seqLen, Hidden]; "rope_cos", "rope_sin" [seqLen, HeadDim].
            /// </summary>
            public float[] DebugTensor(string name)
            {
                var s = _state ?? throw new global::System.InvalidOperationException("Run Forward first.");
                if (!s.Training) throw new global::System.InvalidOperationException("Intermediates are kept only by training work buffers.");
                int rows = s.Rows;
                if (name == "embed") return new global::System.ReadOnlySpan<float>(s.Layer[0].Input, rows * Hidden).ToArray();
                if (name == "final_norm") return new global::System.ReadOnlySpan<float>(s.FinalNorm, rows * Hidden).ToArray();
                if (name.StartsWith("layer_out.") && int.TryParse(name.Substring(10), out int i) && i >= 0 && i < Layers)
                    return new global::System.ReadOnlySpan<float>(s.Layer[i].Output, rows * Hidden).ToArray();
                if (name is "rope_cos" or "rope_sin")
                {
                    float* table = name == "rope_cos" ? s.RopeCos : s.RopeSin;
                    var full = new float[s.SeqLen * HeadDim];          // cat(freqs, freqs): dims j and j + D/2 share frequency j
                    for (int t = 0; t < s.SeqLen; t++)
                        for (int j = 0; j < HeadDim / 2; j++)
                            full[t * HeadDim + j] = full[t * HeadDim + j + HeadDim / 2] = table[t * (HeadDim / 2) + j];
                    return full;
                }
            """);
        if (spec.Shape.IsMoe)
            w.Block("""
                        int dot = name.LastIndexOf('.');
                        if (dot > 0 && int.TryParse(name.Substring(dot + 1), out int layer) && layer >= 0 && layer < Layers && IsSparse(layer))
                        {
                            switch (name.Substring(0, dot))
                            {
                                case "router_logits": return RouterLogits(layer);
                                case "routing_weights": return RoutingWeights(layer);
                                case "selected_experts": return global::System.Array.ConvertAll(SelectedExperts(layer), static e => (float)e);
                            }
                        }
                """);
        w.Block("""
                throw new global::System.ArgumentException($"Unknown intermediate '{name}'.", nameof(name));
            }

            """);
        if (spec.Shape.IsMoe)
            w.Block("""
                /// <summary>The last Forward's load-balancing aux loss (before the coefficient; training buffers only).</summary>
                public float AuxLoss => _state?.AuxLoss ?? float.NaN;

                /// <summary>The last Forward's cross-entropy alone (the returned loss adds coef · AuxLoss when OutputRouterLogits).</summary>
                public float CrossEntropyLoss => _state?.CrossEntropy ?? float.NaN;

                public bool IsSparseLayer(int layer) => IsSparse(layer);

                /// <summary>Rows routed to each expert of a sparse layer in the last Forward.</summary>
                public int[] ExpertLoad(int layer) => new global::System.ReadOnlySpan<int>(Routing(layer, perRow: false).Counts, Experts).ToArray();

                /// <summary>Router logits of a sparse layer in the last Forward: [rows, Experts], before the softmax.</summary>
                public float[] RouterLogits(int layer) => new global::System.ReadOnlySpan<float>(Routing(layer).RouterLogits, _state!.Rows * Experts).ToArray();

                /// <summary>Weights of the selected experts: [rows, ExpertsPerToken] (renormalised when NormTopKProb).</summary>
                public float[] RoutingWeights(int layer) => new global::System.ReadOnlySpan<float>(Routing(layer).RouteWeight, _state!.Rows * ExpertsPerToken).ToArray();

                /// <summary>Selected experts: [rows, ExpertsPerToken] ids, in descending router probability.</summary>
                public int[] SelectedExperts(int layer) => new global::System.ReadOnlySpan<int>(Routing(layer).Selected, _state!.Rows * ExpertsPerToken).ToArray();

                /// <summary>The work buffers of sparse layer <paramref name="layer"/> after a Forward (per-row routing: on training buffers).</summary>
                private ref global::Qwen3Gen.Layers.MoeBuffers Routing(int layer, bool perRow = true)
                {
                    var s = _state ?? throw new global::System.InvalidOperationException("Run Forward first.");
                    if (perRow && !s.Training) throw new global::System.InvalidOperationException("The routing of every row is kept only by training work buffers: Forward with targets, or Reserve(..., training: true) first.");
                    if (layer < 0 || layer >= Layers) throw new global::System.ArgumentOutOfRangeException(nameof(layer), layer, $"The model has {Layers} layers.");
                    if (!IsSparse(layer)) throw new global::System.ArgumentException($"Layer {layer} is dense.", nameof(layer));
                    return ref s.Layer[layer].Moe;
                }

                """);
        w.Block("""
            public void Dispose()
            {
                _state?.Dispose();
                _state = null;
                _gradients?.Dispose();
                _gradients = null;
                _weights.Dispose();
            }

            """);
    }
}
