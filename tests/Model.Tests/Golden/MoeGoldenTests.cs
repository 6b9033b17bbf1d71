using Xunit.Abstractions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// The generated Qwen3-MoE models against the MoE fixtures: router outputs of every sparse layer, aux loss, total
/// loss, logits, intermediates, every gradient. `moe`: top-2 of 4, renormalised, every layer sparse, tied;
/// `moe-mixed`: top-3 of 8, not renormalised, dense and sparse layers mixed (step 2 + mlp_only_layers), untied.
/// </summary>
public class MoeGoldenTests(ITestOutputHelper output)
{
    public static TheoryData<string> Cases => new() { "moe", "moe-mixed" };

    private static FixtureFile Expected(string caseName) => new(Path.Combine(FixtureFile.CaseDir(caseName), "expected.safetensors"));

    [Theory, MemberData(nameof(Cases))]
    public void RouterLossAndLogits_MatchGolden(string caseName)
    {
        using var model = DenseGoldenTests.Load(caseName);
        var expected = Expected(caseName);
        var (ids, batch, seqLen) = DenseGoldenTests.Inputs(expected);
        float total = model.Forward(ids, CausalLm.ShiftedTargets(ids, batch, seqLen), batch, seqLen);
        var moe = Assert.IsAssignableFrom<IMoeModel>(model);

        // The fixture has router outputs exactly for the layers the spec's rule makes sparse.
        int sparse = 0;
        for (int l = 0; l < model.Config.Layers; l++)
        {
            Assert.True(model.Config.IsSparse(l) == expected.Has($"router_logits.{l}"),
                $"layer {l}: the model says sparse = {model.Config.IsSparse(l)}, the fixture disagrees");
            if (!model.Config.IsSparse(l)) continue;
            sparse++;
            Compare.Close(output, $"router_logits.{l}", expected.F32($"router_logits.{l}"), moe.RouterLogits(l), Tolerances.RouterLogits);
            Compare.Close(output, $"routing_weights.{l}", expected.F32($"routing_weights.{l}"), moe.RoutingWeights(l), Tolerances.RouterLogits);
            var selected = expected.I64($"selected_experts.{l}").Select(x => (int)x).ToArray();
            Assert.Equal(selected, moe.SelectedExperts(l));
        }
        Assert.True(sparse > 0);
        Compare.Close(output, "aux_loss", expected.F32("aux_loss"), [moe.AuxLoss], Tolerances.Loss);
        Compare.Close(output, "loss", expected.F32("loss"), [moe.CrossEntropyLoss], Tolerances.Loss);
        Compare.Close(output, "total_loss", expected.F32("total_loss"), [total], Tolerances.Loss);
        Compare.Close(output, "logits", expected.F32("logits"), model.Logits, Tolerances.Logits);
        DenseGoldenTests.CompareIntermediates(output, model, expected);
    }

    /// <summary>
    /// The loss of a Forward on inference work buffers (what a quantised or BF16 model gets, and `perplexity` uses): the
    /// layers share one set of buffers, so the aux loss is pooled as each layer ends; the total must be the training
    /// buffers' bit for bit, and the golden's (it was NaN before: the pooled statistics were read after the pass).
    /// </summary>
    [Theory, MemberData(nameof(Cases))]
    public void TotalLoss_OnInferenceBuffers_EqualsTrainingBuffers_AndGolden(string caseName)
    {
        var expected = Expected(caseName);
        var (ids, batch, seqLen) = DenseGoldenTests.Inputs(expected);
        var targets = CausalLm.ShiftedTargets(ids, batch, seqLen);
        using var training = DenseGoldenTests.Load(caseName);
        float trainingTotal = training.Forward(ids, targets, batch, seqLen);
        using var inference = DenseGoldenTests.Load(caseName);
        inference.Reserve(batch, seqLen, training: false);
        float inferenceTotal = inference.Forward(ids, targets, batch, seqLen);
        Assert.Equal(BitConverter.SingleToInt32Bits(trainingTotal), BitConverter.SingleToInt32Bits(inferenceTotal));
        Assert.Equal(((IMoeModel)training).AuxLoss, ((IMoeModel)inference).AuxLoss);
        Compare.Close(output, "total_loss", expected.F32("total_loss"), [inferenceTotal], Tolerances.Loss);
    }

    [Theory, MemberData(nameof(Cases))]
    public void Gradients_MatchGolden(string caseName)
    {
        using var model = DenseGoldenTests.Load(caseName);
        var expected = Expected(caseName);
        var (ids, batch, seqLen) = DenseGoldenTests.Inputs(expected);
        model.ZeroGradients();
        model.Forward(ids, CausalLm.ShiftedTargets(ids, batch, seqLen), batch, seqLen);
        model.Backward();
        foreach (var t in model.Tensors)
            Compare.Close(output, "grad." + t.Name, expected.F32("grad." + t.Name), model.Gradients.Slice(t.Offset, (int)t.Length), Tolerances.Grad);
        DenseGoldenTests.AssertStructuralZeros(output, model, expected);
    }

    /// <summary>
    /// Without renormalisation the routing weights are the raw softmax probabilities: they sum to less than 1, and
    /// each equals softmax(router_logits) at the selected expert (an identity checked on the fixture's own numbers
    /// and then on the model's).
    /// </summary>
    [Fact]
    public void MoeMixed_RoutingWeights_AreUnrenormalisedProbabilities()
    {
        using var model = DenseGoldenTests.Load("moe-mixed");
        var expected = Expected("moe-mixed");
        var (ids, batch, seqLen) = DenseGoldenTests.Inputs(expected);
        model.Forward(ids, CausalLm.ShiftedTargets(ids, batch, seqLen), batch, seqLen);
        Assert.False(model.Config.NormTopKProb);
        foreach (int l in new[] { 1, 5 })
        {
            var logits = expected.F32($"router_logits.{l}");
            var weights = ((IMoeModel)model).RoutingWeights(l);
            var selected = expected.I64($"selected_experts.{l}");
            int e = MoeMixed.Experts, k = MoeMixed.ExpertsPerToken;
            for (int r = 0; r < batch * seqLen; r++)
            {
                double max = double.NegativeInfinity, sum = 0, picked = 0;
                for (int j = 0; j < e; j++) max = Math.Max(max, logits[r * e + j]);
                for (int j = 0; j < e; j++) sum += Math.Exp(logits[r * e + j] - max);
                for (int j = 0; j < k; j++)
                {
                    double p = Math.Exp(logits[r * e + selected[r * k + j]] - max) / sum;
                    Assert.True(Math.Abs(weights![r * k + j] - p) <= 1e-6, $"layer {l} row {r} slot {j}: weight {weights[r * k + j]} vs softmax {p}");
                    picked += weights[r * k + j];
                }
                Assert.True(picked < 0.999, $"layer {l} row {r}: the top-{k} weights sum to {picked}, so they were renormalised");
            }
        }
    }
}
