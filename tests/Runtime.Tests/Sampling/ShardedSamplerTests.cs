using Qwen3Gen.Distributed;
using Qwen3Gen.Sampling;

namespace Qwen3Gen.Runtime.Tests.Sampling;

/// <summary>
/// <see cref="ShardedSampler"/> on N ranks as threads (<see cref="ThreadGroup"/>), each holding a slice of every logits
/// row, against <see cref="Sampler"/> (the existing one-row implementation) on the whole row: the same ids on every rank.
/// </summary>
public sealed class ShardedSamplerTests
{
    private const float RepetitionPenalty = 1.3f, PresencePenalty = 0.4f, FrequencyPenalty = 0.2f;

    /// <summary>Every path of the sampler, with all three penalties on.</summary>
    public static TheoryData<string, SamplingOptions> OptionSets()
    {
        var penalties = new SamplingOptions { RepetitionPenalty = RepetitionPenalty, PresencePenalty = PresencePenalty, FrequencyPenalty = FrequencyPenalty };
        return new()
        {
            { "greedy", penalties with { Temperature = 0f } },
            { "top-k 20, top-p 0.8, T 0.7", penalties with { TopK = 20, TopP = 0.8f, Temperature = 0.7f, Seed = 1 } },
            { "top-k 1", penalties with { TopK = 1, Temperature = 1.5f, Seed = 2 } },
            { "top-k 400 (more than a slice), min-p 0.02", penalties with { TopK = 400, MinP = 0.02f, Seed = 3 } },
            { "min-p 0.1, T 1.2", penalties with { MinP = 0.1f, Temperature = 1.2f, Seed = 4 } },
            { "top-p 0.9", penalties with { TopP = 0.9f, Seed = 5 } },
            { "top-p 0.5, min-p 0.3, T 2", penalties with { TopP = 0.5f, MinP = 0.3f, Temperature = 2f, Seed = 6 } },
            { "T 0.8", penalties with { Temperature = 0.8f, Seed = 7 } },
        };
    }

    /// <summary>
    /// A row per step: values on a grid of 1/4 (many ties, also across ranks), a fifth of the tokens −∞, scales from
    /// flat to peaked; every 5th row continuous values; every 7th row a maximum tied between the first and the last token.
    /// </summary>
    private static float[][] Rows(int vocab, int steps, int seed)
    {
        var r = new Random(seed);
        var rows = new float[steps][];
        for (int s = 0; s < steps; s++)
        {
            double scale = (s % 3) switch { 0 => 0.5, 1 => 4, _ => 12 };
            var l = rows[s] = new float[vocab];
            for (int i = 0; i < vocab; i++)
                l[i] = s % 5 == 0 ? (float)((r.NextDouble() * 2 - 1) * scale) : (float)(Math.Round((r.NextDouble() * 2 - 1) * scale * 4) / 4);
            for (int i = 0; i < vocab / 5; i++) l[r.Next(vocab)] = float.NegativeInfinity;
            if (s % 7 == 0) l[0] = l[vocab - 1] = (float)scale + 1;
        }
        return rows;
    }

    private static int[] Starts(int[] counts)
    {
        var starts = new int[counts.Length];
        for (int r = 1; r < counts.Length; r++) starts[r] = starts[r - 1] + counts[r - 1];
        return starts;
    }

    private static int[] Reference(int vocab, SamplingOptions options, float[][] rows, int[] context)
    {
        var sampler = new Sampler(vocab, options);
        sampler.AddContext(context);
        return rows.Select(row => sampler.Sample((float[])row.Clone())).ToArray();
    }

    private static int[][] Sharded(int[] counts, SamplingOptions options, float[][] rows, int[] context)
    {
        int vocab = counts.Sum();
        var starts = Starts(counts);
        return ThreadGroup.Run(counts.Length, comm =>
        {
            int start = starts[comm.Rank], count = counts[comm.Rank];
            var sampler = new ShardedSampler(comm, vocab, start, count, options);
            sampler.AddContext(context);
            return rows.Select(row => sampler.Sample(row.AsSpan(start, count).ToArray())).ToArray();
        });
    }

