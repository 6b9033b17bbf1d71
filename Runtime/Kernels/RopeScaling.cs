using System.Globalization;

namespace Qwen3Gen.Kernels;

/// <summary>How the RoPE frequencies are scaled for positions beyond the trained context (config.json rope_scaling).</summary>
public enum RopeType
{
    /// <summary>No scaling (spec §2.3): inv_freq[j] = 1 / theta^(2j/D).</summary>
    Default,
    /// <summary>Position interpolation: every inv_freq divided by the factor (transformers' "linear").</summary>
    Linear,
    /// <summary>YaRN (spec §2.3.1): per-dimension ramp between extrapolation and interpolation, cos/sin scaled.</summary>
    Yarn,
}

/// <summary>
/// The RoPE scaling of a model, with every default already resolved: what config.json's <c>rope_scaling</c>
/// (or <c>rope_parameters</c>) says, read the way Hugging Face transformers reads it.
/// <see cref="AttentionFactor"/> is the factor that multiplies cos and sin: the given <c>attention_factor</c>, else
/// m(s, mscale) / m(s, mscale_all_dim) when both are given and non-zero, else m(s, 1), with
/// m(s, k) = 1 for s ≤ 1 and 0.1·k·ln(s) + 1 otherwise (YaRN only; 1 for the other types).
/// <see cref="Factor"/> is used as written (not max_position_embeddings / original_max_position_embeddings; spec §2.3.1).
/// </summary>
public sealed record RopeScaling
{
    /// <summary>The default RoPE: no scaling.</summary>
    public static readonly RopeScaling None = new();

    public RopeType Type { get; init; } = RopeType.Default;

    /// <summary>factor: the context extension s (≥ 1); 1 for the default type.</summary>
    public double Factor { get; init; } = 1;

    /// <summary>original_max_position_embeddings: the trained context L0 (else max_position_embeddings); 0 for the default type.</summary>
    public int OriginalMaxPositions { get; init; }

    /// <summary>beta_fast / beta_slow (YaRN): rotation counts that bound the ramp (defaults 32 and 1).</summary>
    public double BetaFast { get; init; } = 32;
    public double BetaSlow { get; init; } = 1;

    /// <summary>The factor on cos/sin (YaRN), resolved from attention_factor / mscale / mscale_all_dim.</summary>
    public double AttentionFactor { get; init; } = 1;

    /// <summary>truncate (YaRN, default true): round the ramp bounds to whole dimensions (floor / ceil).</summary>
    public bool Truncate { get; init; } = true;

    /// <summary>Linear interpolation by <paramref name="factor"/> of a model trained on <paramref name="originalMaxPositions"/>.</summary>
    public static RopeScaling Linear(double factor, int originalMaxPositions) =>
        new() { Type = RopeType.Linear, Factor = factor, OriginalMaxPositions = originalMaxPositions };

    /// <summary>
    /// YaRN. <paramref name="attentionFactor"/> null derives it from <paramref name="mscale"/> and
    /// <paramref name="mscaleAllDim"/> as transformers does.
    /// </summary>
    public static RopeScaling Yarn(double factor, int originalMaxPositions, double betaFast = 32, double betaSlow = 1,
                                   double? attentionFactor = null, double? mscale = null, double? mscaleAllDim = null, bool truncate = true) =>
        new()
        {
            Type = RopeType.Yarn, Factor = factor, OriginalMaxPositions = originalMaxPositions, BetaFast = betaFast, BetaSlow = betaSlow,
            AttentionFactor = attentionFactor ?? DefaultAttentionFactor(factor, mscale, mscaleAllDim), Truncate = truncate,
        };

    /// <summary>YaRN's attention factor when config.json gives none (transformers' get_mscale).</summary>
    public static double DefaultAttentionFactor(double factor, double? mscale, double? mscaleAllDim)
    {
        static double M(double s, double k) => s <= 1 ? 1.0 : 0.1 * k * Math.Log(s) + 1.0;
        return mscale is double a && a != 0 && mscaleAllDim is double b && b != 0 ? M(factor, a) / M(factor, b) : M(factor, 1);
    }

    /// <summary>
    /// The largest context this scaling is meant for: max_position_embeddings, or factor × original_max_position_embeddings
    /// when that is larger (Qwen3 with YaRN factor 4 over 32,768: 131,072).
    /// </summary>
    public int PositionLimit(int maxPositions)
    {
        if (Type == RopeType.Default) return maxPositions;
        double extended = Math.Floor(Factor * OriginalMaxPositions);
        return extended > maxPositions ? (int)Math.Min(extended, int.MaxValue) : maxPositions;
    }

