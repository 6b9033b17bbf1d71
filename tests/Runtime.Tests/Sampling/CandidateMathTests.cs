using Qwen3Gen.Sampling;

namespace Qwen3Gen.Runtime.Tests.Sampling;

/// <summary>The two facts the sharded sampler's exactness rests on: split weights and split bucket masses are the whole row's bits.</summary>
public sealed class CandidateMathTests
{
    private static float[] Logits(int n, int seed)
    {
        var r = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)((r.NextDouble() * 2 - 1) * 40); // weights from e^-80 (subnormal-free floats) to 1
        return x;
    }

    [Fact]
    public void RowWeights_OfAnySlice_AreTheWholeRowsBits()
    {
        // Slices of 1 to 9 tokens (shorter and longer than a 4-float vector) at every offset of a 64-token row.
        var logits = Logits(64, 1);
        float max = logits.Max(), T = 0.7f;
        var whole = new float[64];
        CandidateMath.RowWeights(logits, T, max, whole, 64);
        for (int length = 1; length <= 9; length++)
            for (int start = 0; start + length <= 64; start++)
            {
                var part = new float[length];
                CandidateMath.RowWeights(logits.AsSpan(start, length), T, max, part, 64);
                for (int i = 0; i < length; i++)
                    Assert.True(BitConverter.SingleToInt32Bits(part[i]) == BitConverter.SingleToInt32Bits(whole[start + i]),
                        $"slice [{start}, {start + length}), token {start + i}: {part[i]:R} != {whole[start + i]:R}");
            }
    }

    [Fact]
    public void BucketMasses_SummedBySlices_AreTheWholeRowsBits()
    {
        // 151,936 weights spanning 30 orders of magnitude, the masses summed over the whole row in token order and over
        // 7 slices added in reverse order: every bucket's double is identical (each is an exact sum).
        var w = new float[151_936];
        var r = new Random(2);
        for (int i = 0; i < w.Length; i++) w[i] = (float)Math.Exp(-r.NextDouble() * 70);
        var whole = new double[CandidateMath.Buckets];
        CandidateMath.AddBucketMasses(w, whole);
        var total = new double[CandidateMath.Buckets];
        int[] cuts = [0, 1, 20_000, 20_003, 70_000, 100_000, 151_000, w.Length];
        for (int s = cuts.Length - 2; s >= 0; s--)
        {
            var part = new double[CandidateMath.Buckets];
            CandidateMath.AddBucketMasses(w.AsSpan(cuts[s], cuts[s + 1] - cuts[s]), part);
            for (int b = 0; b < total.Length; b++) total[b] += part[b];
        }
        Assert.Equal(whole, total);
        Assert.True(whole.Count(m => m > 0) > 500); // many buckets in use
    }
}
