using Qwen3Gen.Training;

namespace Qwen3Gen.Sample.Runs;

/// <summary>What a training run tells its user; the console has a live bar and a plain-lines version.</summary>
internal interface ITrainingProgress
{
    /// <summary>A line of information (model, data, resume point ...).</summary>
    void Info(string text);

    /// <summary>Training starts at <paramref name="firstStep"/> (0, or the resumed step) and runs to <paramref name="totalSteps"/>.</summary>
    void Begin(long firstStep, long totalSteps);

    /// <summary>One optimizer step done; <paramref name="tokensPerSecond"/> is measured over this session's training time.</summary>
    void Step(StepResult step, double tokensPerSecond, TimeSpan trainingTime);

    /// <summary>Validation loss over the whole split at <paramref name="step"/>, with a generated sample (may be empty).</summary>
    void Evaluated(long step, float validationLoss, TimeSpan evaluationTime, string sample);

    /// <summary>A checkpoint was written.</summary>
    void Saved(long step, string folder);
}
