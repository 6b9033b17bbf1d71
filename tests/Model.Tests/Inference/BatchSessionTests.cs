using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// The batched session (continuous batching): a sequence's logits are bit-identical whether it is decoded alone or
/// beside up to 15 others at other positions, and equal (within float rounding) to the single-sequence session's.
/// </summary>
public class BatchSessionTests
{
    private static TrainTiny Model(WeightFormat format)
    {
        var model = TrainTiny.Create(WeightFormat.F32);
        TestWeights.Randomize(model, seed: 5, std: 0.08f);
        if (format == WeightFormat.F32) return model;
        var bf = TrainTiny.Create(WeightFormat.BF16);
        foreach (var t in model.Tensors)
        {
            var values = new float[t.Length];
            model.Weights.Get(t, values);
            bf.Weights.Set(t, values);
        }
        model.Dispose();
        return bf;
    }

    private static int[] Prompt(int seed, int length)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => rng.Next(TrainTiny.Vocab)).ToArray();
    }

    /// <summary>Logits of prefill then <paramref name="steps"/> decode steps of fixed tokens, for sequence i of <paramref name="count"/>, decoded together.</summary>
    private static float[][] RunTogether(IQwen3Model model, int count, int steps, int[] lengths)
    {
        using var session = model.CreateBatchSession(sequences: count, capacity: 96, chunk: 16);
        var logits = new List<float>[count];
        for (int i = 0; i < count; i++)
            logits[i] = [.. session.Prefill(i, Prompt(100 + i, lengths[i]))];
        var slots = Enumerable.Range(0, count).ToArray();
        for (int step = 0; step < steps; step++)
        {
            var tokens = slots.Select(i => (step * 31 + i * 7) % TrainTiny.Vocab).ToArray();
            var all = session.Decode(slots, tokens);
            for (int i = 0; i < count; i++) logits[i].AddRange(all.Slice(i * TrainTiny.Vocab, TrainTiny.Vocab).ToArray());
        }
        return logits.Select(l => l.ToArray()).ToArray();
    }

    [Theory]
    [InlineData(WeightFormat.F32)]
    [InlineData(WeightFormat.BF16)]
    public void Decode_InABatch_IsBitIdenticalToAlone(WeightFormat format)
    {
        using var model = Model(format);
        int[] lengths = [5, 17, 33, 1, 12, 40, 9, 23, 2, 16, 31, 7, 19, 11, 3, 28];
        const int steps = 6;
        var together = RunTogether(model, 16, steps, lengths);
        for (int i = 0; i < 16; i++)
        {
            using var alone = model.CreateBatchSession(sequences: 1, capacity: 96, chunk: 16);
            var expected = new List<float>(alone.Prefill(0, Prompt(100 + i, lengths[i])).ToArray());
            for (int step = 0; step < steps; step++)
                expected.AddRange(alone.Decode([0], [(step * 31 + i * 7) % TrainTiny.Vocab]).ToArray());
            Assert.Equal(expected.Count, together[i].Length);
            for (int k = 0; k < expected.Count; k++)
                if (BitConverter.SingleToInt32Bits(expected[k]) != BitConverter.SingleToInt32Bits(together[i][k]))
                    Assert.Fail($"{format} sequence {i}: logit {k} in a batch of 16 is {together[i][k]:R}, alone {expected[k]:R}");
        }
    }

    [Fact]
    public void Decode_MatchesTheSingleSequenceSession()
    {
        using var model = Model(WeightFormat.F32);
        var prompt = Prompt(7, 21);
        using var single = model.CreateSession(capacity: 64, chunk: 16);
        using var batch = model.CreateBatchSession(sequences: 3, capacity: 64, chunk: 16);
        batch.Prefill(0, Prompt(8, 4));                                  // other slots hold other sequences
        batch.Prefill(2, Prompt(9, 30));
        var a = single.Prefill(prompt).ToArray();
        var b = batch.Prefill(1, prompt).ToArray();
        AssertClose(a, b, "prefill");
        for (int step = 0; step < 5; step++)
        {
            int token = 40 + step;
            a = single.Decode(token).ToArray();
            b = batch.Decode([2, 1, 0], [token + 1, token, token + 2]).Slice(TrainTiny.Vocab, TrainTiny.Vocab).ToArray();
            AssertClose(a, b, $"decode step {step}");
        }
        Assert.Equal(21 + 5, batch.Position(1));
        Assert.Equal(4 + 5, batch.Position(0));
    }

    [Fact]
    public void Rewind_ThenPrefill_ReusesThePrefix()
    {
        using var model = Model(WeightFormat.F32);
        var prompt = Prompt(3, 32);
        using var session = model.CreateBatchSession(sequences: 2, capacity: 64, chunk: 16);
        var full = session.Prefill(0, prompt).ToArray();
        session.Decode([0], [1]);
        session.Rewind(0, 16);                                           // keep the first chunk, recompute the rest
        var again = session.Prefill(0, prompt.AsSpan(16)).ToArray();
        for (int k = 0; k < full.Length; k++) Assert.Equal(BitConverter.SingleToInt32Bits(full[k]), BitConverter.SingleToInt32Bits(again[k]));
    }

    [Fact]
    public void BadCalls_ThrowWithTheNumbers()
    {
        using var model = Model(WeightFormat.F32);
        using var session = model.CreateBatchSession(sequences: 2, capacity: 8, chunk: 4);
        Assert.Contains("0..1", Assert.Throws<ArgumentOutOfRangeException>(() => session.Prefill(2, [1])).Message);
        Assert.Contains("exceed the slot's 8 positions", Assert.Throws<InvalidOperationException>(() => session.Prefill(0, new int[9])).Message);
        session.Prefill(0, [1]);
        session.Prefill(1, [1]);
        Assert.Contains("listed twice", Assert.Throws<ArgumentException>(() => session.Decode([0, 0], [1, 2])).Message);
        Assert.Contains("outside the vocabulary", Assert.Throws<ArgumentOutOfRangeException>(() => session.Decode([0], [TrainTiny.Vocab])).Message);
        Assert.Contains("1..2 sequences", Assert.Throws<ArgumentException>(() => session.Decode([], [])).Message);
    }

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int k = 0; k < expected.Length; k++)
            Assert.True(Math.Abs(expected[k] - actual[k]) <= 1e-4f * (1 + Math.Abs(expected[k])), $"{what}: logit {k} {actual[k]:R} vs {expected[k]:R}");
    }
}
