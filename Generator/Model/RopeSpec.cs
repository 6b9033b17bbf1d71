namespace Qwen3Gen.Generator.Model;

/// <summary>
/// The validated RoPE scaling with every default resolved (spec §2.3.1), as the emitter writes it into the
/// definition (runtime type Qwen3Gen.RopeScaling). Type "default" ignores the other fields.
/// </summary>
internal sealed record RopeSpec(
    string Type,                  // "default", "linear" or "yarn"
    double Factor,                // factor s
    int OriginalMaxPositions,     // original_max_position_embeddings, else max_position_embeddings
    double BetaFast,              // beta_fast (default 32)
    double BetaSlow,              // beta_slow (default 1)
    double AttentionFactor,       // attention_factor, else derived from mscale / mscale_all_dim / factor
    bool Truncate)                // truncate (default true)
{
    public static readonly RopeSpec Default = new("default", 1, 0, 32, 1, 1, true);
}
