using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;
using Xunit.Abstractions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// What each quantisation recipe costs, measured end to end on the dense-q fixture (random N(0, 0.02) weights): the
/// F32 model is re-quantised by <c>qwen3gen quantize</c>'s writer (llama-quantize's blocks bit for bit) and run on the
/// int8 engine; against the F32 model on the float32 engine: the NMSE of all logits over a 5-token prompt followed by
/// the F32 model's 40 greedy tokens (teacher-forced), the top-1 agreement at those positions, and how many greedy steps
/// a free-running generation stays identical. The table in docs/quantization.md is this test's output.
/// </summary>
public class GgufQualityTests(ITestOutputHelper output) : IClassFixture<TestCatalog>
{
    private const int Steps = 40;

    [Fact]
    public void QuantisationCost_PerRecipe_IsOrderedByBits()
    {
        using var source = ModelDirectory.Load(GgufGoldenTests.CaseFile("model-f32.gguf"), WeightFormat.F32);
        var expected = new FixtureFile(GgufGoldenTests.CaseFile("expected-f32.safetensors"));
        int[] prompt = expected.I64("input_ids").Take(5).Select(x => (int)x).ToArray();
        int[] reference = Generate(source.Model, prompt, Steps);
        var (refLogits, _) = TeacherForced(source.Model, reference);

        using var dir = new TempDirectory();
        var nmse = new Dictionary<GgufRecipe, double>();
        output.WriteLine("| recipe | file bytes | NMSE of logits vs F32 | top-1 agreement | identical greedy steps |");
        output.WriteLine("| --- | --- | --- | --- | --- |");
        foreach (var recipe in new[] { GgufRecipe.Q8_0, GgufRecipe.Q6_K, GgufRecipe.Q5_K_M, GgufRecipe.Q4_K_M, GgufRecipe.Q4_0 })
        {
            string path = dir[$"{recipe}.gguf"];
            GgufExport.Write(source.Model, recipe, path, tokenizerDirectory: null, name: "dense-q", tokenizerFrom: source.Gguf!.Metadata);
            using var quantised = ModelDirectory.Load(path);
            Assert.Equal(WeightFormat.Quantized, quantised.Format);
            var (logits, top1) = TeacherForced(quantised.Model, reference);
            double err = 0, norm = 0;
            for (int i = 0; i < logits.Length; i++)
            {
                err += ((double)logits[i] - refLogits[i]) * ((double)logits[i] - refLogits[i]);
                norm += (double)refLogits[i] * refLogits[i];
            }
            int agree = 0;
            for (int p = prompt.Length - 1; p < reference.Length - 1; p++)
                if (top1[p] == reference[p + 1]) agree++;
            int[] greedy = Generate(quantised.Model, prompt, Steps);
            int same = 0;
            while (same < Steps && greedy[prompt.Length + same] == reference[prompt.Length + same]) same++;
            nmse[recipe] = err / norm;
            output.WriteLine($"| {recipe} | {new FileInfo(path).Length} | {err / norm:E1} | {agree}/{Steps} | {same}/{Steps} |");
        }
        // More bits, less error: each step down the ladder costs more than the one above (README figures: 2.2e-4,
        // 2.0e-3, 5.5e-3, 1.7e-2, 3.4e-2 for the float64 cost of the weights alone).
        Assert.True(nmse[GgufRecipe.Q8_0] < nmse[GgufRecipe.Q6_K]);
        Assert.True(nmse[GgufRecipe.Q6_K] < nmse[GgufRecipe.Q5_K_M]);
        Assert.True(nmse[GgufRecipe.Q5_K_M] < nmse[GgufRecipe.Q4_K_M]);
        Assert.True(nmse[GgufRecipe.Q4_K_M] < nmse[GgufRecipe.Q4_0]);
        Assert.True(nmse[GgufRecipe.Q8_0] < 1e-3, $"Q8_0 NMSE {nmse[GgufRecipe.Q8_0]}");
    }

    private static int[] Generate(IQwen3Model model, int[] prompt, int steps)
    {
        var ids = prompt.ToList();
        using var session = model.CreateSession(capacity: prompt.Length + steps);
        var logits = session.Prefill(prompt);
        for (int s = 0; s < steps; s++)
        {
            int next = ArgMax(logits);
            ids.Add(next);
            if (s < steps - 1) logits = session.Decode(next);
        }
        return ids.ToArray();
    }

    private static (float[] Logits, int[] Top1) TeacherForced(IQwen3Model model, int[] ids)
    {
        model.Forward(ids, [], 1, ids.Length);
        var logits = model.Logits.ToArray();
        int vocab = logits.Length / ids.Length;
        var top1 = new int[ids.Length];
        for (int p = 0; p < ids.Length; p++) top1[p] = ArgMax(logits.AsSpan(p * vocab, vocab));
        return (logits, top1);
    }

    private static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++)
            if (v[i] > v[best]) best = i;
        return best;
    }
}
