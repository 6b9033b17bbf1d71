using Qwen3Gen.Inference;
using Xunit.Abstractions;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// RoPE scaling set at run time (what a model directory does with config.json's rope_scaling) against the float64
/// fixtures with positions past original_max_position_embeddings. The compile-time path (definitions declared from
/// the same config.json) runs in <see cref="DenseGoldenTests"/> and <see cref="KvCacheTests"/>.
/// </summary>
public class RopeScalingGoldenTests(ITestOutputHelper output) : IClassFixture<TestCatalog>
{
    /// <summary>Every golden case whose config.json has RoPE scaling (a fixture added to golden/ joins automatically).</summary>
    public static TheoryData<string> ScaledCases()
    {
        var data = new TheoryData<string>();
        string root = Path.Combine(AppContext.BaseDirectory, "Fixtures", "golden");
        foreach (var dir in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
        {
            string config = Path.Combine(dir, "config.json");
            if (File.Exists(config) && ModelConfig.FromHuggingFaceJson(File.ReadAllText(config), config).RopeScaling.Type != RopeType.Default)
                data.Add(Path.GetFileName(dir));
        }
        return data;
    }

    [Fact]
    public void ScaledCases_AreFound()
    {
        var cases = ScaledCases().Cast<object[]>().Select(row => (string)row[0]).ToArray();
        Assert.Contains("dense-yarn", cases);
        Assert.Contains("dense-yarn-mscale", cases);
        Assert.Contains("dense-linear", cases);
    }

    /// <summary>
    /// ModelDirectory.Load on the fixture directory: the matched definition gets config.json's scaling; its logits, and
    /// a session's prefill + decode logits past the trained context, equal the fixture's.
    /// </summary>
    [Theory, MemberData(nameof(ScaledCases))]
    public void ModelDirectory_AppliesConfigScaling_AndMatchesGolden(string caseName)
    {
        string dir = FixtureFile.CaseDir(caseName);
        using var loaded = ModelDirectory.Load(dir, WeightFormat.F32);
        var config = ModelConfig.FromHuggingFaceJson(File.ReadAllText(Path.Combine(dir, "config.json")));
        Assert.Equal(config.RopeScaling, loaded.Model.RopeScaling);
        output.WriteLine($"{caseName}: {loaded.Definition.Name} with {loaded.Model.RopeScaling}, position limit {loaded.Model.PositionLimit}");

        var expected = new FixtureFile(Path.Combine(dir, "expected.safetensors"));
        CheckLogitsAndSession(loaded.Model, expected);
    }

    /// <summary>A definition compiled without scaling runs dense-yarn once config.json's scaling is set on it.</summary>
    [Fact]
    public void UnscaledDefinition_WithRunTimeYarn_MatchesGolden()
    {
        using var model = DenseYarnUnscaled.Create();
        Assert.Equal(RopeScaling.None, model.RopeScaling);
        DenseGoldenTests.LoadWeights(model, "dense-yarn");
        string dir = FixtureFile.CaseDir("dense-yarn");
        model.RopeScaling = ModelConfig.FromHuggingFaceJson(File.ReadAllText(Path.Combine(dir, "config.json"))).RopeScaling;
        Assert.Equal(RopeScaling.Yarn(4.0, 64), model.RopeScaling);
        var expected = new FixtureFile(Path.Combine(dir, "expected.safetensors"));
        CheckLogitsAndSession(model, expected);
        DenseGoldenTests.CompareIntermediates(output, model, expected);
    }

    private void CheckLogitsAndSession(IQwen3Model model, FixtureFile expected)
    {
        var (ids, batch, seqLen) = DenseGoldenTests.Inputs(expected);
        var logits = expected.F32("logits");
        model.Forward(ids, CausalLm.ShiftedTargets(ids, batch, seqLen), batch, seqLen);
        Compare.Close(output, "logits", logits, model.Logits, Tolerances.Logits);

        int vocab = model.Config.Vocab, prefill = seqLen / 3;
        using var session = model.CreateSession(capacity: seqLen, chunk: 7);
        var last = session.Prefill(ids.AsSpan(0, prefill)).ToArray();
        Compare.Close(null, $"prefill[{prefill - 1}]", logits.AsSpan((prefill - 1) * vocab, vocab), last, Tolerances.Logits);
        for (int t = prefill; t < seqLen; t++)
            Compare.Close(null, $"decode[{t}]", logits.AsSpan(t * vocab, vocab), session.Decode(ids[t]), Tolerances.Logits);
    }

    [Fact]
    public void PositionLimit_FollowsTheScaling_AndSessionsBeyondItAreRefused()
    {
        using var model = DenseYarnUnscaled.Create();
        Assert.Equal(256, model.PositionLimit);                              // max_position_embeddings
        model.RopeScaling = RopeScaling.Yarn(8.0, 64);
        Assert.Equal(512, model.PositionLimit);                              // factor × original
        using (var session = model.CreateSession(capacity: 400)) Assert.Equal(400, session.Capacity);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateSession(capacity: 513));
        Assert.Contains("1..512", e.Message);
        Assert.Contains("yarn (factor 8", e.Message);

        var bad = Assert.Throws<ArgumentException>(() => model.RopeScaling = RopeScaling.Yarn(0.5, 64));
        Assert.Contains("factor (0.5) must be a finite number at least 1", bad.Message);
    }
}
