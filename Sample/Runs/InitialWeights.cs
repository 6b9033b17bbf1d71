using Qwen3Gen.Models;

namespace Qwen3Gen.Sample.Runs;

/// <summary>
/// Starting weights for training from scratch: <see cref="WeightInit.Normal"/> (Hugging Face's Qwen3 _init_weights: every
/// matrix ~ N(0, std²), every RMSNorm weight 1), optionally with GPT-2's residual scaling: o_proj and down_proj, the two
/// projections that add into the residual stream, are scaled by 1 / sqrt(2 · layers) so the stream's variance at
/// initialisation does not grow with depth.
/// </summary>
internal static class InitialWeights
{
    public static void Normal(IQwen3Model model, ulong seed, float std, bool scaledResidual)
    {
        WeightInit.Normal(model, seed, std);
        if (!scaledResidual) return;
        float scale = 1f / MathF.Sqrt(2f * model.Config.Layers);
        foreach (var tensor in model.Tensors)
        {
            if (!tensor.Name.EndsWith("o_proj.weight", StringComparison.Ordinal) && !tensor.Name.EndsWith("down_proj.weight", StringComparison.Ordinal)) continue;
            var values = new float[tensor.Length];
            model.Weights.Get(tensor, values);
            for (int i = 0; i < values.Length; i++) values[i] *= scale;
            model.Weights.Set(tensor, values);
        }
    }
}
