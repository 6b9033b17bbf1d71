using Qwen3Gen.Definitions;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>WeightInit.Normal: HF's _init_weights (N(0, 0.02) matrices, unit norm weights), deterministic per seed.</summary>
public class WeightInitTests
{
    [Fact]
    public void Normal_SameSeed_SameWeights_DifferentSeed_Different()
    {
        using var a = Qwen3Tiny.Create();
        using var b = Qwen3Tiny.Create();
        using var c = Qwen3Tiny.Create();
        WeightInit.Normal(a, 1);
        WeightInit.Normal(b, 1);
        WeightInit.Normal(c, 2);
        var wa = a.Weights.Data.Slice(0, (int)a.Weights.Count);
        Assert.True(wa.SequenceEqual(b.Weights.Data.Slice(0, (int)b.Weights.Count)));
        int same = 0;
        var wc = c.Weights.Data.Slice(0, (int)c.Weights.Count);
        for (int i = 0; i < (int)a.Weights.VectorStart; i++) if (wa[i] == wc[i]) same++;
        Assert.True(same < 10, $"{same} equal matrix entries for different seeds");
    }

    [Fact]
    public void Normal_MatricesHaveStd002_NormsAreOne()
    {
        using var model = Qwen3ChatTest.Create(); // 151,936 × 64 embedding: 9.7 M samples in one tensor
        WeightInit.Normal(model, 123);
        foreach (var t in model.Tensors)
        {
            var v = new float[t.Length];
            model.Weights.Get(t, v);
            if (!t.IsMatrix)
            {
                Assert.All(v, x => Assert.Equal(1f, x));
                continue;
            }
            double sum = 0, sumSq = 0;
            long within1Sigma = 0;
            foreach (float x in v)
            {
                sum += x;
                sumSq += (double)x * x;
                if (Math.Abs(x) <= 0.02) within1Sigma++;
            }
            double n = v.Length, mean = sum / n, std = Math.Sqrt(sumSq / n - mean * mean);
            // Bounds at ≥ 6 standard errors of each statistic for N(0, 0.02²): se(mean) = 0.02/√n, se(std) ≈ 0.02/√(2n),
            // se(fraction) = √(p(1-p)/n) with p = P(|Z| ≤ 1) = 0.682689.
            Assert.True(Math.Abs(mean) < 6 * 0.02 / Math.Sqrt(n), $"{t.Name}: mean {mean}");
            Assert.True(Math.Abs(std - 0.02) < 6 * 0.02 / Math.Sqrt(2 * n), $"{t.Name}: std {std}");
            Assert.True(Math.Abs(within1Sigma / n - 0.682689) < 6 * Math.Sqrt(0.682689 * 0.317311 / n), $"{t.Name}: P(|x| ≤ σ) = {within1Sigma / n}");
        }
    }

    [Fact]
    public void Normal_Bf16Model_GetsTheF32ValuesRounded()
    {
        using var f32 = Qwen3Tiny.Create(WeightFormat.F32);
        using var bf16 = Qwen3Tiny.Create(WeightFormat.BF16);
        WeightInit.Normal(f32, 99, std: 0.5f);
        WeightInit.Normal(bf16, 99, std: 0.5f);
        foreach (var t in f32.Tensors)
        {
            var x = new float[t.Length];
            var y = new float[t.Length];
            f32.Weights.Get(t, x);
            bf16.Weights.Get(t, y);
            for (int i = 0; i < x.Length; i++) Assert.Equal(BF16.FromSingle(x[i]).ToSingle(), y[i]);
        }
    }

    [Fact]
    public void Normal_DependsOnTensorNameNotLayout()
    {
        // Two definitions with the same embedding shape but different bodies: same seed, same embedding values.
        using var tied = DenseTied.Create();
        using var moe = MoeTied.Create();
        WeightInit.Normal(tied, 5);
        WeightInit.Normal(moe, 5);
        var e1 = new float[256 * 48];
        var e2 = new float[256 * 48];
        tied.Weights.Get(tied.Tensors.Single(t => t.Name == "model.embed_tokens.weight"), e1);
        moe.Weights.Get(moe.Tensors.Single(t => t.Name == "model.embed_tokens.weight"), e2);
        Assert.Equal(e1, e2);
    }

    [Fact]
    public void Normal_BadStd_Throws()
    {
        using var model = Qwen3Tiny.Create();
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightInit.Normal(model, 1, float.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightInit.Normal(model, 1, -1f));
    }
}
