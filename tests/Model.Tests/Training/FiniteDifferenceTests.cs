using Xunit.Abstractions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// The generated backward pass against central finite differences of the generated forward pass:
/// for every parameter tensor, its largest-gradient elements and a few random ones. The forward runs in float32,
/// so h is large (1e-2) and the tolerance is loose; the goldens check the exact values, this checks every tensor
/// of shapes the goldens do not have (odd sizes, a dense layer inside a MoE, no renormalisation, the aux loss).
/// </summary>
public class FiniteDifferenceTests(ITestOutputHelper output)
{
    [Fact]
    public void Dense_Backward_MatchesFiniteDifferences() => Check(TrainTiny.Create(), seed: 11);

    [Fact]
    public void Moe_Backward_MatchesFiniteDifferences() => Check(TrainTinyMoe.Create(), seed: 12);

    private void Check(IQwen3Model model, int seed)
    {
        using var _ = model;
        TestWeights.Randomize(model, seed, std: 0.15f);
        var rng = new Random(seed);
        int batch = 2, seqLen = 9;
        var ids = Enumerable.Range(0, batch * seqLen).Select(_ => rng.Next(model.Config.Vocab)).ToArray();
        var targets = CausalLm.ShiftedTargets(ids, batch, seqLen);
        model.ZeroGradients();
        model.Forward(ids, targets, batch, seqLen);
        model.Backward();
        var grads = model.Gradients.Slice(0, (int)model.Weights.Count).ToArray();
        var weights = model.Weights.Data;
        const float h = 1e-2f;
        int checkedCount = 0;
        foreach (var t in model.Tensors)
        {
            int length = (int)t.Length;
            var picks = Enumerable.Range(0, length).OrderByDescending(i => Math.Abs(grads[t.Offset + i])).Take(2)
                .Concat(Enumerable.Range(0, 2).Select(_ => rng.Next(length))).Distinct();
            double worst = 0;
            foreach (int i in picks)
            {
                long at = t.Offset + i;
                float original = weights.Slice(at, 1)[0];
                weights.Slice(at, 1)[0] = original + h;
                double plus = model.Forward(ids, targets, batch, seqLen);
                weights.Slice(at, 1)[0] = original - h;
                double minus = model.Forward(ids, targets, batch, seqLen);
                weights.Slice(at, 1)[0] = original;
                double fd = (plus - minus) / (2 * h), analytic = grads[at];
                double allowed = 3e-4 + 3e-2 * Math.Abs(analytic);
                worst = Math.Max(worst, Math.Abs(fd - analytic) / allowed);
                Assert.True(Math.Abs(fd - analytic) <= allowed, $"{t.Name}[{i}]: backward {analytic:E4}, finite difference {fd:E4}");
                checkedCount++;
            }
            output.WriteLine($"{t.Name,-50} worst/allowed {worst:F3}");
        }
        output.WriteLine($"{checkedCount} elements checked");
    }
}

public class MoeRoutingTests
{
    [Fact]
    public void IdleExperts_GetExactlyZeroGradient_AndOnlySelectedExpertsRun()
    {
        using var model = TrainTinyMoe.Create();
        TestWeights.Randomize(model, 5, std: 0.15f);
        model.ZeroGradients();
        int[] ids = [17, 99];                     // two rows: at most 4 of 2 layers × 4 experts selections per layer
        model.Forward(ids, [99, 5], 1, 2);             // both rows have targets, so every selected expert gets a gradient
        model.Backward();
        int idle = 0;
        foreach (int layer in new[] { 0, 2 })
        {
            var load = model.ExpertLoad(layer);
            Assert.Equal(2 * TrainTinyMoe.ExpertsPerToken, load.Sum());
            for (int e = 0; e < TrainTinyMoe.Experts; e++)
            {
                foreach (var suffix in new[] { "gate_proj", "up_proj", "down_proj" })
                {
                    var t = model.Tensors.Single(x => x.Name == $"model.layers.{layer}.mlp.experts.{e}.{suffix}.weight");
                    var grad = model.Gradients.Slice(t.Offset, (int)t.Length);
                    bool allZero = grad.IndexOfAnyExcept(0f) < 0;
                    Assert.Equal(load[e] == 0, allZero);
                }
                if (load[e] == 0) idle++;
            }
        }
        Assert.True(idle > 0, "the test needs at least one idle expert");
    }
}
