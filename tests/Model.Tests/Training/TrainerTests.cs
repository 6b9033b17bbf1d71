using Qwen3Gen.Threading;
using Qwen3Gen.Training;
using Xunit.Abstractions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>The trainer: exact resume, accumulation == big batch, thread-count independence, checkpoint checks.</summary>
[Collection("Workers")]   // tests that change Workers.Threads must not run beside each other
public class TrainerTests(ITestOutputHelper output)
{
    private static readonly TextDataset Data = TextDataset.FromBytes(TestWeights.Shakespeare(20_000));

    private static TrainingOptions Options(int steps = 6) => new()
    {
        Steps = steps, Batch = 3, Context = 16, WarmupSteps = 2, LearningRate = 3e-3, MinLearningRate = 3e-4, Seed = 42,
    };

    private static float[] Snapshot(IQwen3Model model) => model.Weights.Data.Slice(0, (int)model.Weights.Count).ToArray();

    [Fact]
    public void Resume_IsBitIdentical_ToAnUninterruptedRun()
    {
        using var straight = TrainTiny.Create();
        TestWeights.Randomize(straight, 1);
        using (var trainer = new Trainer(straight, Data, Options()))
            for (int i = 0; i < 6; i++) trainer.TrainStep();

        string dir = Path.Combine(Path.GetTempPath(), "qwen3gen-resume-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (var first = TrainTiny.Create())
            {
                TestWeights.Randomize(first, 1);
                using var trainer = new Trainer(first, Data, Options());
                for (int i = 0; i < 3; i++) trainer.TrainStep();
                trainer.Save(dir);
                trainer.TrainStep();                     // progress after the save is lost, as after a crash
            }
            using var resumed = TrainTiny.Create();     // fresh process state: zero weights, fresh optimizer
            using (var trainer = new Trainer(resumed, Data, Options()))
            {
                trainer.Load(dir);
                Assert.Equal(3, trainer.Step);
                for (int i = 0; i < 3; i++) trainer.TrainStep();
            }
            Assert.Equal(Snapshot(straight), Snapshot(resumed));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void GradientAccumulation_EqualsTheBigBatch()
    {
        // Dense: the cross-entropy mean over equal micro-batches averages exactly. (An MoE aux loss does not: f·P̄ is
        // computed per forward pass, as in Hugging Face, so accumulated MoE gradients differ from the big batch's.)
        static float[] Gradients(int batch, int accumulation)
        {
            using var model = TrainTiny.Create();
            TestWeights.Randomize(model, 3);
            using var trainer = new Trainer(model, Data, new TrainingOptions { Batch = batch, GradientAccumulation = accumulation, Context = 16, GradientClip = 0, Seed = 5 });
            trainer.TrainStep();                         // the windows drawn are the same: B draws per micro-batch, in order
            return model.Gradients.Slice(0, (int)model.Weights.Count).ToArray();
        }
        var big = Gradients(4, 1);
        var accumulated = Gradients(2, 2);
        Compare.Close(output, "gradients (4×1 vs 2×2)", big, accumulated, (1e-4, 1e-7));
    }

    [Fact]
    public void Training_IsBitIdentical_ForOneAndTwoThreads()
    {
        float[] Run(int threads)
        {
            int saved = Workers.Threads;
            Workers.Threads = threads;
            try
            {
                using var model = TrainTinyMoe.Create();
                TestWeights.Randomize(model, 2);
                using var trainer = new Trainer(model, Data, Options());
                for (int i = 0; i < 3; i++) trainer.TrainStep();
                return Snapshot(model);
            }
            finally { Workers.Threads = saved; }
        }
        Assert.Equal(Run(1), Run(2));
    }

    [Fact]
    public void Training_LowersTheLoss()
    {
        using var model = TrainTiny.Create();
        TestWeights.Randomize(model, 4);
        using var trainer = new Trainer(model, Data, Options(steps: 40));
        float before = trainer.EvaluateValidation();
        for (int i = 0; i < 40; i++) trainer.TrainStep();
        float after = trainer.EvaluateValidation();
        output.WriteLine($"validation loss {before:F4} -> {after:F4}");
        Assert.True(after < before - 1.0, $"validation loss {before} -> {after}");
    }

    [Fact]
    public void Checkpoint_OfOtherHyperParameters_IsRejected_NamingTheFields()
    {
        string dir = Path.Combine(Path.GetTempPath(), "qwen3gen-mismatch-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (var tiny = TrainTiny.Create())
            using (var trainer = new Trainer(tiny, Data, Options()))
                trainer.Save(dir);
            using var other = TrainTinyMoe.Create();
            using var otherTrainer = new Trainer(other, Data, Options());
            var error = Assert.Throws<InvalidDataException>(() => otherTrainer.Load(dir));
            Assert.Contains("Hidden: 32 vs 40", error.Message);
            Assert.Contains("Layers: 3 vs 2", error.Message);

            using var same = TrainTiny.Create();
            using var changed = new Trainer(same, Data, Options() with { Batch = 5 });
            Assert.Contains("Batch: 3 vs 5", Assert.Throws<InvalidDataException>(() => changed.Load(dir)).Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void InterruptedSwap_ResumesFromTheCompleteOldCheckpoint()
    {
        string dir = Path.Combine(Path.GetTempPath(), "qwen3gen-swap-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var model = TrainTiny.Create();
            TestWeights.Randomize(model, 1);
            using var trainer = new Trainer(model, Data, Options());
            trainer.TrainStep();
            trainer.Save(dir);
            // a crash between "checkpoint -> checkpoint.old" and "new -> checkpoint": only .old and a temp folder remain
            Directory.Move(Path.Combine(dir, "checkpoint"), Path.Combine(dir, "checkpoint.old"));
            Directory.CreateDirectory(Path.Combine(dir, ".checkpoint.partial.tmp"));
            Assert.Equal(Path.Combine(dir, "checkpoint.old"), TrainingCheckpoint.Find(dir));
            using var again = TrainTiny.Create();
            using var resumed = new Trainer(again, Data, Options());
            resumed.Load(dir);
            Assert.Equal(1, resumed.Step);
            Assert.Equal(Snapshot(model), Snapshot(again));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