    [Theory]
    [MemberData(nameof(OptionSets))]
    public void EveryRank_PicksSamplersIds_OnUnequalSlices(string name, SamplingOptions options)
    {
        int[][] tilings =
        [
            [500, 500],          // N = 2
            [334, 333, 333],     // N = 3, the first slice longer
            [333, 333, 334],     // N = 3, TensorSplit's balanced r·V/N boundaries
            [251, 251, 251, 250], // N = 4, a vocabulary of 1003 (not a multiple of 4)
            [100, 400, 303, 200], // N = 4, very unequal
        ];
        foreach (var counts in tilings)
        {
            int vocab = counts.Sum();
            var rows = Rows(vocab, 120, vocab + counts.Length);
            int[] context = [0, 5, vocab / 2, vocab - 1];
            var expected = Reference(vocab, options, rows, context);
            var ranks = Sharded(counts, options, rows, context);
            for (int r = 0; r < ranks.Length; r++)
                if (!expected.SequenceEqual(ranks[r]))
                    Assert.Fail($"{name}, slices {string.Join("/", counts)}, rank {r}: first difference at step {FirstDifference(expected, ranks[r])}");
            Assert.True(expected.Distinct().Count() > (options.IsGreedy ? 5 : 20), $"{name}: too few distinct ids to mean anything");
        }
    }

    private static int FirstDifference(int[] a, int[] b) => Enumerable.Range(0, a.Length).First(i => a[i] != b[i]);

