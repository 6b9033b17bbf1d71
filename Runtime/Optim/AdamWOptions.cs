using Qwen3Gen.Models;

namespace Qwen3Gen.Optim;

/// <summary>
/// Hyper-parameters of <see cref="AdamW"/>, named and defaulted as torch.optim.AdamW
/// (lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2). The fixtures and nanoGPT-style training
/// use betas (0.9, 0.95) and weight decay 0.1: set them explicitly.
/// </summary>
public sealed record AdamWOptions
{
    /// <summary>Initial learning rate (the optimizer's <see cref="AdamW.LearningRate"/> can change it per step).</summary>
    public double LearningRate { get; init; } = 1e-3;

    public double Beta1 { get; init; } = 0.9;

    public double Beta2 { get; init; } = 0.999;

    /// <summary>Added to sqrt(v̂) after the bias correction, as torch does.</summary>
    public double Epsilon { get; init; } = 1e-8;

    /// <summary>Decoupled weight decay λ: p ← p·(1 − lr·λ) on the tensors <see cref="Decay"/> selects.</summary>
    public double WeightDecay { get; init; } = 1e-2;

    /// <summary>Which tensors get weight decay. Default: matrices (ndim ≥ 2), not the 1-D norm weights (the fixtures, nanoGPT, llm.c).</summary>
    public Func<TensorSpec, bool> Decay { get; init; } = static t => t.IsMatrix;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid field and its value (the ranges torch checks).</summary>
    public void Validate()
    {
        if (!(LearningRate >= 0) || double.IsInfinity(LearningRate)) throw new ArgumentException($"AdamW LearningRate ({LearningRate}) must be a finite number >= 0.");
        if (!(Beta1 >= 0 && Beta1 < 1)) throw new ArgumentException($"AdamW Beta1 ({Beta1}) must be in [0, 1).");
        if (!(Beta2 >= 0 && Beta2 < 1)) throw new ArgumentException($"AdamW Beta2 ({Beta2}) must be in [0, 1).");
        if (!(Epsilon >= 0) || double.IsInfinity(Epsilon)) throw new ArgumentException($"AdamW Epsilon ({Epsilon}) must be a finite number >= 0.");
        if (!(WeightDecay >= 0) || double.IsInfinity(WeightDecay)) throw new ArgumentException($"AdamW WeightDecay ({WeightDecay}) must be a finite number >= 0.");
        if (Decay is null) throw new ArgumentException("AdamW Decay must not be null (use t => false for no weight decay).");
    }
}
