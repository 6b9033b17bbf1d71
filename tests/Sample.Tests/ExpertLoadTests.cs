using Qwen3Gen.Definitions;
using Qwen3Gen.Sample.Runs;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample.Tests;

public class ExpertLoadTests
{
    [Fact]
    public void ExpertLoadText_ShowsEverySparseLayer_WithSharesSummingToAllRoutedTokens()
    {
        using var model = Qwen3ShakespeareMoe.Create();
        WeightInit.Normal(model, 3);
        var ids = Enumerable.Range(0, 2 * 16).Select(i => (i * 7919) % 256).ToArray();
        model.Forward(ids, CausalLm.ShiftedTargets(ids, 2, 16), 2, 16);
        string text = TrainRun.ExpertLoadText(model, 5);
        for (int layer = 0; layer < Qwen3ShakespeareMoe.Layers; layer++)
        {
            Assert.Contains($"layer {layer}:", text);
            Assert.Equal(2 * 16 * Qwen3ShakespeareMoe.ExpertsPerToken, model.ExpertLoad(layer).Sum());
        }
        Assert.Contains("aux loss", text);
    }
}
