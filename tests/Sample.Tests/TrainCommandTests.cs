using System.Text.Json;
using Qwen3Gen.Sample.Commands;
using Qwen3Gen.Sample.Runs;
using Qwen3Gen.Training;

namespace Qwen3Gen.Sample.Tests;

/// <summary>
/// `qwen3gen train` end to end on Qwen3Tiny and a 40 KB slice of the bundled corpus: a straight run and a run stopped
/// (as by Ctrl+C) then resumed with --resume must end with byte-identical checkpoints.
/// </summary>
public sealed class TrainCommandTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "qwen3gen-train-" + Guid.NewGuid().ToString("N"));
    private readonly string _data;

    public TrainCommandTests()
    {
        Assert.True(File.Exists(Corpus.BundledPath), $"the build should copy the corpus to {Corpus.BundledPath}");
        _data = CorpusSlice.Write(_root);
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private string[] Args(string output, int steps, params string[] extra) =>
    [
        "train", "--model", "Qwen3Tiny", "--steps", steps.ToString(), "--batch", "3", "--context", "16", "--warmup", "2",
        "--lr", "3e-3", "--min-lr", "3e-4", "--threads", "1", "--eval-interval", "2", "--checkpoint-interval", "4",
        "--log-interval", "1", "--samples", "30", "--data", _data, "--out", output, .. extra,
    ];

    private static int Invoke(string[] args)
    {
        var root = new System.CommandLine.RootCommand { TrainCommand.Create() };
        return root.Parse(args).Invoke();
    }

    private static TrainSettings Settings(string output, int steps) => new()
    {
        Model = "Qwen3Tiny",
        Training = new TrainingOptions { Steps = steps, Batch = 3, Context = 16, WarmupSteps = 2, LearningRate = 3e-3, MinLearningRate = 3e-4 },
        Threads = 1, EvalInterval = 2, CheckpointInterval = 4, SampleChars = 30, Out = output,
    };

    [Fact]
    public void StoppedAndResumedRun_EndsBitIdentical_ToAStraightRun()
    {
        string straight = Path.Combine(_root, "straight"), resumed = Path.Combine(_root, "resumed");
        Assert.Equal(0, Invoke(Args(straight, 6)));

        // The Ctrl+C path: the token fires during step 3; the run finishes that step, saves and reports.
        using var stop = new CancellationTokenSource();
        var progress = new StopAt(3, stop);
        var first = TrainRun.Execute(Settings(resumed, 6) with { Data = _data }, progress, stop.Token);
        Assert.True(first.Interrupted);
        Assert.Equal(3, first.Steps);
        Assert.NotNull(TrainingCheckpoint.Find(resumed));

        Assert.Equal(0, Invoke(Args(resumed, 6, "--resume")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(straight, "checkpoint", "model.safetensors")),
                     File.ReadAllBytes(Path.Combine(resumed, "checkpoint", "model.safetensors")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(straight, "checkpoint", "trainer.safetensors")),
                     File.ReadAllBytes(Path.Combine(resumed, "checkpoint", "trainer.safetensors")));

        using var a = JsonDocument.Parse(File.ReadAllText(Path.Combine(straight, "summary.json")));
        using var b = JsonDocument.Parse(File.ReadAllText(Path.Combine(resumed, "summary.json")));
        Assert.Equal(6, b.RootElement.GetProperty("Steps").GetInt64());
        Assert.Equal(3, b.RootElement.GetProperty("ResumedFrom").GetInt64());
        Assert.False(b.RootElement.GetProperty("Interrupted").GetBoolean());
        float loss = a.RootElement.GetProperty("FinalValidationLoss").GetSingle();
        Assert.True(loss > 0 && loss < 6, $"validation loss {loss}");
        Assert.Equal(loss, b.RootElement.GetProperty("FinalValidationLoss").GetSingle());   // same weights, same number
        Assert.Equal(1, progress.Evaluations);                                            // step 2; a stop saves without evaluating
    }

    [Fact]
    public void Evaluations_AndCheckpoints_HappenAtTheirIntervals_AndAtTheEnd()
    {
        var progress = new Recorder();
        var summary = TrainRun.Execute(Settings(Path.Combine(_root, "run"), 5) with { Data = _data }, progress, CancellationToken.None);
        Assert.Equal([2, 4, 5], progress.EvaluatedSteps);
        Assert.Equal([4, 5], progress.SavedSteps);
        Assert.Equal(5, progress.Steps);
        Assert.All(progress.Samples, s => Assert.Equal(30, s.Length));
        Assert.Equal(5, summary.Steps);
        Assert.True(float.IsFinite(summary.FinalValidationLoss));
    }

    [Fact]
    public void BadRequests_FailWithAMessage()
    {
        string output = Path.Combine(_root, "bad");
        var resume = Assert.Throws<ArgumentException>(() => TrainRun.Execute(Settings(output, 2) with { Data = _data, Resume = true }, new Recorder(), default));
        Assert.Contains("no checkpoint", resume.Message);

        TrainRun.Execute(Settings(output, 2) with { Data = _data, EvalInterval = 0, SampleChars = 0 }, new Recorder(), default);
        var again = Assert.Throws<ArgumentException>(() => TrainRun.Execute(Settings(output, 2) with { Data = _data }, new Recorder(), default));
        Assert.Contains("--resume", again.Message);
        Assert.Contains("--overwrite", again.Message);

        var tokenizer = Assert.Throws<ArgumentException>(() => TrainRun.Execute(Settings(output, 2) with { Tokenizer = "qwen3", Overwrite = true }, new Recorder(), default));
        Assert.Contains("Qwen3FullVocab", tokenizer.Message);
        var model = Assert.Throws<ArgumentException>(() => TrainRun.Execute(Settings(output, 2) with { Model = "Nope", Overwrite = true }, new Recorder(), default));
        Assert.Contains("Qwen3Shakespeare", model.Message);
        var data = Assert.Throws<FileNotFoundException>(() => TrainRun.Execute(Settings(output, 2) with { Data = Path.Combine(_root, "missing.txt"), Overwrite = true }, new Recorder(), default));
        Assert.Contains("missing.txt", data.Message);
        Assert.Equal(2, Invoke(Args(Path.Combine(_root, "bad2"), 2, "--resume")));   // the command turns them into exit code 2
    }

    private string[] Quick(string output, int steps, params string[] extra) =>
    [
        "train", "--model", "Qwen3Tiny", "--steps", steps.ToString(), "--batch", "2", "--context", "8", "--threads", "1",
        "--eval-interval", "0", "--checkpoint-interval", "0", "--samples", "0", "--data", _data, "--out", output, .. extra,
    ];

    [Fact]
    public void ExtendingARun_KeepsItsImplicitWarmup_AndATargetNotBeyondTheCheckpoint_IsRefused_LeavingItUntouched()
    {
        string output = Path.Combine(_root, "extend");
        Assert.Equal(0, Invoke(Quick(output, 20)));                    // implicit warmup min(100, 20 / 10) = 2
        Assert.Equal(0, Invoke(Quick(output, 40, "--resume")));        // 40 would imply 4: the checkpoint's 2 is kept
        var (step, options) = TrainingCheckpoint.ReadInfo(TrainingCheckpoint.Find(output)!);
        Assert.Equal(40, step);
        Assert.Equal(2, options.WarmupSteps);

        string checkpoint = Path.Combine(output, "checkpoint", "trainer.safetensors"), summary = Path.Combine(output, "summary.json");
        byte[] savedCheckpoint = File.ReadAllBytes(checkpoint), savedSummary = File.ReadAllBytes(summary);
        Assert.Equal(2, Invoke(Quick(output, 1, "--resume")));         // "training steps 41..1" would be nonsense
        Assert.Equal(2, Invoke(Quick(output, 40, "--resume")));        // nothing left to do
        var e = Assert.Throws<ArgumentException>(() => TrainRun.Execute(Settings(output, 3) with { Data = _data, Resume = true }, new Recorder(), default));
        Assert.Contains("--steps (3) must exceed the checkpoint's step (40)", e.Message);
        Assert.Equal(savedCheckpoint, File.ReadAllBytes(checkpoint));
        Assert.Equal(savedSummary, File.ReadAllBytes(summary));
    }

    [Fact]
    public void ASecondTrainOnTheSameRunFolder_IsRefused()
    {
        string output = Path.Combine(_root, "locked");
        using (RunFolderLock.Acquire(output))                          // as a first `train` holds it
        {
            var e = Assert.Throws<IOException>(() => TrainRun.Execute(Settings(output, 2) with { Data = _data }, new Recorder(), default));
            Assert.Contains("in use by another training process", e.Message);
            Assert.Equal(2, Invoke(Quick(output, 2)));
            Assert.Null(TrainingCheckpoint.Find(output));
        }
        Assert.Equal(0, Invoke(Quick(output, 2)));
    }

    private class Recorder : ITrainingProgress
    {
        public List<long> EvaluatedSteps { get; } = [];
        public List<long> SavedSteps { get; } = [];
        public List<string> Samples { get; } = [];
        public long Steps { get; private set; }
        public void Info(string text) { }
        public void Begin(long firstStep, long totalSteps) { }
        public virtual void Step(StepResult step, double tokensPerSecond, TimeSpan trainingTime) => Steps = step.Step;
        public void Evaluated(long step, float validationLoss, TimeSpan evaluationTime, string sample)
        {
            EvaluatedSteps.Add(step);
            Samples.Add(sample);
        }
        public void Saved(long step, string folder) => SavedSteps.Add(step);
    }

    /// <summary>Cancels once step <paramref name="at"/> is reported, as Ctrl+C pressed during that step.</summary>
    private sealed class StopAt(long at, CancellationTokenSource stop) : Recorder
    {
        public int Evaluations => EvaluatedSteps.Count;
        public override void Step(StepResult step, double tokensPerSecond, TimeSpan trainingTime)
        {
            base.Step(step, tokensPerSecond, trainingTime);
            if (step.Step == at) stop.Cancel();
        }
    }
}
