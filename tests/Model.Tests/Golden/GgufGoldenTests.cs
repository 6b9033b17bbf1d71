using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;
using Xunit.Abstractions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// GGUF files loaded through <see cref="ModelDirectory.Load"/> (metadata → definition, GGUF names → HF keys,
/// tokenizer from the metadata) against the float64 outputs of tests/Fixtures/golden-gguf/dense-q.
/// </summary>
public class GgufGoldenTests(ITestOutputHelper output) : IClassFixture<TestCatalog>
{
    public static TheoryData<string> Types => new() { "f32", "q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k" };

    internal static string CaseFile(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "golden-gguf", "dense-q", name);

    [Theory, MemberData(nameof(Types))]
    public void Float32Engine_MatchesGolden(string type)
    {
        using var loaded = ModelDirectory.Load(CaseFile($"model-{type}.gguf"), WeightFormat.F32);
        Assert.Equal(nameof(DenseQ), loaded.Definition.Name);
        Assert.NotNull(loaded.Gguf);
        var expected = new FixtureFile(CaseFile($"expected-{type}.safetensors"));
        var (ids, batch, seqLen) = DenseGoldenTests.Inputs(expected);
        float loss = loaded.Model.Forward(ids, CausalLm.ShiftedTargets(ids, batch, seqLen), batch, seqLen);
        Compare.Close(output, "loss", expected.F32("loss"), [loss], Tolerances.GgufLoss);
        Compare.Close(output, "logits", expected.F32("logits"), loaded.Model.Logits, Tolerances.GgufLogits);
        Assert.Equal(expected.I64("greedy.ids").Select(x => (int)x).ToArray(), Greedy(loaded.Model, expected));
    }

    /// <summary>
    /// The default load keeps the matrices in their stored blocks (memory-mapped) and multiplies them with int8
    /// activations: NMSE of all logits ≤ 5e-4 against the float64 truth, loss within 2e-3, greedy ids identical.
    /// </summary>
    [Theory, MemberData(nameof(Types))]
    public void Int8Engine_OnStoredBlocks_MatchesGolden(string type)
    {
        using var loaded = ModelDirectory.Load(CaseFile($"model-{type}.gguf"));
        Assert.Equal(WeightFormat.Quantized, loaded.Format);
        var expected = new FixtureFile(CaseFile($"expected-{type}.safetensors"));
        var (ids, batch, seqLen) = DenseGoldenTests.Inputs(expected);
        float loss = loaded.Model.Forward(ids, CausalLm.ShiftedTargets(ids, batch, seqLen), batch, seqLen);
        var want = expected.F32("logits");
        var got = loaded.Model.Logits;
        double err = 0, norm = 0;
        for (int i = 0; i < want.Length; i++)
        {
            err += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
            norm += (double)want[i] * want[i];
        }
        double nmse = err / norm;
        output.WriteLine($"{type}: NMSE {nmse:E2} (limit {Tolerances.GgufInt8Nmse:E0}), loss error {Math.Abs(loss - expected.F32("loss")[0]):E2}");
        Assert.True(nmse <= Tolerances.GgufInt8Nmse, $"{type}: NMSE {nmse:E3} > {Tolerances.GgufInt8Nmse}");
        Assert.True(Math.Abs(loss - expected.F32("loss")[0]) <= Tolerances.GgufInt8Loss, $"{type}: loss {loss} vs {expected.F32("loss")[0]}");
        Assert.Equal(expected.I64("greedy.ids").Select(x => (int)x).ToArray(), Greedy(loaded.Model, expected));
    }

    /// <summary>The quantised kernels split outputs, never a sum: logits bit-identical on 1, 2 and 3 threads.</summary>
    [Fact]
    public void Int8Engine_IsBitIdenticalForAnyThreadCount()
    {
        int saved = Threading.Workers.Threads;
        try
        {
            float[]? first = null;
            foreach (int threads in new[] { 1, 2, 3 })
            {
                Threading.Workers.Threads = threads;
                foreach (var type in new[] { "q4_k_m", "q4_0" })
                {
                    using var loaded = ModelDirectory.Load(CaseFile($"model-{type}.gguf"));
                    var expected = new FixtureFile(CaseFile($"expected-{type}.safetensors"));
                    var (ids, batch, seqLen) = DenseGoldenTests.Inputs(expected);
                    loaded.Model.Forward(ids, CausalLm.ShiftedTargets(ids, batch, seqLen), batch, seqLen);
                    var logits = loaded.Model.Logits.ToArray();
                    if (type == "q4_k_m")
                    {
                        if (first is null) first = logits;
                        else Assert.True(first.AsSpan().SequenceEqual(logits), $"{threads} threads: logits differ from 1 thread");
                    }
                }
            }
        }
        finally
        {
            Threading.Workers.Threads = saved;
        }
    }

    /// <summary>input_ids[0, :5] and 8 greedy tokens, with the KV-cached session.</summary>
    internal static int[] Greedy(IQwen3Model model, FixtureFile expected)
    {
        var ids = expected.I64("input_ids").Select(x => (int)x).ToList();
        var result = ids.Take(5).ToList();
        using var session = model.CreateSession(capacity: 16);
        var logits = session.Prefill(result.ToArray());
        for (int step = 0; step < 8; step++)
        {
            int next = 0;
            for (int v = 1; v < logits.Length; v++)
                if (logits[v] > logits[next]) next = v;
            result.Add(next);
            if (step < 7) logits = session.Decode(next);
        }
        return result.ToArray();
    }

    [Fact]
    public void Tokenizer_ComesFromTheMetadata()
    {
        using var loaded = ModelDirectory.Load(CaseFile("model-q4_k_m.gguf"));
        var tokenizer = Assert.IsType<Tokenization.Qwen3Tokenizer>(loaded.LoadTokenizer());
        Assert.Equal(266, tokenizer.ImEndId);
        Assert.Equal([265], tokenizer.Encode("<|im_start|>"));
        Assert.Equal(WeightFormat.Quantized, loaded.Format);
        Assert.Contains("12 Q4_K", loaded.Report.ToString());
    }

    [Fact]
    public void NoMatchingDefinition_NamesTheClosestAndTheAttribute()
    {
        using var dir = new TempDirectory();
        // The fixture with one more layer in its metadata: 3 instead of 2.
        var bytes = File.ReadAllBytes(CaseFile("model-q8_0.gguf"));
        var key = System.Text.Encoding.UTF8.GetBytes("qwen3.block_count");
        int at = bytes.AsSpan().IndexOf(key) + key.Length + 4;   // key, then u32 value type, then the value
        Assert.Equal(2u, BitConverter.ToUInt32(bytes, at));
        BitConverter.TryWriteBytes(bytes.AsSpan(at), 3u);
        string path = dir["Qwen3-Odd.gguf"];
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<InvalidDataException>(() => ModelDirectory.Load(path));
        Assert.Contains("Qwen3-Odd.gguf", ex.Message);
        Assert.Contains("Closest: DenseQ", ex.Message);
        Assert.Contains("Layers: 2 vs 3", ex.Message);
        Assert.Contains("[Qwen3Model(", ex.Message);
        Assert.Contains("public partial class Qwen3_Odd", ex.Message);
    }
}