    /// <summary>Why this scaling cannot be used with <paramref name="headDim"/>, or null when it can.</summary>
    public string? Problem()
    {
        if (Type == RopeType.Default) return null;
        if (!double.IsFinite(Factor) || Factor < 1) return $"factor ({F(Factor)}) must be a finite number at least 1";
        if (OriginalMaxPositions <= 0) return $"original_max_position_embeddings ({OriginalMaxPositions}) must be positive";
        if (Type != RopeType.Yarn) return null;
        if (!double.IsFinite(BetaFast) || BetaFast <= 0) return $"beta_fast ({F(BetaFast)}) must be a finite number greater than 0";
        if (!double.IsFinite(BetaSlow) || BetaSlow <= 0) return $"beta_slow ({F(BetaSlow)}) must be a finite number greater than 0";
        if (!double.IsFinite(AttentionFactor) || AttentionFactor <= 0) return $"attention_factor ({F(AttentionFactor)}) must be a finite number greater than 0";
        return null;
    }

    /// <summary>
    /// inv_freq[j], j = 0 .. headDim/2 − 1, in float32 as transformers computes it (spec §2.3, §2.3.1):
    /// default 1 / theta^(2j/D); linear that divided by the factor; YaRN
    /// inv_freq = inv_interp · (1 − extra) + inv_extrap · extra with inv_extrap = 1 / theta^(2j/D), inv_interp = inv_extrap / s,
    /// extra = 1 − ramp and ramp[j] = clamp((j − low) / (high − low), 0, 1) between the dimensions where the trained
    /// context L0 makes beta_fast and beta_slow rotations: corr_dim(r) = D · ln(L0 / (2π r)) / (2 ln theta).
    /// </summary>
    public float[] InverseFrequencies(int headDim, double theta)
    {
        int half = headDim / 2;
        var inv = new float[half];
        var posFreq = new float[half];
        for (int j = 0; j < half; j++)
        {
            float exponent = (float)(2 * j) / headDim;                  // arange(0, D, 2).float() / D
            posFreq[j] = MathF.Pow((float)theta, exponent);             // base ** exponent, float32
            inv[j] = 1f / posFreq[j];
        }
        switch (Type)
        {
            case RopeType.Linear:
                for (int j = 0; j < half; j++) inv[j] /= (float)Factor;
                break;
            case RopeType.Yarn:
                var (low, high) = CorrectionRange(headDim, theta);
                if (low == high) high += 0.001;                          // transformers: prevent a zero-width ramp
                for (int j = 0; j < half; j++)
                {
                    float ramp = Math.Clamp(((float)j - (float)low) / (float)(high - low), 0f, 1f);   // float32, as torch
                    float extrapolation = 1f - ramp;                      // 1: keep the trained frequency; 0: interpolate
                    float interpolated = 1f / ((float)Factor * posFreq[j]);
                    inv[j] = interpolated * (1f - extrapolation) + inv[j] * extrapolation;
                }
                break;
        }
        return inv;
    }

    /// <summary>
    /// YaRN's ramp bounds: the (fractional) dimensions where the trained context makes beta_fast and beta_slow rotations,
    /// rounded outwards when <see cref="Truncate"/>, clamped to [0, D − 1]. In double, as transformers' math.log.
    /// </summary>
    public (double Low, double High) CorrectionRange(int headDim, double theta)
    {
        double Dim(double rotations) => headDim * Math.Log(OriginalMaxPositions / (rotations * 2 * Math.PI)) / (2 * Math.Log(theta));
        double low = Dim(BetaFast), high = Dim(BetaSlow);
        if (Truncate) { low = Math.Floor(low); high = Math.Ceiling(high); }
        return (Math.Max(low, 0), Math.Min(high, headDim - 1));
    }

    /// <summary>config.json's rope_scaling object for this scaling (null for the default RoPE).</summary>
    public System.Text.Json.Nodes.JsonObject? ToJsonObject()
    {
        if (Type == RopeType.Default) return null;
        var o = new System.Text.Json.Nodes.JsonObject
        {
            ["rope_type"] = Type == RopeType.Yarn ? "yarn" : "linear",
            ["factor"] = Factor,
            ["original_max_position_embeddings"] = OriginalMaxPositions,
        };
        if (Type == RopeType.Yarn)
        {
            o["beta_fast"] = BetaFast;
            o["beta_slow"] = BetaSlow;
            o["attention_factor"] = AttentionFactor;
            o["truncate"] = Truncate;
        }
        return o;
    }

    public override string ToString() => Type switch
    {
        RopeType.Default => "default",
        RopeType.Linear => $"linear (factor {F(Factor)} over {OriginalMaxPositions})",
        _ => $"yarn (factor {F(Factor)} over {OriginalMaxPositions}, beta_fast {F(BetaFast)}, beta_slow {F(BetaSlow)}, " +
             $"attention factor {F(AttentionFactor)}{(Truncate ? "" : ", not truncated")})",
    };

    private static string F(double d) => d.ToString("R", CultureInfo.InvariantCulture);
}
