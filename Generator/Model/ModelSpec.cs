namespace Qwen3Gen.Generator.Model;

/// <summary>
/// Everything the emitter needs to write one model, validated by the parser.
/// Only ints, doubles, bools, strings and <see cref="EquatableArray{T}"/>: value equality keeps the
/// incremental pipeline cached (no ISymbol, SyntaxNode or Location in here).
/// </summary>
internal sealed record ModelSpec(
    string Namespace,             // "" for the global namespace
    string ClassName,
    string Accessibility,         // "public" / "internal"
    ModelShape Shape);

/// <summary>The hyper-parameters of a Qwen3 / Qwen3-MoE model (Hugging Face config.json names in comments).</summary>
internal sealed record ModelShape(
    int Vocab,                    // vocab_size
    int Hidden,                   // hidden_size
    int Layers,                   // num_hidden_layers
    int Heads,                    // num_attention_heads
    int KvHeads,                  // num_key_value_heads
    int HeadDim,                  // head_dim
    int Ffn,                      // intermediate_size
    double RopeTheta,             // rope_theta
    double RmsNormEps,            // rms_norm_eps
    bool TieEmbeddings,           // tie_word_embeddings
    int MaxPositions,             // max_position_embeddings
    int Experts,                  // num_experts (0 = dense)
    int ExpertsPerToken,          // num_experts_per_tok
    int ExpertFfn,                // moe_intermediate_size
    bool NormTopKProb,            // norm_topk_prob
    int DecoderSparseStep,        // decoder_sparse_step
    EquatableArray<int> MlpOnlyLayers, // mlp_only_layers
    double RouterAuxLossCoef,     // router_aux_loss_coef
    bool OutputRouterLogits,      // output_router_logits: add the aux loss to the training loss
    RopeSpec? Rope = null)        // rope_scaling (null: the default RoPE)
{
    public RopeSpec RopeScaling => Rope ?? RopeSpec.Default;

    public bool IsMoe => Experts > 0;

    /// <summary>
    /// The value of a row of the field table (<see cref="Rules.HyperParameters.All"/>): the property of the row's name
    /// (FieldTableTests checks every row other than RoPE scaling has one), an int array for mlp_only_layers.
    /// </summary>
    public object Get(Rules.Field field)
    {
        var value = typeof(ModelShape).GetProperty(field.Name)?.GetValue(this)
            ?? throw new System.ArgumentException("ModelShape has no property " + field.Name, nameof(field));
        return value is EquatableArray<int> array ? array.AsSpan().ToArray() : value;
    }

    /// <summary>HF rule (Qwen3MoeDecoderLayer): sparse iff not in mlp_only_layers, E > 0 and (i+1) % step == 0.</summary>
    public bool IsSparse(int layer) =>
        Experts > 0 && !MlpOnlyLayers.Contains(layer) && (layer + 1) % DecoderSparseStep == 0;
}
