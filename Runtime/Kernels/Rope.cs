namespace Qwen3Gen.Kernels;

/// <summary>
/// Rotary position embedding tables (spec §2.3, §2.3.1), built the Hugging Face way: inv_freq in float32
/// (<see cref="RopeScaling.InverseFrequencies"/>: default, linear or YaRN), angle = pos · inv_freq[j] as a float32
/// product, cos/sin in float32, then multiplied by the attention factor (YaRN; 1 otherwise) in float32.
/// This reproduces transformers (including its float32 angle error at large positions) rather than the exact math;
/// the difference is within bf16 noise and moves the float64 fixtures' logits by ≤ 1.2e-8.
/// Tables hold D/2 columns: dims j and j + D/2 share frequency j (half-split, not interleaved).
/// </summary>
public static unsafe class Rope
{
    /// <summary>Fills cos/sin [positions, headDim/2] for positions 0..positions-1, default RoPE.</summary>
    public static void BuildTables(float* cos, float* sin, int positions, int headDim, double theta) =>
        BuildTables(cos, sin, positions, headDim, theta, RopeScaling.None);

    /// <summary>Fills cos/sin [positions, headDim/2] for positions 0..positions-1 with <paramref name="scaling"/>.</summary>
    public static void BuildTables(float* cos, float* sin, int positions, int headDim, double theta, RopeScaling scaling)
    {
        int half = headDim / 2;
        var invFreq = scaling.InverseFrequencies(headDim, theta);
        float factor = (float)scaling.AttentionFactor;                   // cos = emb.cos() * attention_scaling
        for (int p = 0; p < positions; p++)
            for (int j = 0; j < half; j++)
            {
                float angle = (float)p * invFreq[j];                    // float32 product, as HF
                cos[(long)p * half + j] = MathF.Cos(angle) * factor;
                sin[(long)p * half + j] = MathF.Sin(angle) * factor;
            }
    }
}
