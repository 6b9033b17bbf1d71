using Qwen3Gen.Training;

namespace Qwen3Gen.Sample.Runs;

/// <summary>
/// Passes every report on to <paramref name="inner"/> and remembers whether training has begun
/// (<see cref="ITrainingProgress.Begin"/>): before that no trained state exists, so a stop request needs no save and
/// `train` may end at once, even while a read of the data or a snapshot blocks (TrainCommand's signal handlers).
/// </summary>
internal sealed class BeginWatch(ITrainingProgress inner) : ITrainingProgress
{
    private volatile bool _begun;

    public bool Begun => _begun;

    public void Info(string text) => inner.Info(text);

    public void Begin(long firstStep, long totalSteps)
    {
        _begun = true;
        inner.Begin(firstStep, totalSteps);
    }

    public void Step(StepResult step, double tokensPerSecond, TimeSpan trainingTime) => inner.Step(step, tokensPerSecond, trainingTime);

    public void Evaluated(long step, float validationLoss, TimeSpan evaluationTime, string sample) => inner.Evaluated(step, validationLoss, evaluationTime, sample);

    public void Saved(long step, string folder) => inner.Saved(step, folder);
}