    [Fact]
    public void Qwen3Vocabulary_PathsWithoutTopK_GiveSamplersIds()
    {
        // 151,936 tokens on 4 ranks (TensorSplit's r·V/N slices), Gaussian logits (σ = 2.5): large nuclei and a Σw of
        // 151,936 terms, where the per-rank grouping of Σw is the only difference from Sampler. Row s is a fixed row
        // rotated by 7919·s tokens (made on the fly: no 300 stored rows).
        const int vocab = 151_936, ranks = 4, steps = 300;
        var r = new Random(19);
        var basis = new float[vocab];
        for (int i = 0; i < vocab; i++) basis[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble()) * 2.5);
        void Row(int step, int start, Span<float> into)
        {
            for (int i = 0; i < into.Length; i++) into[i] = basis[(start + i + 7919L * step) % vocab];
        }
        var starts = Enumerable.Range(0, ranks + 1).Select(q => (int)((long)q * vocab / ranks)).ToArray();
        foreach (var options in new[] { new SamplingOptions { Seed = 1 }, new SamplingOptions { MinP = 0.05f, Seed = 3 }, new SamplingOptions { TopP = 0.8f, Temperature = 0.6f, Seed = 4 } })
        {
            var sampler = new Sampler(vocab, options);
            var row = new float[vocab];
            var expected = new int[steps];
            for (int s = 0; s < steps; s++) { Row(s, 0, row); expected[s] = sampler.Sample(row); }
            var got = ThreadGroup.Run(ranks, comm =>
            {
                int start = starts[comm.Rank], count = starts[comm.Rank + 1] - start;
                var sharded = new ShardedSampler(comm, vocab, start, count, options);
                var slice = new float[count];
                var ids = new int[steps];
                for (int s = 0; s < steps; s++) { Row(s, start, slice); ids[s] = sharded.Sample(slice); }
                return ids;
            });
            foreach (var ids in got) Assert.Equal(expected, ids);
            Assert.True(expected.Distinct().Count() > steps * 9 / 10, "the draws should be spread over many tokens");
        }
    }

    [Theory]
    [InlineData(0, 1f, 0f)]     // plain temperature: the owner-rank walk
    [InlineData(0, 0.9f, 0f)]   // top-p: the gathered nucleus
    [InlineData(0, 1f, 0.05f)]  // min-p
    [InlineData(3, 1f, 0f)]     // top-k
    public void TinySlices_ShorterThanAVector_GiveSamplersIds(int topK, float topP, float minP)
    {
        // vocab 7 as 3/2/2: every slice is shorter than a 4-float vector while the whole row is not.
        var options = new SamplingOptions { TopK = topK, TopP = topP, MinP = minP, Temperature = 1.3f, Seed = 8 };
        int[] counts = [3, 2, 2];
        var rows = Rows(7, 300, 11);
        var expected = Reference(7, options, rows, []);
        foreach (var ids in Sharded(counts, options, rows, []))
            Assert.Equal(expected, ids);
    }

    [Fact]
    public void PlainTemperature_FrequenciesFollowTheTemperedSoftmax()
    {
        // p ∝ (0.05, 0.1, 0.15, 0.2, 0.2, 0.3) over 3 ranks (2 tokens each); at temperature 2 the draw follows p^(1/2), normalised.
        double[] p = [0.05, 0.1, 0.15, 0.2, 0.2, 0.3];
        var logits = p.Select(x => (float)Math.Log(x)).ToArray();
        var expected = p.Select(Math.Sqrt).ToArray();
        double z = expected.Sum();
        const int draws = 10_000;
        var ranks = ThreadGroup.Run(3, comm =>
        {
            var sampler = new ShardedSampler(comm, 6, 2 * comm.Rank, 2, new SamplingOptions { Temperature = 2f, Seed = 12 });
            var ids = new int[draws];
            for (int i = 0; i < draws; i++) ids[i] = sampler.Sample(logits.AsSpan(2 * comm.Rank, 2).ToArray());
            return ids;
        });
        Assert.Equal(ranks[0], ranks[1]);
        Assert.Equal(ranks[0], ranks[2]);
        for (int t = 0; t < 6; t++)
            Assert.Equal(expected[t] / z, ranks[0].Count(id => id == t) / (double)draws, 0.02); // ≥ 4 standard deviations (σ ≤ 0.005)
    }

    [Fact]
    public void Greedy_FollowsIndexOfMaxOrder_AcrossRanks()
    {
        // Whole row: -1 everywhere, −0 at token 10 (rank 0) and +0 at tokens 600 and 700 (rank 1): IndexOfMax ranks +0
        // above −0, so Sampler picks 600. Then a tie of 2 between tokens 900 (rank 1) and 950: the lower id.
        var row = Enumerable.Repeat(-1f, 1000).ToArray();
        row[10] = -0f; row[600] = 0f; row[700] = 0f;
        var tie = Enumerable.Repeat(-1f, 1000).ToArray();
        tie[950] = 2f; tie[900] = 2f;
        float[][] rows = [row, tie];
        var expected = Reference(1000, SamplingOptions.Greedy, rows, []);
        Assert.Equal([600, 900], expected);
        foreach (var ids in Sharded([500, 500], SamplingOptions.Greedy, rows, []))
            Assert.Equal(expected, ids);
    }

    [Theory]
    [InlineData(620, float.NaN, "Logit 620 is NaN.")]
    [InlineData(300, float.PositiveInfinity, "Logit 300 is +infinity.")]
    [InlineData(-1, float.NegativeInfinity, "Every logit is -infinity")]
    public void NonFiniteLogits_ThrowOnEveryRank_WithSamplersMessage(int token, float value, string message)
    {
        var row = Enumerable.Range(0, 1000).Select(i => (float)Math.Sin(i)).ToArray();
        if (token >= 0) row[token] = row[token + 50] = value; // in two ranks' slices: the first is named
        else Array.Fill(row, value);
        foreach (var options in new[] { SamplingOptions.Greedy, SamplingOptions.QwenThinking, new SamplingOptions { TopP = 0.9f } })
        {
            Assert.Contains(message, Assert.Throws<NonFiniteLogitsException>(() => new Sampler(1000, options).Sample((float[])row.Clone())).Message);
            var starts = Starts([334, 333, 333]);
            var messages = ThreadGroup.Run(3, comm =>
            {
                int count = comm.Rank == 0 ? 334 : 333;
                var sampler = new ShardedSampler(comm, 1000, starts[comm.Rank], count, options);
                try { sampler.Sample(row.AsSpan(starts[comm.Rank], count).ToArray()); return "no error"; }
                catch (NonFiniteLogitsException e) { return e.Message; }
            });
            Assert.All(messages, m => Assert.Contains(message, m));
        }
    }

    [Fact]
    public void Construction_ChecksTheSlicesAndTheSeed_OnEveryRank()
    {
        string[] Errors(Func<int, (int Start, int Count, int Seed)> slice) => ThreadGroup.Run(2, comm =>
        {
            var (start, count, seed) = slice(comm.Rank);
            try { _ = new ShardedSampler(comm, 100, start, count, new SamplingOptions { Seed = (ulong)seed }); return "no error"; }
            catch (ArgumentException e) { return e.Message; }
        });
        Assert.All(Errors(r => r == 0 ? (0, 50, 1) : (60, 40, 1)), m => Assert.Contains("Rank 1 holds tokens [60, 100) but the slices before it end at 50", m));
        Assert.All(Errors(r => r == 0 ? (50, 50, 1) : (0, 50, 1)), m => Assert.Contains("Rank 0 holds tokens [50, 100)", m));
        Assert.All(Errors(r => r == 0 ? (0, 50, 1) : (50, 40, 1)), m => Assert.Contains("cover [0, 90), not the vocabulary [0, 100)", m));
        Assert.All(Errors(r => (50 * r, 50, r)), m => Assert.Contains("Rank 1's seed differs", m));
        Assert.All(Errors(r => (50 * r, 50, 1)), m => Assert.Equal("no error", m));
    }

    [Fact]
    public void State_Reseed_Reset_AndOptions_BehaveAsSamplers()
    {
        // Change the options mid-stream, save and restore the generator, reseed, forget the context: the ids stay Sampler's.
        var rows = Rows(300, 40, 13);
        var a = new SamplingOptions { TopP = 0.9f, Seed = 21, RepetitionPenalty = 1.5f };
        var b = SamplingOptions.QwenNonThinking with { RepetitionPenalty = 1.5f };
        int[] Script(Func<float[], int> sample, Action<SamplingOptions> setOptions, Func<RngState> getState, Action<RngState> setState, Action<ulong> reseed, Action reset)
        {
            var ids = new List<int>();
            for (int s = 0; s < 10; s++) ids.Add(sample(rows[s]));
            setOptions(b);
            var saved = getState();
            for (int s = 10; s < 20; s++) ids.Add(sample(rows[s]));
            setState(saved);
            for (int s = 10; s < 20; s++) ids.Add(sample(rows[s]));
            reseed(99);
            reset();
            for (int s = 20; s < 40; s++) ids.Add(sample(rows[s]));
            return ids.ToArray();
        }
        var one = new Sampler(300, a);
        var expected = Script(row => one.Sample((float[])row.Clone()), o => one.Options = o, () => one.State, st => one.State = st, one.Reseed, one.Reset);
        var ranks = ThreadGroup.Run(2, comm =>
        {
            var s = new ShardedSampler(comm, 300, 150 * comm.Rank, 150, a);
            return Script(row => s.Sample(row.AsSpan(150 * comm.Rank, 150).ToArray()), o => s.Options = o, () => s.State, st => s.State = st, s.Reseed, s.Reset);
        });
        Assert.Equal(expected, ranks[0]);
        Assert.Equal(expected, ranks[1]);
    }

    [Fact]
    public void OneRank_IsSampler()
    {
        // N = 1 over the single-process communicator: the whole row on one rank, every path.
        var rows = Rows(500, 60, 17);
        foreach (var options in OptionSets().Select(row => (SamplingOptions)row[1]))
        {
            var sharded = new ShardedSampler(SingleProcessCommunicator.Instance, 500, 0, 500, options);
            Assert.Equal(Reference(500, options, rows, []), rows.Select(row => sharded.Sample((float[])row.Clone())).ToArray());
        }
    }
}
