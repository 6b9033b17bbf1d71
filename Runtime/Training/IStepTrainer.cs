namespace Qwen3Gen.Training;

/// <summary>
/// What a training run's loop drives: <see cref="Trainer"/> (one model, data-parallel under a communicator) or
/// <see cref="TensorParallel.TensorParallelDatasetTrainer"/> (a tensor-parallel model, tensor × data parallel). Every
/// call is collective over the trainer's ranks.
/// </summary>
public interface IStepTrainer : IDisposable
{
    TrainingOptions Options { get; }

    /// <summary>Optimizer steps completed.</summary>
    long Step { get; }

    /// <summary>Tokenizer files and generation_config.json written into every checkpoint (null: weights, config and state only).</summary>
    ModelFiles? Files { get; set; }

    /// <summary>One optimizer step over the ranks' micro-batches; its loss is the mean over all of them.</summary>
    StepResult TrainStep();

    /// <summary>Whether any rank asks to stop (Ctrl+C, SIGTERM) before the next step: every rank must stop at the same step.</summary>
    bool AgreeToStop(bool stopHere);

    /// <summary>Mean cross-entropy over every target of the validation split (<see cref="ValidationLoss"/>).</summary>
    float EvaluateValidation();

    /// <summary>Writes the checkpoint of <paramref name="directory"/> (<see cref="TrainingCheckpoint"/>).</summary>
    void Save(string directory);

    /// <summary>Restores the checkpoint of <paramref name="directory"/>: weights, AdamW moments and step, sampler state.</summary>
    void Load(string directory);
}
