using Qwen3Gen.Kernels;
using Qwen3Gen.Training;
using Xunit.Abstractions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>Gradient checkpointing: the same loss and bit-identical gradients as the normal backward, with fewer bytes of activations.</summary>
public class GradientCheckpointingTests(ITestOutputHelper output)
{
    [Fact]
    public void Gradients_AreBitIdentical_ToTheNormalBackward_AndTheBuffersSmaller()
    {
        using var model = TrainTiny.Create();
        TestWeights.Randomize(model, 31, std: 0.1f);
        const int batch = 3, seqLen = 24;
        var rng = new Random(5);
        var ids = Enumerable.Range(0, batch * seqLen).Select(_ => rng.Next(256)).ToArray();
        var targets = CausalLm.ShiftedTargets(ids, batch, seqLen);

        long start = NativeMemoryStats.AllocatedOnThisThread;
        model.Reserve(batch, seqLen, training: true);
        long normalBytes = NativeMemoryStats.AllocatedOnThisThread - start;
        model.ZeroGradients();
        float loss = model.Forward(ids, targets, batch, seqLen);
        model.Backward();
        var normal = model.Gradients.Slice(0, (int)model.Weights.Count).ToArray();

        model.GradientCheckpointing = true;
        start = NativeMemoryStats.AllocatedOnThisThread;
        model.Reserve(batch, seqLen, training: true);
        long checkpointBytes = NativeMemoryStats.AllocatedOnThisThread - start;
        model.ZeroGradients();
        Assert.Equal(loss, model.Forward(ids, targets, batch, seqLen));
        model.Backward();
        var recomputed = model.Gradients.Slice(0, (int)model.Weights.Count).ToArray();
        Assert.Equal(normal, recomputed);

        var estimate = TrainingMemory.For(TrainTiny.HyperParameters, batch, seqLen);
        var estimateCheckpointed = TrainingMemory.For(TrainTiny.HyperParameters, batch, seqLen, checkpointing: true);
        output.WriteLine($"work buffers: {normalBytes:N0} bytes normal, {checkpointBytes:N0} with checkpointing; estimated activations + logits {estimate.Activations + estimate.Logits:N0} / {estimateCheckpointed.Activations + estimateCheckpointed.Logits:N0}");
        Assert.True(checkpointBytes < normalBytes);
        Assert.InRange((double)(estimateCheckpointed.Activations + estimateCheckpointed.Logits) / checkpointBytes, 0.95, 1.05);
        Assert.InRange((double)(estimate.Activations + estimate.Logits) / normalBytes, 0.95, 1.05);
    }

    [Fact]
    public void MoeModels_RefuseIt()
    {
        using var model = TrainTinyMoe.Create();
        Assert.Throws<NotSupportedException>(() => model.GradientCheckpointing = true);
    }
}
