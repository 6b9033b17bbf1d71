using Qwen3Gen.Sampling;

namespace Qwen3Gen.Runtime.Tests.Sampling;

public sealed class SamplerTests
{
    private static float[] RandomLogits(int vocab, int seed, float scale = 3f)
    {
        var r = new Random(seed);
        var x = new float[vocab];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(r.NextDouble() * 2 - 1) * scale;
        return x;
    }

    /// <summary>Softmax of logits/temperature in double, computed independently of the sampler.</summary>
    private static double[] Probabilities(float[] logits, double temperature)
    {
        double max = logits.Max();
        var p = logits.Select(l => Math.Exp((l - max) / temperature)).ToArray();
        double sum = p.Sum();
        return p.Select(x => x / sum).ToArray();
    }

    private static int[] Draw(Sampler sampler, float[] logits, int count)
    {
        var ids = new int[count];
        for (int i = 0; i < count; i++)
        {
            sampler.Reset();
            ids[i] = sampler.Sample((float[])logits.Clone());
        }
        return ids;
    }

    [Fact]
    public void Greedy_IsArgmax_FirstIndexOnTies()
    {
        var logits = RandomLogits(1000, 1);
        int argmax = Array.IndexOf(logits, logits.Max());
        var sampler = new Sampler(1000, SamplingOptions.Greedy);
        Assert.Equal(argmax, sampler.Sample((float[])logits.Clone()));
        var ties = new float[] { 0, 5, 1, 5, 5 };
        Assert.Equal(1, new Sampler(5, SamplingOptions.Greedy).Sample(ties));
        Assert.Equal(argmax, new Sampler(1000, new SamplingOptions { TopK = 1, Temperature = 2 }).Sample((float[])logits.Clone()));
    }

    [Fact]
    public void TopK_NeverEmitsOutsideTheKLargest()
    {
        var logits = RandomLogits(5000, 2, 1f);
        var topK = logits.Select((l, i) => (l, i)).OrderByDescending(x => x.l).Take(7).Select(x => x.i).ToHashSet();
        var ids = Draw(new Sampler(5000, new SamplingOptions { TopK = 7, Temperature = 3f, Seed = 5 }), logits, 2000);
        Assert.All(ids, id => Assert.Contains(id, topK));
        Assert.Equal(7, ids.Distinct().Count()); // a flat distribution over 7: all of them show up
    }

    [Theory]
    [InlineData(0, 3f)]    // top-p alone: bucket pre-filter, then a sort of the candidates
    [InlineData(0, 12f)]   // peaked: few candidates survive the pre-filter
    [InlineData(50, 3f)]   // top-p after top-k: the partial-selection path
    public void TopP_NeverEmitsOutsideTheNucleus(int topK, float scale)
    {
        var logits = RandomLogits(400, 3, scale);
        var p = Probabilities(logits, 1.0);
        var order = Enumerable.Range(0, p.Length).OrderByDescending(i => p[i]).ToArray();
        if (topK > 0)
        {
            double kept = order.Take(topK).Sum(i => p[i]);
            foreach (int i in order) p[i] = Array.IndexOf(order, i) < topK ? p[i] / kept : 0;
        }
        // Nucleus: in decreasing order, a token is kept while the mass before it is < 0.6.
        var nucleus = new HashSet<int>();
        double before = 0;
        foreach (int i in order) { if (before >= 0.6) break; nucleus.Add(i); before += p[i]; }
        Assert.InRange(nucleus.Count, 2, 300);

        var ids = Draw(new Sampler(400, new SamplingOptions { TopP = 0.6f, TopK = topK, Seed = 9 }), logits, 3000);
        Assert.All(ids, id => Assert.Contains(id, nucleus));
        Assert.True(ids.Distinct().Count() > nucleus.Count / 2);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(30)]
    public void MinP_NeverEmitsBelowMinPTimesTopProbability(int topK)
    {
        var logits = RandomLogits(300, 4);
        var p = Probabilities(logits, 1.5);
        double threshold = 0.2 * p.Max();
        var ids = Draw(new Sampler(300, new SamplingOptions { MinP = 0.2f, TopK = topK, Temperature = 1.5f, Seed = 3 }), logits, 3000);
        Assert.All(ids, id => Assert.True(p[id] >= threshold, $"token {id}: p = {p[id]:E3} < {threshold:E3}"));
        Assert.True(ids.Distinct().Count() > 3);
    }

    [Fact]
    public void QwenPresets_StayWithinTop20_AndHaveTheModelCardValues()
    {
        Assert.Equal((0.6f, 0.95f, 20, 0f), (SamplingOptions.QwenThinking.Temperature, SamplingOptions.QwenThinking.TopP, SamplingOptions.QwenThinking.TopK, SamplingOptions.QwenThinking.MinP));
        Assert.Equal((0.7f, 0.8f, 20, 0f), (SamplingOptions.QwenNonThinking.Temperature, SamplingOptions.QwenNonThinking.TopP, SamplingOptions.QwenNonThinking.TopK, SamplingOptions.QwenNonThinking.MinP));
        var logits = RandomLogits(151_936, 5, 0.5f);
        var top20 = logits.Select((l, i) => (l, i)).OrderByDescending(x => x.l).Take(20).Select(x => x.i).ToHashSet();
        var ids = Draw(new Sampler(151_936, SamplingOptions.QwenThinking with { Seed = 11 }), logits, 500);
        Assert.All(ids, id => Assert.Contains(id, top20));
    }

