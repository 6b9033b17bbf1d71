namespace Qwen3Gen.Distributed;

/// <summary>How a <see cref="Training.Trainer"/> runs on several ranks (ignored by one process; never part of a checkpoint's options: they do not change the result).</summary>
public sealed record DataParallelOptions
{
    /// <summary>Start each layer's gradient all-reduce during the backward pass (false: all buckets after it, for comparison).</summary>
    public bool Overlap { get; init; } = true;

    /// <summary>ZeRO-1: each rank keeps the AdamW moments of 1/Size of the parameters, then the parameters are all-gathered.</summary>
    public bool ShardOptimizer { get; init; }
}
