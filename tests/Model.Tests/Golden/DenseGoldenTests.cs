using Xunit.Abstractions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// The generated dense models against the float64 Hugging Face-semantics fixtures: logits, loss, intermediates,
/// every gradient. Tolerances: <see cref="Tolerances"/>.
/// </summary>
public class DenseGoldenTests(ITestOutputHelper output)
{
    public static TheoryData<string> Cases => new() { "dense-tied", "dense-untied", "dense-odd", "dense-long", "dense-yarn", "dense-yarn-mscale", "dense-linear" };

    /// <summary>Every golden case, dense and MoE.</summary>
    public static TheoryData<string> AllCases => new() { "dense-tied", "dense-untied", "dense-odd", "dense-long", "moe", "moe-mixed",
                                                         "dense-yarn", "dense-yarn-mscale", "dense-linear" };

    internal static IQwen3Model Load(string caseName)
    {
        IQwen3Model model = caseName switch
        {
            "dense-tied" => DenseTied.Create(),
            "dense-untied" => DenseUntied.Create(),
            "moe" => MoeTied.Create(),
            "dense-odd" => DenseOdd.Create(),
            "dense-long" => DenseLong.Create(),
            "moe-mixed" => MoeMixed.Create(),
            "dense-yarn" => DenseYarn.Create(),
            "dense-yarn-mscale" => DenseYarnMscale.Create(),
            "dense-linear" => DenseLinear.Create(),
            _ => throw new ArgumentException(caseName),
        };
        LoadWeights(model, caseName);
        return model;
    }

    /// <summary>The fixture's weights into <paramref name="model"/> (shapes checked).</summary>
    internal static void LoadWeights(IQwen3Model model, string caseName)
    {
        var file = new FixtureFile(Path.Combine(FixtureFile.CaseDir(caseName), "model.safetensors"));
        foreach (var t in model.Tensors)
        {
            Assert.Equal(t.Shape, file.Shape(t.Name));
            model.Weights.Set(t, file.F32(t.Name));
        }
    }

    internal static (int[] Ids, int Batch, int SeqLen) Inputs(FixtureFile expected)
    {
        var shape = expected.Shape("input_ids");
        return (expected.I64("input_ids").Select(x => (int)x).ToArray(), shape[0], shape[1]);
    }

    [Theory, MemberData(nameof(Cases))]
    public void LogitsLossAndIntermediates_MatchGolden(string caseName)
    {
        using var model = Load(caseName);
        var expected = new FixtureFile(Path.Combine(FixtureFile.CaseDir(caseName), "expected.safetensors"));
        var (ids, batch, seqLen) = Inputs(expected);
        float loss = model.Forward(ids, CausalLm.ShiftedTargets(ids, batch, seqLen), batch, seqLen);

        Compare.Close(output, "loss", expected.F32("loss"), [loss], Tolerances.Loss);
        Compare.Close(output, "logits", expected.F32("logits"), model.Logits, Tolerances.Logits);
        CompareIntermediates(output, model, expected);
    }

    /// <summary>debug.embed, debug.layer_out.*, debug.final_norm and the RoPE tables of the last Forward.</summary>
    internal static void CompareIntermediates(ITestOutputHelper output, IQwen3Model model, FixtureFile expected)
    {
        var debug = model;
        Compare.Close(output, "debug.embed", expected.F32("debug.embed"), debug.DebugTensor("embed"), Tolerances.Activations);
        for (int i = 0; i < model.Config.Layers; i++)
            Compare.Close(output, $"debug.layer_out.{i}", expected.F32($"debug.layer_out.{i}"), debug.DebugTensor($"layer_out.{i}"), Tolerances.Activations);
        Compare.Close(output, "debug.final_norm", expected.F32("debug.final_norm"), debug.DebugTensor("final_norm"), Tolerances.Activations);
        Compare.Close(output, "debug.rope_cos", expected.F32("debug.rope_cos"), debug.DebugTensor("rope_cos"), Tolerances.Activations);
        Compare.Close(output, "debug.rope_sin", expected.F32("debug.rope_sin"), debug.DebugTensor("rope_sin"), Tolerances.Activations);
    }

    /// <summary>
    /// Each declaration in GoldenModels.cs describes exactly its fixture's config.json, so a golden failure can
    /// only be the generated code's, never a mistyped attribute.
    /// </summary>
    [Theory, MemberData(nameof(AllCases))]
    public void Declarations_MatchFixtureConfigJson(string caseName)
    {
        using var model = Load(caseName);
        var path = Path.Combine(FixtureFile.CaseDir(caseName), "config.json");
        var fromJson = ModelConfig.FromHuggingFaceJson(File.ReadAllText(path), path);
        var differences = model.Config.Differences(fromJson);
        Assert.True(differences.Count == 0, $"{caseName}: declaration vs config.json: " + string.Join("; ", differences));
        Assert.Equal(fromJson.RopeScaling, model.RopeScaling);     // the generator's and the runtime's readers agree
    }

    [Theory, MemberData(nameof(Cases))]
    public void Gradients_MatchGolden(string caseName)
    {
        using var model = Load(caseName);
        var expected = new FixtureFile(Path.Combine(FixtureFile.CaseDir(caseName), "expected.safetensors"));
        var (ids, batch, seqLen) = Inputs(expected);
        model.ZeroGradients();
        model.Forward(ids, CausalLm.ShiftedTargets(ids, batch, seqLen), batch, seqLen);
        model.Backward();
        foreach (var t in model.Tensors)
        {
            var grad = model.Gradients.Slice(t.Offset, (int)t.Length);
            Compare.Close(output, "grad." + t.Name, expected.F32("grad." + t.Name), grad, Tolerances.Grad);
        }
        AssertStructuralZeros(output, model, expected);
    }

    /// <summary>
    /// Where the float64 gradient is exactly zero (embedding rows of tokens absent from an untied model's input,
    /// experts that received no token), the generated gradient must be exactly zero too, not merely small.
    /// </summary>
    internal static void AssertStructuralZeros(ITestOutputHelper output, IQwen3Model model, FixtureFile expected)
    {
        int zeros = 0;
        foreach (var t in model.Tensors)
        {
            var want = expected.F32("grad." + t.Name);
            var got = model.Gradients.Slice(t.Offset, (int)t.Length);
            for (int i = 0; i < want.Length; i++)
            {
                if (want[i] != 0) continue;
                zeros++;
                Assert.True(got[i] == 0, $"grad.{t.Name}[{i}] is {got[i]:R}; the reference gradient is exactly 0");
            }
        }
        output.WriteLine($"{zeros} gradient elements are exactly 0 in the reference and here");
    }
}
