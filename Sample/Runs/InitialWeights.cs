using Qwen3Gen.Models;
using Qwen3Gen.TensorParallel;

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
        float scale = ResidualScale(model.Config);
        foreach (var tensor in model.Tensors)
        {
            if (!IsResidualProjection(tensor.Name)) continue;
            var values = new float[tensor.Length];
            model.Weights.Get(tensor, values);
            for (int i = 0; i < values.Length; i++) values[i] *= scale;
            model.Weights.Set(tensor, values);
        }
    }

    /// <summary>
    /// A tensor-parallel rank's part of the weights <see cref="Normal"/> gives one process: each whole tensor is drawn from
    /// its own stream (<see cref="WeightInit.NormalTensor"/>), one at a time, and the rank keeps its slice, so the ranks
    /// together hold exactly the one-process initial model.
    /// </summary>
    public static Weights Slice(TensorSplit split, ulong seed, float std, bool scaledResidual)
    {
        var weights = Weights.Create(WeightFormat.F32, split.Count, split.VectorStart);
        float scale = ResidualScale(split.Config);
        foreach (var t in split.Tensors)
        {
            var full = new float[t.FullShape.Aggregate(1, (n, d) => checked(n * d))];
            WeightInit.NormalTensor(t.Name, t.Local.IsMatrix, full, seed, std);
            if (scaledResidual && IsResidualProjection(t.Name))
                for (int i = 0; i < full.Length; i++) full[i] *= scale;
            TensorSlices.Take(t, full, weights.Data.Slice(t.Local.Offset, checked((int)t.Local.Length)));
        }
        return weights;
    }

    private static float ResidualScale(ModelConfig config) => 1f / MathF.Sqrt(2f * config.Layers);

    private static bool IsResidualProjection(string name) =>
        name.EndsWith("o_proj.weight", StringComparison.Ordinal) || name.EndsWith("down_proj.weight", StringComparison.Ordinal);
}
