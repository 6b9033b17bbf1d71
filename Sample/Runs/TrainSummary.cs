using Qwen3Gen.Training;

namespace Qwen3Gen.Sample.Runs;

/// <summary>The outcome of a training run; written to &lt;out&gt;/summary.json.</summary>
internal sealed record TrainSummary
{
    public required string Model { get; init; }
    public required long Parameters { get; init; }
    public required string Tokenizer { get; init; }
    public required int Threads { get; init; }
    /// <summary>Ranks of the job (1: one process); Threads is per rank.</summary>
    public int Ranks { get; init; } = 1;
    /// <summary>Ranks each model is split over (1: none); Ranks / TensorParallel data-parallel groups.</summary>
    public int TensorParallel { get; init; } = 1;
    /// <summary>Step the run resumed from (0: a fresh start).</summary>
    public long ResumedFrom { get; init; }
    /// <summary>Optimizer steps completed (counting those before a resume).</summary>
    public long Steps { get; init; }
    public bool Interrupted { get; init; }
    public float FinalTrainLoss { get; init; }
    /// <summary>Mean cross-entropy (nats per token) over the whole validation split at the last step; NaN if not evaluated.</summary>
    public float FinalValidationLoss { get; init; }
    /// <summary>Wall time of this invocation: training, evaluation, sampling and saving.</summary>
    public double Seconds { get; init; }
    /// <summary>Time in optimizer steps only.</summary>
    public double TrainingSeconds { get; init; }
    public double MillisecondsPerStep { get; init; }
    /// <summary>Tokens of all ranks per second of training.</summary>
    public double TokensPerSecond { get; init; }
    /// <summary>Time rank 0 waited on the other ranks during the training steps (gradient all-reduce, statistics, ZeRO-1 gather).</summary>
    public double CommunicationSeconds { get; init; }
    public required TrainingOptions Options { get; init; }
    public required string Output { get; init; }
}
