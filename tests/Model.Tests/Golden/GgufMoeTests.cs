using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;
using Xunit.Abstractions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// A Qwen3-MoE model through GGUF: the moe golden weights written as a Q8_0 <c>qwen3moe</c> file (experts stacked,
/// router F32; rows of 48 stay F32, rows of 32 become Q8_0) and loaded back through <see cref="ModelDirectory.Load"/>:
/// the metadata selects MoeTied, and the int8 engine on the stored expert blocks agrees with the exact float32
/// engine on the same file's dequantised weights (NMSE ≤ 5e-4, the README's bound for int8 activations) and with the
/// float64 truth of the unquantised weights to within the quantisation error.
/// </summary>
public class GgufMoeTests(ITestOutputHelper output) : IClassFixture<TestCatalog>
{
    [Fact]
    public void MoeThroughGguf_Q8_0_MatchesTheFloatEngineAndTheGolden()
    {
        using var dir = new TempDirectory();
        string path = dir["moe-q8_0.gguf"];
        using (var source = DenseGoldenTests.Load("moe"))
            GgufExport.Write(source, GgufRecipe.Q8_0, path, tokenizerDirectory: null, name: "moe", byteLevel: true);
        using (var file = GgufFile.Open(path))
        {
            Assert.Equal("qwen3moe", file.Metadata.GetString("general.architecture"));
            Assert.Equal([32L, 48L, 4L], file["blk.0.ffn_down_exps.weight"].Ne);
            Assert.Equal(GgmlType.Q8_0, file["blk.0.ffn_down_exps.weight"].Type);
            Assert.Equal(GgmlType.F32, file["blk.0.ffn_gate_exps.weight"].Type);   // rows of 48: not whole blocks
            Assert.Equal(GgmlType.F32, file["blk.0.ffn_gate_inp.weight"].Type);
        }
        var expected = new FixtureFile(Path.Combine(FixtureFile.CaseDir("moe"), "expected.safetensors"));
        var (ids, batch, seqLen) = DenseGoldenTests.Inputs(expected);
        float[] Run(WeightFormat? format)
        {
            using var loaded = ModelDirectory.Load(path, format);
            Assert.Equal(nameof(MoeTied), loaded.Definition.Name);
            loaded.Model.Forward(ids, CausalLm.ShiftedTargets(ids, batch, seqLen), batch, seqLen);
            return loaded.Model.Logits.ToArray();
        }
        var quantized = Run(null);
        var exact = Run(WeightFormat.F32);
        double vsExact = Nmse(quantized, exact), vsTruth = Nmse(quantized, expected.F32("logits"));
        output.WriteLine($"int8 engine vs float32 engine NMSE {vsExact:E2}; vs float64 truth of the unquantised weights {vsTruth:E2}");
        Assert.True(vsExact <= Tolerances.GgufInt8Nmse, $"NMSE vs the float engine {vsExact:E3}");
        Assert.True(vsTruth <= 5e-3, $"NMSE vs the truth {vsTruth:E3}: far above Q8_0's quantisation error");
    }

    private static double Nmse(ReadOnlySpan<float> x, ReadOnlySpan<float> e)
    {
        double err = 0, norm = 0;
        for (int i = 0; i < e.Length; i++)
        {
            err += ((double)x[i] - e[i]) * ((double)x[i] - e[i]);
            norm += (double)e[i] * e[i];
        }
        return err / norm;
    }
}