    [Fact]
    public void Temperature_FrequenciesFollowTheTemperedSoftmax()
    {
        // p ∝ (0.1, 0.2, 0.3, 0.4); at temperature 2 the draw follows p^(1/2), normalised.
        var logits = new[] { 0.1, 0.2, 0.3, 0.4 }.Select(x => (float)Math.Log(x)).ToArray();
        var expected = new[] { 0.1, 0.2, 0.3, 0.4 }.Select(Math.Sqrt).ToArray();
        double z = expected.Sum();
        var counts = new int[4];
        const int n = 40_000;
        foreach (int id in Draw(new Sampler(4, new SamplingOptions { Temperature = 2f, Seed = 1 }), logits, n)) counts[id]++;
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i] / z, counts[i] / (double)n, 0.01);
    }

    [Fact]
    public void Seed_SameSeedSameSequence_DifferentSeedsDiffer()
    {
        var logits = RandomLogits(1000, 6, 0.5f);
        int[] Run(ulong seed)
        {
            var s = new Sampler(1000, SamplingOptions.QwenNonThinking with { Seed = seed, TopK = 0, TopP = 1 });
            return Enumerable.Range(0, 64).Select(_ => s.Sample((float[])logits.Clone())).ToArray();
        }
        Assert.Equal(Run(1), Run(1));
        Assert.NotEqual(Run(1), Run(2));
    }

    [Fact]
    public void Penalties_ChangeExactlyTheSeenLogits()
    {
        // Context (prompt) 0, 0, 1; generated 3. Repetition 2: positive logits halved, negative doubled, once per
        // token however often it occurs. Presence 0.25: only the generated token 3.
        //   in:  [2, -1, 0.5, 3, -2]  →  [2/2, -1·2, 0.5, 3/2 − 0.25, -2] = [1, -2, 0.5, 1.25, -2]
        var sampler = new Sampler(5, SamplingOptions.Greedy with { RepetitionPenalty = 2f, PresencePenalty = 0.25f });
        sampler.AddContext([0, 0, 1]);
        sampler.Accept(3);
        var logits = new float[] { 2, -1, 0.5f, 3, -2 };
        Assert.Equal(3, sampler.Sample(logits));
        Assert.Equal(new float[] { 1, -2, 0.5f, 1.25f, -2 }, logits);

        // The pick (3) is now generated twice: the penalties still apply once; Reset forgets everything.
        logits = [2, -1, 0.5f, 3, -2];
        sampler.Sample(logits);
        Assert.Equal(new float[] { 1, -2, 0.5f, 1.25f, -2 }, logits);
        sampler.Reset();
        logits = [2, -1, 0.5f, 3, -2];
        Assert.Equal(3, sampler.Sample(logits));
        Assert.Equal(new float[] { 2, -1, 0.5f, 3, -2 }, logits);
    }

    [Fact]
    public void FrequencyPenalty_CountsEachGeneration()
    {
        // Generated 3 twice and 1 once (prompt token 0 is not penalised). Frequency 0.5, presence 0.25:
        //   in: [2, 1, 0.5, 3, -2]  →  [2, 1 − 0.25 − 0.5, 0.5, 3 − 0.25 − 1, -2] = [2, 0.25, 0.5, 1.75, -2]
        var sampler = new Sampler(5, SamplingOptions.Greedy with { FrequencyPenalty = 0.5f, PresencePenalty = 0.25f });
        sampler.AddContext([0]);
        sampler.Accept(3);
        sampler.Accept(1);
        sampler.Accept(3);
        var logits = new float[] { 2, 1, 0.5f, 3, -2 };
        Assert.Equal(0, sampler.Sample(logits));
        Assert.Equal(new float[] { 2, 0.25f, 0.5f, 1.75f, -2 }, logits);
        sampler.Reset();
        logits = [2, 1, 0.5f, 3, -2];
        sampler.Sample(logits);
        Assert.Equal(new float[] { 2, 1, 0.5f, 3, -2 }, logits);
        Assert.Contains("FrequencyPenalty", Assert.Throws<ArgumentException>(() => new Sampler(4, new SamplingOptions { FrequencyPenalty = float.NaN })).Message);
    }

    [Fact]
    public void Sampler_BadInput_ThrowsNamingTheProblem()
    {
        var sampler = new Sampler(4, SamplingOptions.QwenThinking);
        Assert.Contains("NaN", Assert.Throws<NonFiniteLogitsException>(() => sampler.Sample([0, float.NaN, 1, 2])).Message);
        Assert.Contains("+infinity", Assert.Throws<NonFiniteLogitsException>(() => sampler.Sample([0, float.PositiveInfinity, 1, 2])).Message);
        Assert.Contains("-infinity", Assert.Throws<NonFiniteLogitsException>(() => sampler.Sample(Enumerable.Repeat(float.NegativeInfinity, 4).ToArray())).Message);
        Assert.Contains("vocabulary of 4", Assert.Throws<ArgumentException>(() => sampler.Sample(new float[5])).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Accept(4));
        Assert.Contains("TopP", Assert.Throws<ArgumentException>(() => new Sampler(4, new SamplingOptions { TopP = 0 })).Message);
        Assert.Contains("Temperature", Assert.Throws<ArgumentException>(() => new Sampler(4, new SamplingOptions { Temperature = -1 })).Message);
        // -infinity logits (masked tokens) are never drawn
        var masked = new float[] { float.NegativeInfinity, 0, float.NegativeInfinity, 0 };
        Assert.All(Draw(new Sampler(4, new SamplingOptions { Seed = 2 }), masked, 200), id => Assert.True(id is 1 or 3));
    }
}
