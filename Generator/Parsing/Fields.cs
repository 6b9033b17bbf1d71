namespace Qwen3Gen.Generator.Parsing;

/// <summary>
/// The definition fields: the [Qwen3Model] property name and the Hugging Face config.json key of each.
/// Messages name a field the way the user wrote it: the property for inline definitions, the key for config.json.
/// </summary>
internal static class Fields
{
    public const string Config = nameof(Config);
    public const string Vocab = nameof(Vocab);
    public const string Hidden = nameof(Hidden);
    public const string Layers = nameof(Layers);
    public const string Heads = nameof(Heads);
    public const string KvHeads = nameof(KvHeads);
    public const string HeadDim = nameof(HeadDim);
    public const string Ffn = nameof(Ffn);
    public const string RopeTheta = nameof(RopeTheta);
    public const string RmsNormEps = nameof(RmsNormEps);
    public const string TieEmbeddings = nameof(TieEmbeddings);
    public const string MaxPositions = nameof(MaxPositions);
    public const string Experts = nameof(Experts);
    public const string ExpertsPerToken = nameof(ExpertsPerToken);
    public const string ExpertFfn = nameof(ExpertFfn);
    public const string NormTopKProb = nameof(NormTopKProb);
    public const string DecoderSparseStep = nameof(DecoderSparseStep);
    public const string MlpOnlyLayers = nameof(MlpOnlyLayers);
    public const string RouterAuxLossCoef = nameof(RouterAuxLossCoef);
    public const string OutputRouterLogits = nameof(OutputRouterLogits);
    public const string RopeType = nameof(RopeType);
    public const string RopeFactor = nameof(RopeFactor);
    public const string RopeOriginalMaxPositions = nameof(RopeOriginalMaxPositions);
    public const string RopeBetaFast = nameof(RopeBetaFast);
    public const string RopeBetaSlow = nameof(RopeBetaSlow);
    public const string RopeAttentionFactor = nameof(RopeAttentionFactor);
    public const string RopeMscale = nameof(RopeMscale);
    public const string RopeMscaleAllDim = nameof(RopeMscaleAllDim);
    public const string RopeTruncate = nameof(RopeTruncate);

    /// <summary>The RoPE scaling fields other than RopeType (config.json: keys of rope_scaling / rope_parameters).</summary>
    public static readonly string[] RopeScaling =
        { RopeFactor, RopeOriginalMaxPositions, RopeBetaFast, RopeBetaSlow, RopeAttentionFactor, RopeMscale, RopeMscaleAllDim, RopeTruncate };

    /// <summary>The fields only YaRN reads.</summary>
    public static readonly string[] YarnOnly = { RopeBetaFast, RopeBetaSlow, RopeAttentionFactor, RopeMscale, RopeMscaleAllDim, RopeTruncate };

    /// <summary>The MoE-only fields: giving any of them inline without Experts is an error (QG0021).</summary>
    public static readonly string[] MoeOnly =
        { ExpertsPerToken, ExpertFfn, NormTopKProb, DecoderSparseStep, MlpOnlyLayers, RouterAuxLossCoef, OutputRouterLogits };

    /// <summary>The config.json key of a property (Hugging Face names, spec §1 and §8).</summary>
    public static string JsonKey(string property) => property switch
    {
        Vocab => "vocab_size",
        Hidden => "hidden_size",
        Layers => "num_hidden_layers",
        Heads => "num_attention_heads",
        KvHeads => "num_key_value_heads",
        HeadDim => "head_dim",
        Ffn => "intermediate_size",
        RopeTheta => "rope_theta",
        RmsNormEps => "rms_norm_eps",
        TieEmbeddings => "tie_word_embeddings",
        MaxPositions => "max_position_embeddings",
        Experts => "num_experts",
        ExpertsPerToken => "num_experts_per_tok",
        ExpertFfn => "moe_intermediate_size",
        NormTopKProb => "norm_topk_prob",
        DecoderSparseStep => "decoder_sparse_step",
        MlpOnlyLayers => "mlp_only_layers",
        RouterAuxLossCoef => "router_aux_loss_coef",
        OutputRouterLogits => "output_router_logits",
        RopeType => "rope_scaling.rope_type",
        RopeFactor => "rope_scaling.factor",
        RopeOriginalMaxPositions => "rope_scaling.original_max_position_embeddings",
        RopeBetaFast => "rope_scaling.beta_fast",
        RopeBetaSlow => "rope_scaling.beta_slow",
        RopeAttentionFactor => "rope_scaling.attention_factor",
        RopeMscale => "rope_scaling.mscale",
        RopeMscaleAllDim => "rope_scaling.mscale_all_dim",
        RopeTruncate => "rope_scaling.truncate",
        _ => property,
    };
}
