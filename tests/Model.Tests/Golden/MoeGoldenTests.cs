using Xunit.Abstractions;

namespace Qwen3Gen.Model.Tests;

/// <summary>The generated Qwen3-MoE against the `moe` fixture: router outputs, aux loss, total loss, logits, every gradient.</summary>
public class MoeGoldenTests(ITestOutputHelper output)
{
    private static FixtureFile Expected() => new(Path.Combine(FixtureFile.CaseDir("moe"), "expected.safetensors"));

    [Fact]
    public void RouterLossAndLogits_MatchGolden()
    {
        using var model = (MoeTied)DenseGoldenTests.Load("moe");
        var expected = Expected();
        var (ids, batch, seqLen) = DenseGoldenTests.Inputs(expected);
        float total = model.Forward(ids, CausalLm.ShiftedTargets(ids, batch, seqLen), batch, seqLen);

        for (int l = 0; l < MoeTied.Layers; l++)
        {
            Compare.Close(output, $"router_logits.{l}", expected.F32($"router_logits.{l}"), model.DebugTensor($"router_logits.{l}"), Tolerances.RouterLogits);
            Compare.Close(output, $"routing_weights.{l}", expected.F32($"routing_weights.{l}"), model.DebugTensor($"routing_weights.{l}"), Tolerances.RouterLogits);
            var selected = expected.I64($"selected_experts.{l}").Select(x => (float)x).ToArray();
            Assert.Equal(selected, model.DebugTensor($"selected_experts.{l}"));
        }
        Compare.Close(output, "aux_loss", expected.F32("aux_loss"), [model.AuxLoss], Tolerances.Loss);
        Compare.Close(output, "loss", expected.F32("loss"), [model.CrossEntropyLoss], Tolerances.Loss);
        Compare.Close(output, "total_loss", expected.F32("total_loss"), [total], Tolerances.Loss);
        Compare.Close(output, "logits", expected.F32("logits"), model.Logits, Tolerances.Logits);
    }

    [Fact]
    public void Gradients_MatchGolden()
    {
        using var model = DenseGoldenTests.Load("moe");
        var expected = Expected();
        var (ids, batch, seqLen) = DenseGoldenTests.Inputs(expected);
        model.ZeroGradients();
        model.Forward(ids, CausalLm.ShiftedTargets(ids, batch, seqLen), batch, seqLen);
        model.Backward();
        foreach (var t in model.Tensors)
            Compare.Close(output, "grad." + t.Name, expected.F32("grad." + t.Name), model.Gradients.Slice(t.Offset, (int)t.Length), Tolerances.Grad);
    }
}
