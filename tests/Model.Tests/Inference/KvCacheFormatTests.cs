using Xunit.Abstractions;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// Compact KV caches (BF16, F16, Q8_0) against the F32 cache: NMSE of the logits of every position of the fixtures'
/// inputs (prefill in chunks, then one decode per token), and greedy agreement over a long generation. The bounds are
/// about ten times the measured values (docs/long-context.md gives the measurements).
/// </summary>
public class KvCacheFormatTests(ITestOutputHelper output)
{
    /// <summary>NMSE = Σ (x − ref)² / Σ ref² over every position and vocabulary entry.</summary>
    private static double Nmse(float[] reference, float[] x)
    {
        double num = 0, den = 0;
        for (int i = 0; i < reference.Length; i++) { double d = x[i] - reference[i]; num += d * d; den += (double)reference[i] * reference[i]; }
        return num / den;
    }

    private static float[] SessionLogits(IQwen3Model model, int[] ids, KvCacheFormat format, int prefill, int chunk)
    {
        int vocab = model.Config.Vocab;
        var all = new float[ids.Length * vocab];
        using var session = model.CreateSession(capacity: ids.Length, chunk: chunk, cacheFormat: format);
        Assert.Equal(format, session.CacheFormat);
        session.Prefill(ids.AsSpan(0, prefill)).CopyTo(all.AsSpan((prefill - 1) * vocab));
        for (int t = prefill; t < ids.Length; t++) session.Decode(ids[t]).CopyTo(all.AsSpan(t * vocab));
        // positions before the prefill's last are not returned by a session: compare from prefill − 1 on
        return all.AsSpan((prefill - 1) * vocab).ToArray();
    }

    [Theory]
    [InlineData("dense-yarn", KvCacheFormat.BF16, 2e-5)]
    [InlineData("dense-yarn", KvCacheFormat.F16, 1e-6)]
    [InlineData("dense-yarn", KvCacheFormat.Q8_0, 2e-4)]
    [InlineData("dense-long", KvCacheFormat.BF16, 2e-5)]
    [InlineData("dense-long", KvCacheFormat.F16, 1e-6)]
    [InlineData("dense-long", KvCacheFormat.Q8_0, 2e-4)]
    [InlineData("dense-odd", KvCacheFormat.Q8_0, 2e-4)]       // head_dim 12: one Q8_0 scale per head row, scalar loops
    [InlineData("dense-odd", KvCacheFormat.F16, 1e-6)]
    [InlineData("moe-mixed", KvCacheFormat.BF16, 2e-5)]
    public void CompactCache_LogitsStayCloseToF32(string caseName, KvCacheFormat format, double bound)
    {
        using var model = DenseGoldenTests.Load(caseName);
        var expected = new FixtureFile(Path.Combine(FixtureFile.CaseDir(caseName), "expected.safetensors"));
        var (ids, _, seqLen) = DenseGoldenTests.Inputs(expected);
        ids = ids.AsSpan(0, seqLen).ToArray();
        int prefill = seqLen / 2;
        var f32 = SessionLogits(model, ids, KvCacheFormat.F32, prefill, chunk: 16);
        var compact = SessionLogits(model, ids, format, prefill, chunk: 16);
        double nmse = Nmse(f32, compact);
        output.WriteLine($"{caseName} {format}: NMSE of logits vs the F32 cache over positions {prefill - 1}..{seqLen - 1}: {nmse:E2}");
        Assert.True(nmse > 0, "a compact cache that changes nothing was not used");
        Assert.True(nmse < bound, $"NMSE {nmse:E2} ≥ {bound:E0}");
    }

    /// <summary>
    /// Greedy continuation of dense-yarn's prompt to 240 positions (YaRN positions up to 4 × the 64 trained ones) with each
    /// cache: the number of tokens equal to the F32 cache's before the first difference.
    /// </summary>
    [Theory]
    [InlineData(KvCacheFormat.BF16, 150)]
    [InlineData(KvCacheFormat.F16, 150)]
    [InlineData(KvCacheFormat.Q8_0, 150)]
    public void LongGreedyGeneration_AgreesWithF32(KvCacheFormat format, int atLeast)
    {
        using var model = DenseGoldenTests.Load("dense-yarn");
        var expected = new FixtureFile(Path.Combine(FixtureFile.CaseDir("dense-yarn"), "expected.safetensors"));
        var (ids, _, _) = DenseGoldenTests.Inputs(expected);
        var prompt = ids.AsSpan(0, 40).ToArray();
        const int length = 240;
        var reference = Greedy(model, prompt, length, KvCacheFormat.F32);
        var compact = Greedy(model, prompt, length, format);
        int agree = 0;
        while (agree < length - prompt.Length && reference[agree] == compact[agree]) agree++;
        output.WriteLine($"{format}: {agree} of {length - prompt.Length} greedy tokens equal to the F32 cache's before the first difference");
        Assert.True(agree >= atLeast, $"only {agree} tokens agree");
    }

    private static int[] Greedy(IQwen3Model model, int[] prompt, int length, KvCacheFormat format)
    {
        using var session = model.CreateSession(capacity: length, chunk: 32, cacheFormat: format);
        var logits = session.Prefill(prompt);
        var generated = new List<int>();
        while (session.Position < length)
        {
            int next = 0;
            for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[next]) next = i;
            generated.Add(next);
            if (session.Position < length) logits = session.Decode(next);
        }
        return generated.ToArray();
    }

    [Fact]
    public void CompactCache_IsSmaller_AndDecodesPastTheTrainedContext()
    {
        using var model = DenseGoldenTests.Load("dense-yarn");
        Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateSession(8, cacheFormat: (KvCacheFormat)9));
        using var session = model.CreateSession(capacity: 256, cacheFormat: KvCacheFormat.Q8_0);
        var ids = Enumerable.Range(0, 200).Select(i => i * 7 % 128).ToArray();
        var logits = session.Prefill(ids);
        Assert.All(logits.ToArray(), x => Assert.True(float.IsFinite(x)));
        Assert.Equal(200, session.Position);
    }
}
