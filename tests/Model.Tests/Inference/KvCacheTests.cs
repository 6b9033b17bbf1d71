using Xunit.Abstractions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>KV-cached decoding against full recomputation and against the fixtures' greedy continuations.</summary>
public class KvCacheTests(ITestOutputHelper output)
{
    public static TheoryData<string> Cases => new() { "dense-tied", "dense-untied", "moe", "dense-odd", "dense-long", "moe-mixed",
                                                      "dense-yarn", "dense-yarn-mscale", "dense-linear" };

    private static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    [Theory, MemberData(nameof(Cases))]
    public void GreedyDecoding_ReproducesGoldenIds(string caseName)
    {
        using var model = DenseGoldenTests.Load(caseName);
        var expected = new FixtureFile(Path.Combine(FixtureFile.CaseDir(caseName), "expected.safetensors"));
        var golden = expected.I64("greedy.ids").Select(x => (int)x).ToArray();
        using var session = model.CreateSession(capacity: golden.Length);
        var ids = golden.Take(golden.Length - 8).ToList();          // the fixtures continue their prompt by 8 greedy tokens
        var logits = session.Prefill(ids.ToArray());
        while (ids.Count < golden.Length)
        {
            int next = ArgMax(logits);
            ids.Add(next);
            if (ids.Count < golden.Length) logits = session.Decode(next);
        }
        output.WriteLine($"{caseName}: {string.Join(", ", ids)}");
        Assert.Equal(golden, ids);
    }

    [Theory]
    [InlineData("dense-untied", 1)]
    [InlineData("dense-untied", 4)]
    [InlineData("dense-tied", 128)]
    [InlineData("moe", 3)]
    [InlineData("moe-mixed", 2)]
    [InlineData("dense-odd", 5)]
    [InlineData("dense-long", 64, 150)]
    [InlineData("dense-yarn", 16, 200)]
    public void Decoding_EqualsFullRecompute(string caseName, int chunk, int length = 40)
    {
        using var model = DenseGoldenTests.Load(caseName);
        int vocab = model.Config.Vocab;
        var rng = new Random(7);
        var ids = Enumerable.Range(0, length).Select(_ => rng.Next(vocab)).ToArray();
        model.Forward(ids, [], 1, length);
        var full = model.Logits.ToArray();

        using var session = model.CreateSession(capacity: length + 8, chunk: chunk);
        var last = session.Prefill(ids.AsSpan(0, 11)).ToArray();
        Compare.Close(output, "prefill[10]", full.AsSpan(10 * vocab, vocab), last, Tolerances.Logits);
        for (int t = 11; t < length; t++)
        {
            var step = session.Decode(ids[t]);
            Compare.Close(null, $"decode[{t}]", full.AsSpan(t * vocab, vocab), step, (1e-5, 1e-6));
        }
        Assert.Equal(length, session.Position);

        // rewinding and replaying gives the same logits again
        session.Rewind(20);
        var again = session.Prefill(ids.AsSpan(20, length - 20));
        Compare.Close(output, "after rewind", full.AsSpan((length - 1) * vocab, vocab), again, (1e-5, 1e-6));
    }

    /// <summary>
    /// Row 0 of each fixture through a session: a prefill of <paramref name="prefill"/> tokens in chunks of
    /// <paramref name="chunk"/>, then one Decode per remaining token; every position's logits must equal the
    /// fixture's float64 logits (for dense-long: prefill crosses a 64-key block, decode runs to position 129).
    /// </summary>
    [Theory]
    [InlineData("dense-tied", 3, 2)]
    [InlineData("dense-untied", 4, 128)]
    [InlineData("moe", 2, 1)]
    [InlineData("moe-mixed", 4, 3)]
    [InlineData("dense-odd", 7, 5)]
    [InlineData("dense-long", 100, 64)]
    [InlineData("dense-yarn", 50, 16)]          // prefill up to 49, decode 50..79 past the 64 trained positions
    [InlineData("dense-yarn-mscale", 120, 32)]  // decode 120..149 past 128
    [InlineData("dense-linear", 9, 4)]
    public void SessionLogits_MatchGolden(string caseName, int prefill, int chunk)
    {
        using var model = DenseGoldenTests.Load(caseName);
        var expected = new FixtureFile(Path.Combine(FixtureFile.CaseDir(caseName), "expected.safetensors"));
        var (ids, _, seqLen) = DenseGoldenTests.Inputs(expected);
        var logits = expected.F32("logits");
        int vocab = model.Config.Vocab;

        using var session = model.CreateSession(capacity: seqLen, chunk: chunk);
        var last = session.Prefill(ids.AsSpan(0, prefill)).ToArray();
        Compare.Close(output, $"prefill[{prefill - 1}]", logits.AsSpan((prefill - 1) * vocab, vocab), last, Tolerances.Logits);
        double worst = 0;
        for (int t = prefill; t < seqLen; t++)
        {
            var step = session.Decode(ids[t]);
            var want = logits.AsSpan(t * vocab, vocab);
            Compare.Close(null, $"decode[{t}]", want, step, Tolerances.Logits);
            for (int v = 0; v < vocab; v++) worst = Math.Max(worst, Math.Abs(step[v] - want[v]));
        }
        output.WriteLine($"{caseName}: positions {prefill}..{seqLen - 1} decoded, MaxAbsDiff vs golden logits {worst:E2}");
        Assert.Equal(seqLen, session.Position);
    }

    [Fact]
    public void Session_RejectsBadInput_WithClearErrors()
    {
        using var model = DenseGoldenTests.Load("dense-tied");
        using var session = model.CreateSession(capacity: 8);
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => session.Prefill([])).Message);
        Assert.Contains("outside the vocabulary", Assert.Throws<ArgumentOutOfRangeException>(() => session.Prefill([1, 256])).Message);
        session.Prefill([1, 2, 3, 4, 5, 6]);
        var full = Assert.Throws<InvalidOperationException>(() => session.Prefill([1, 2, 3]));
        Assert.Contains("context is full", full.Message);
        Assert.Contains("8 positions", full.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateSession(capacity: 65));   // max_position_embeddings = 64
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward([1, 999], [], 1, 2));
        Assert.Throws<ArgumentException>(() => model.Forward([], [], 1, 0));
    }
}

public class WorkBufferTests
{
    [Fact]
    public void LongerSequenceThanReserved_GrowsTheBuffers_AndMatchesAFreshModel()
    {
        using var model = DenseGoldenTests.Load("dense-untied");
        model.Reserve(batch: 4, seqLen: 8, training: true);                    // 32 rows, RoPE for 8 positions
        var ids = Enumerable.Range(0, 30).Select(i => (i * 37) % 300).ToArray();
        float loss = model.Forward(ids, CausalLm.ShiftedTargets(ids, 1, 30), 1, 30);   // 30 rows fit, 30 positions do not
        using var fresh = DenseGoldenTests.Load("dense-untied");
        Assert.Equal(fresh.Forward(ids, CausalLm.ShiftedTargets(ids, 1, 30), 1, 30), loss);
        Assert.Equal(fresh.Logits.ToArray(), model.Logits.ToArray());
    }
}
