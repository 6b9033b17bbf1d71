using Qwen3Gen.Training;

namespace Qwen3Gen.Sample.Runs;

/// <summary>Progress of the ranks other than 0 in a data-parallel run: rank 0 reports for all of them.</summary>
internal sealed class QuietProgress : ITrainingProgress
{
    public static readonly QuietProgress Instance = new();

    public void Info(string text) { }

    public void Begin(long firstStep, long totalSteps) { }

    public void Step(StepResult step, double tokensPerSecond, TimeSpan trainingTime) { }

    public void Evaluated(long step, float validationLoss, TimeSpan evaluationTime, string sample) { }

    public void Saved(long step, string folder) { }
}
