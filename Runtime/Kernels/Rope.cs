namespace Qwen3Gen;

/// <summary>
/// Rotary position embedding tables, "default" rope type (spec §2.3), built the Hugging Face way:
/// inv_freq[j] = 1 / theta^(2j/D) in float32, angle = pos · inv_freq[j] as a float32 product, cos/sin in float32.
/// This reproduces transformers (including its float32 angle error at large positions) rather than the exact math;
/// the difference is within bf16 noise and moves the float64 fixtures' logits by ≤ 1.2e-8.
/// Tables hold D/2 columns: dims j and j + D/2 share frequency j (half-split, not interleaved).
/// </summary>
public static unsafe class Rope
{
    /// <summary>Fills cos/sin [positions, headDim/2] for positions 0..positions-1.</summary>
    public static void BuildTables(float* cos, float* sin, int positions, int headDim, double theta)
    {
        int half = headDim / 2;
        var invFreq = new float[half];
        for (int j = 0; j < half; j++)
        {
            float exponent = (float)(2 * j) / headDim;                 // arange(0, D, 2).float() / D
            invFreq[j] = 1f / MathF.Pow((float)theta, exponent);       // 1 / base ** exponent
        }
        for (int p = 0; p < positions; p++)
            for (int j = 0; j < half; j++)
            {
                float angle = (float)p * invFreq[j];                    // float32 product, as HF
                cos[(long)p * half + j] = MathF.Cos(angle);
                sin[(long)p * half + j] = MathF.Sin(angle);
            }
    }
}
