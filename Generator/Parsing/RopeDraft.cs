namespace Qwen3Gen.Generator.Parsing;

/// <summary>
/// RoPE scaling as written (inline Rope* fields, or config.json's rope_scaling / rope_parameters object), before
/// defaults and checks: null means "not given". <see cref="RopeValidator"/> turns it into a <see cref="Model.RopeSpec"/>.
/// </summary>
internal sealed record RopeDraft(
    string Type,                   // rope_type: "default", "linear", "yarn" (others are refused)
    double? Factor,                // factor
    int? OriginalMaxPositions,     // original_max_position_embeddings
    double? BetaFast,              // beta_fast
    double? BetaSlow,              // beta_slow
    double? AttentionFactor,       // attention_factor
    double? Mscale,                // mscale
    double? MscaleAllDim,          // mscale_all_dim
    bool? Truncate,                // truncate
    string Object = "rope_scaling") // the config.json object it came from (for messages)
{
    public static readonly RopeDraft Default = new("default", null, null, null, null, null, null, null, null);

    /// <summary>The scaling fields given (property names), for "given but unused" checks.</summary>
    public System.Collections.Generic.IEnumerable<string> GivenFields()
    {
        if (Factor is not null) yield return Fields.RopeFactor;
        if (OriginalMaxPositions is not null) yield return Fields.RopeOriginalMaxPositions;
        if (BetaFast is not null) yield return Fields.RopeBetaFast;
        if (BetaSlow is not null) yield return Fields.RopeBetaSlow;
        if (AttentionFactor is not null) yield return Fields.RopeAttentionFactor;
        if (Mscale is not null) yield return Fields.RopeMscale;
        if (MscaleAllDim is not null) yield return Fields.RopeMscaleAllDim;
        if (Truncate is not null) yield return Fields.RopeTruncate;
    }
}
