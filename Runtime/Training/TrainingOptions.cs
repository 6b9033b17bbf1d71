namespace Qwen3Gen.Training;

/// <summary>
/// Hyper-parameters of a training run. Defaults follow nanoGPT's shakespeare-char CPU recipe
/// (block 64, batch 12, lr 1e-3 with warmup and cosine decay, β2 0.99, clip 1.0, no dropout).
/// </summary>
public sealed record TrainingOptions
{
    public int Steps { get; init; } = 2000;
    public int Batch { get; init; } = 12;
    public int Context { get; init; } = 64;
    /// <summary>Micro-batches per optimizer step (their gradients are averaged: the same as one batch of Batch × this).</summary>
    public int GradientAccumulation { get; init; } = 1;
    public double LearningRate { get; init; } = 1e-3;
    public double MinLearningRate { get; init; } = 1e-4;
    public int WarmupSteps { get; init; } = 100;
    /// <summary>Steps of the cosine decay (0: the whole run).</summary>
    public int DecaySteps { get; init; }
    public double WeightDecay { get; init; } = 0.1;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.99;
    public double Epsilon { get; init; } = 1e-8;
    /// <summary>Global gradient-norm clip (0: off).</summary>
    public double GradientClip { get; init; } = 1.0;
    public ulong Seed { get; init; } = 1337;

    /// <summary>AdamW's settings of these options (its learning rate is set every step from <see cref="Schedule"/>).</summary>
    public Optim.AdamWOptions AdamW() => new()
    {
        LearningRate = LearningRate, Beta1 = Beta1, Beta2 = Beta2, Epsilon = Epsilon, WeightDecay = WeightDecay,
    };

    /// <summary>Warmup, then cosine decay over DecaySteps (0: over the whole run, Steps).</summary>
    public Optim.LearningRateSchedule Schedule() => new(LearningRate, MinLearningRate, WarmupSteps, DecaySteps > 0 ? DecaySteps : Steps);

    public void Validate()
    {
        if (Steps < 1) throw new ArgumentOutOfRangeException(nameof(Steps), Steps, "Steps must be at least 1.");
        if (Batch < 1) throw new ArgumentOutOfRangeException(nameof(Batch), Batch, "Batch must be at least 1.");
        if (Context < 2) throw new ArgumentOutOfRangeException(nameof(Context), Context, "Context must be at least 2.");
        if (GradientAccumulation < 1) throw new ArgumentOutOfRangeException(nameof(GradientAccumulation), GradientAccumulation, "Gradient accumulation must be at least 1.");
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "The learning rate must be a positive finite number.");
        if (!(MinLearningRate >= 0) || !double.IsFinite(MinLearningRate)) throw new ArgumentOutOfRangeException(nameof(MinLearningRate), MinLearningRate, "The minimum learning rate must be a finite number >= 0.");
        if (WarmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(WarmupSteps), WarmupSteps, "Warmup steps must be >= 0.");
        if (DecaySteps < 0) throw new ArgumentOutOfRangeException(nameof(DecaySteps), DecaySteps, "Decay steps must be >= 0 (0: the whole run).");
        if (!(WeightDecay >= 0) || !double.IsFinite(WeightDecay)) throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "Weight decay must be a finite number >= 0.");
        if (!(Beta1 >= 0 && Beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(Beta1), Beta1, "β1 must be in [0, 1).");
        if (!(Beta2 >= 0 && Beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(Beta2), Beta2, "β2 must be in [0, 1).");
        if (!(Epsilon > 0) || !double.IsFinite(Epsilon)) throw new ArgumentOutOfRangeException(nameof(Epsilon), Epsilon, "ε must be a positive finite number.");
        if (!(GradientClip >= 0) || !double.IsFinite(GradientClip)) throw new ArgumentOutOfRangeException(nameof(GradientClip), GradientClip, "The gradient clip must be a finite number >= 0 (0: off).");
    }
}
