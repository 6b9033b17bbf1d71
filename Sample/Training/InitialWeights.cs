using Qwen3Gen.Sampling;

namespace Qwen3Gen.Sample.Training;

/// <summary>
/// Random starting weights for training from scratch, as Hugging Face's Qwen3 _init_weights: every matrix ~ N(0, std²),
/// every RMSNorm weight = 1. Optionally GPT-2's residual scaling (o_proj and down_proj get std / sqrt(2 · layers), so the
/// residual stream's variance does not grow with depth). Each tensor draws from its own xoshiro stream seeded by
/// (seed, tensor index): the same seed gives the same model.
/// </summary>
internal static class InitialWeights
{
    public static void Normal(IQwen3Model model, ulong seed, float std, bool scaledResidual)
    {
        float residualStd = std / MathF.Sqrt(2f * model.Config.Layers);
        float[] values = [];
        for (int index = 0; index < model.Tensors.Count; index++)
        {
            var tensor = model.Tensors[index];
            if (values.Length < tensor.Length) values = new float[tensor.Length];
            var span = values.AsSpan(0, (int)tensor.Length);
            if (!tensor.IsMatrix) span.Fill(1f);
            else
            {
                bool residual = tensor.Name.EndsWith("o_proj.weight", StringComparison.Ordinal) || tensor.Name.EndsWith("down_proj.weight", StringComparison.Ordinal);
                float s = scaledResidual && residual ? residualStd : std;
                var rng = new Rng(seed * 0x9E3779B97F4A7C15UL + (ulong)index + 1);
                for (int i = 0; i < span.Length; i += 2)
                {
                    // Box-Muller: for u1, u2 ~ U(0, 1], r = sqrt(−2 ln u1), θ = 2π u2 gives two N(0, 1) values r cos θ, r sin θ.
                    double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
                    double r = Math.Sqrt(-2 * Math.Log(u1));
                    var (sin, cos) = Math.SinCos(2 * Math.PI * u2);
                    span[i] = (float)(s * r * cos);
                    if (i + 1 < span.Length) span[i + 1] = (float)(s * r * sin);
                }
            }
            model.Weights.Set(tensor, span);
        }
    }
}
