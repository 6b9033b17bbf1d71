using Qwen3Gen.Inference;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>Long prompts: progress lines per 1024-token slice, the same logits as one prefill, clear errors up front.</summary>
public class PrefillProgressTests
{
    private static IQwen3Model LongModel()
    {
        var model = DenseYarnUnscaled.Create();
        DenseGoldenTests.LoadWeights(model, "dense-yarn");
        model.RopeScaling = RopeScaling.Yarn(64.0, 64);          // 4096 positions
        return model;
    }

    [Fact]
    public void LongPrompt_ReportsProgress_AndGivesTheSameLogits()
    {
        using var model = LongModel();
        var rng = new Random(3);
        var ids = Enumerable.Range(0, 2500).Select(_ => rng.Next(128)).ToArray();
        using var plain = model.CreateSession(2600);
        var expected = plain.Prefill(ids).ToArray();

        var report = new StringWriter();
        using var session = new PrefillProgress(model.CreateSession(2600), report);
        var logits = session.Prefill(ids).ToArray();
        Assert.Equal(expected, logits);                               // slices of 1024 = 8 chunks of 128: the same computation
        var lines = report.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("prefill 1024/2500 tokens, ", lines[0]);
        Assert.StartsWith("prefill 2048/2500 tokens, ", lines[1]);
        Assert.StartsWith("prefill 2500/2500 tokens, ", lines[2]);
        Assert.Equal(2500, session.Position);

        var quiet = new StringWriter();
        using var small = new PrefillProgress(model.CreateSession(64), quiet);
        small.Prefill(ids.AsSpan(0, 50));
        Assert.Equal("", quiet.ToString());                           // short prompts: no progress lines
    }

    [Fact]
    public void PromptBeyondCapacityOrPositions_FailsAtOnce_WithTheNumbers()
    {
        using var model = LongModel();
        using var session = new PrefillProgress(model.CreateSession(2048), TextWriter.Null);
        var e = Assert.Throws<InvalidOperationException>(() => session.Prefill(new int[3000]));
        Assert.Contains("0 cached + 3000 new tokens exceed the session's 2048 positions", e.Message);
        Assert.Equal(0, session.Position);
        var limit = Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateSession(5000));
        Assert.Contains("1..4096", limit.Message);
    }
}
