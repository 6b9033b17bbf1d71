namespace Qwen3Gen.Optim;

/// <summary>
/// nanoGPT's get_lr: linear warmup, then cosine decay to a floor. For iteration <c>it</c> (0-based, the
/// step about to be taken):
/// <code>
///   it &lt; warmup:        lr = max_lr · (it + 1) / (warmup + 1)
///   it &gt; decay_steps:   lr = min_lr
///   otherwise:          r = (it − warmup) / (decay_steps − warmup);  lr = min_lr + ½(1 + cos(π r))·(max_lr − min_lr)
/// </code>
/// The schedule is a pure function of the iteration, so resuming needs only the step count.
/// </summary>
public sealed record LearningRateSchedule
{
    /// <param name="maxLearningRate">Peak learning rate, reached at iteration <paramref name="warmupSteps"/>.</param>
    /// <param name="minLearningRate">Floor, from iteration <paramref name="decaySteps"/> on (nanoGPT: max/10).</param>
    /// <param name="warmupSteps">Iterations of linear warmup (0: none).</param>
    /// <param name="decaySteps">Iteration at which the cosine reaches the floor (nanoGPT's lr_decay_iters, usually the total iterations).</param>
    public LearningRateSchedule(double maxLearningRate, double minLearningRate, long warmupSteps, long decaySteps)
    {
        if (!(maxLearningRate >= 0) || double.IsInfinity(maxLearningRate))
            throw new ArgumentOutOfRangeException(nameof(maxLearningRate), maxLearningRate, "The learning rate must be a finite number >= 0.");
        if (!(minLearningRate >= 0) || minLearningRate > maxLearningRate)
            throw new ArgumentOutOfRangeException(nameof(minLearningRate), minLearningRate, $"The minimum learning rate must be in [0, {maxLearningRate}] (the maximum).");
        if (warmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, "Warmup steps must not be negative.");
        if (decaySteps < warmupSteps)
            throw new ArgumentOutOfRangeException(nameof(decaySteps), decaySteps, $"Decay steps ({decaySteps}) must be at least the warmup steps ({warmupSteps}).");
        MaxLearningRate = maxLearningRate;
        MinLearningRate = minLearningRate;
        WarmupSteps = warmupSteps;
        DecaySteps = decaySteps;
    }

    public double MaxLearningRate { get; }
    public double MinLearningRate { get; }
    public long WarmupSteps { get; }
    public long DecaySteps { get; }

    /// <summary>A constant learning rate (no warmup, no decay).</summary>
    public static LearningRateSchedule Constant(double learningRate) => new(learningRate, learningRate, 0, 0);

    /// <summary>The learning rate for iteration <paramref name="iteration"/> (0-based).</summary>
    public double At(long iteration)
    {
        if (iteration < 0) throw new ArgumentOutOfRangeException(nameof(iteration), iteration, "The iteration must not be negative.");
        if (iteration < WarmupSteps) return MaxLearningRate * (iteration + 1) / (WarmupSteps + 1);
        if (iteration >= DecaySteps) return MinLearningRate; // nanoGPT: it > decay; at it == decay the cosine is already at the floor
        double ratio = (double)(iteration - WarmupSteps) / (DecaySteps - WarmupSteps);
        double coeff = 0.5 * (1.0 + Math.Cos(Math.PI * ratio));
        return MinLearningRate + coeff * (MaxLearningRate - MinLearningRate);
    }
}
