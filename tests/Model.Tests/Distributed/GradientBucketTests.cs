using Qwen3Gen.Distributed;
using Qwen3Gen.Training;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>The data-parallel buckets and the backward hook that starts them.</summary>
public class GradientBucketTests
{
    [Fact]
    public void Buckets_CoverEveryParameterOnce_InTheOrderTheBackwardFinishesThem()
    {
        using var model = TrainTinyMoe.Create();
        var buckets = GradientBucket.ForModel(model.Tensors, model.Config.Layers);
        Assert.Equal(["head", .. Enumerable.Range(0, model.Config.Layers).Reverse().Select(l => $"layer {l}"), "embedding"], buckets.Select(b => b.Name));
        var covered = new int[model.Weights.Count];
        foreach (var range in buckets.SelectMany(b => b.Ranges))
            for (long i = range.Offset; i < range.Offset + range.Length; i++) covered[i]++;
        Assert.All(covered, c => Assert.Equal(1, c));
    }

    [Fact]
    public void BackwardHook_IsToldEveryPart_InBackwardOrder()
    {
        using var model = TrainTiny.Create();
        TestWeights.Randomize(model, 1);
        var hook = new Recorder();
        model.BackwardHook = hook;
        int[] ids = [1, 2, 3, 4, 5, 6, 7, 8];
        model.ZeroGradients();
        model.Forward(ids, CausalLm.ShiftedTargets(ids, 1, 8), 1, 8);
        model.Backward();
        Assert.Equal(["head", .. Enumerable.Range(0, model.Config.Layers).Reverse().Select(l => $"layer {l}"), "embedding"], hook.Calls);
    }

    private sealed class Recorder : IBackwardHook
    {
        public List<string> Calls { get; } = [];
        public void HeadDone() => Calls.Add("head");
        public void LayerDone(int layer) => Calls.Add($"layer {layer}");
        public void EmbeddingDone() => Calls.Add("embedding");
    }
}
