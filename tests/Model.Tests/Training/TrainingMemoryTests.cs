using Qwen3Gen.Definitions;
using Qwen3Gen.Kernels;
using Qwen3Gen.Training;
using Xunit.Abstractions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>The memory a run announces before it starts, against what the run then allocates.</summary>
public class TrainingMemoryTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(3, 16)]
    [InlineData(8, 64)]
    public void Estimate_IsWhatATrainingStepAllocates(int batch, int context)
    {
        long before = NativeMemoryStats.AllocatedOnThisThread;
        using var model = TrainTiny.Create();
        TestWeights.Randomize(model, 1);
        var data = TextDataset.FromBytes(TestWeights.Shakespeare(5_000));
        using (var trainer = new Trainer(model, data, new TrainingOptions { Batch = batch, Context = context, WarmupSteps = 0, Steps = 1 }))
            trainer.TrainStep();
        long measured = NativeMemoryStats.AllocatedOnThisThread - before;
        var estimate = TrainingMemory.For(model.Config, batch, context);
        output.WriteLine($"B{batch} T{context}: estimate {estimate.Total:N0} bytes ({estimate.Describe()}), allocated {measured:N0}");
        Assert.InRange((double)estimate.Total / measured, 0.97, 1.03);
    }

    [Fact]
    public void AFullFineTuneOf06B_NamesItsNumbers_AndIsRefusedWhereItDoesNotFit()
    {
        var m = TrainingMemory.For(Qwen3_0_6B.HyperParameters, batch: 4, context: 256);
        // 596,049,920 parameters × 4 bytes each for weights and gradients, × 8 for m and v.
        Assert.Equal(596_049_920L * 4, m.Weights);
        Assert.Equal(596_049_920L * 8, m.OptimizerMoments);
        Assert.Equal(4L * 1024 * 151_936, m.Logits);
        Assert.Null(m.Shortfall("Training Qwen3_0_6B", 64_000_000_000));
        // The docs/training.md table (batch 1 × 512 and 4 × 512 for 0.6B): 11.25 GB and 16.37 GB.
        Assert.Equal("11.25", (TrainingMemory.For(Qwen3_0_6B.HyperParameters, 1, 512).Total / 1e9).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("16.37", (TrainingMemory.For(Qwen3_0_6B.HyperParameters, 4, 512).Total / 1e9).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture));
        string refusal = m.Shortfall("Training Qwen3_0_6B", 8_000_000_000)!;
        Assert.Contains("weights 2.38 GB", refusal);
        Assert.Contains("AdamW moments 4.77 GB", refusal);
        Assert.Contains("only 8.00 GB are available", refusal);
    }
}
