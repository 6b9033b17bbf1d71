using Qwen3Gen.Kernels;

namespace Qwen3Gen.Runtime.Tests.Kernels;

/// <summary>
/// Compact KV caches: each format's encoding against its definition (BF16 round-to-nearest-even, IEEE half, llama.cpp
/// q8_0), and the attention loops over compact rows against double-precision sums of the decoded values.
/// </summary>
public unsafe class KvCacheKernelsTests
{
    private static float[] Values(int n, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();
    }

    [Theory]
    [InlineData(KvCacheFormat.BF16, 128)]
    [InlineData(KvCacheFormat.F16, 128)]
    [InlineData(KvCacheFormat.Q8_0, 128)]
    [InlineData(KvCacheFormat.Q8_0, 12)]        // head_dim not a multiple of 32: one scale per head row
    [InlineData(KvCacheFormat.F16, 12)]
    public void Store_EncodesAsTheFormatDefines(KvCacheFormat format, int headDim)
    {
        const int heads = 3;
        int n = heads * headDim;
        var x = Values(n, 1, 4f);
        x[5] = 0f; x[7] = 1e-8f;                                                  // zero and a half subnormal
        using var arena = new Arena();
        var rows = KvRows.Allocate(arena, format, 2L * n, headDim);
        fixed (float* px = x) KvCacheKernels.Store(rows, n, px, n);               // the second position
        int block = KvCacheFormats.Q8Block(headDim);
        for (int i = 0; i < n; i++)
        {
            float got = KvCacheKernels.Load(rows, n + i);
            switch (format)
            {
                case KvCacheFormat.BF16: Assert.Equal((float)BF16.FromSingle(x[i]), got); break;
                case KvCacheFormat.F16: Assert.Equal((float)(Half)x[i], got); break;
                default:
                    int b0 = i / block * block;
                    float amax = x.Skip(b0).Take(block).Max(MathF.Abs), d = (float)(Half)(amax / 127f);
                    // q = round(x / d) with d rounded to half afterwards: the error is at most half a step plus the scale's rounding
                    Assert.True(Math.Abs(got - x[i]) <= 0.5 * amax / 127 + 127 * Math.Abs(d - amax / 127f) + 1e-7, $"{i}: {got} vs {x[i]}");
                    Assert.Equal(127, (int)Math.Round(x.Skip(b0).Take(block).Max(v => Math.Abs(KvCacheKernels.Load(rows, n + i - i % block + Array.IndexOf(x, v, b0) - b0) / d))));
                    break;
            }
        }
    }

    [Theory]
    [InlineData(KvCacheFormat.BF16, 128, 37)]
    [InlineData(KvCacheFormat.F16, 128, 37)]
    [InlineData(KvCacheFormat.Q8_0, 128, 37)]
    [InlineData(KvCacheFormat.Q8_0, 64, 5)]
    [InlineData(KvCacheFormat.F16, 16, 9)]
    [InlineData(KvCacheFormat.BF16, 12, 9)]       // scalar paths
    public void ScoresAndWeightedSum_OnCompactRows_MatchDoubleSumsOfDecodedValues(KvCacheFormat format, int headDim, int keys)
    {
        const int heads = 2, head = 1;
        int kvDim = heads * headDim;
        using var arena = new Arena();
        var k = KvRows.Allocate(arena, format, (long)keys * kvDim, headDim);
        var v = KvRows.Allocate(arena, format, (long)keys * kvDim, headDim);
        var q = Values(headDim, 3);
        var p = Values(keys, 4).Select(MathF.Abs).ToArray();
        for (int s = 0; s < keys; s++)
        {
            var kr = Values(kvDim, 10 + s, 2f); var vr = Values(kvDim, 100 + s, 3f);
            fixed (float* pk = kr, pv = vr) { KvCacheKernels.Store(k, (long)s * kvDim, pk, kvDim); KvCacheKernels.Store(v, (long)s * kvDim, pv, kvDim); }
        }
        var scores = new float[keys + 16];
        var acc = new float[headDim];
        var kt = new float[headDim * AttentionKernels.Padded(keys)];
        fixed (float* ps = scores, pq = q, pp = p, pa = acc, pkt = kt)
        {
            KvCacheKernels.ScoresDirect(ps, pq, k, head * headDim, kvDim, keys, headDim, 0.125f);
            KvCacheKernels.WeightedSum(pa, pp, v, head * headDim, kvDim, keys, headDim);
            KvCacheKernels.Transpose(pkt, k, head * headDim, keys, kvDim, headDim);
        }
        int stride = AttentionKernels.Padded(keys);
        for (int s = 0; s < keys; s++)
        {
            double dot = 0;
            for (int d = 0; d < headDim; d++)
            {
                float kd = KvCacheKernels.Load(k, (long)s * kvDim + head * headDim + d);
                dot += (double)q[d] * kd;
                Assert.Equal(kd, kt[d * stride + s]);
            }
            Assert.True(Math.Abs(scores[s] - dot * 0.125) <= 1e-5 * (1 + Math.Abs(dot)), $"score {s}: {scores[s]} vs {dot * 0.125}");
        }
        for (int d = 0; d < headDim; d++)
        {
            double sum = 0;
            for (int s = 0; s < keys; s++) sum += (double)p[s] * KvCacheKernels.Load(v, (long)s * kvDim + head * headDim + d);
            Assert.True(Math.Abs(acc[d] - sum) <= 1e-5 * (1 + Math.Abs(sum)), $"acc {d}: {acc[d]} vs {sum}");
        }
    }

    [Fact]
    public void F16_VectorDecode_HandlesSubnormalsExtremesAndSign()
    {
        // The 16-lane decode must equal the scalar (Half → float) one on edge values (finite: a score with an infinite
        // element would be NaN from 0 · inf in the other lanes).
        float[] x = [0f, -0f, 1f, -2.5f, 65504f, -65504f, 6e-8f, -6e-5f, 1e-6f, 1234.5f, -3e-7f, 3.14159f, -0.1f, 0.5f, 1e-3f, 42f];
        using var arena = new Arena();
        var rows = KvRows.Allocate(arena, KvCacheFormat.F16, 16, 16);
        fixed (float* px = x) KvCacheKernels.Store(rows, 0, px, 16);
        var scores = new float[1];
        for (int i = 0; i < 16; i++)
        {
            var q = new float[16]; q[i] = 1f;                       // the score is the decoded element i
            fixed (float* pq = q, ps = scores) KvCacheKernels.ScoresDirect(ps, pq, rows, 0, 16, 1, 16, 1f);
            Assert.Equal((float)(Half)x[i], scores[0]);
        }
    }

    [Fact]
    public void BytesPerPosition_OfQwen3_0_6B()
    {
        // 8 KV heads × 128, keys + values, per layer: F32 8192 B, BF16/F16 4096 B, Q8_0 2 × (1024 + 32 · 2) = 2176 B.
        Assert.Equal(8192, KvCacheFormat.F32.BytesPerPosition(8, 128));
        Assert.Equal(4096, KvCacheFormat.BF16.BytesPerPosition(8, 128));
        Assert.Equal(4096, KvCacheFormat.F16.BytesPerPosition(8, 128));
        Assert.Equal(2176, KvCacheFormat.Q8_0.BytesPerPosition(8, 128));
        Assert.Equal(KvCacheFormat.Q8_0, KvCacheFormats.Parse("Q8_0"));
        Assert.Null(KvCacheFormats.Parse("q4_0"));
    }

    /// <summary>
    /// The documented contract: a compact cache and a float32 cache holding the same (decoded) values give the same
    /// scores and weighted sums, bit for bit, on whichever vector width this run uses.
    /// </summary>
    [Theory]
    [InlineData(KvCacheFormat.BF16, 128, 37)]
    [InlineData(KvCacheFormat.F16, 64, 9)]
    [InlineData(KvCacheFormat.Q8_0, 128, 21)]
    [InlineData(KvCacheFormat.F16, 24, 6)]         // 256-bit on AVX-512 machines (24 is not a multiple of 16)
    [InlineData(KvCacheFormat.BF16, 12, 5)]        // 128-bit
    [InlineData(KvCacheFormat.Q8_0, 6, 5)]         // scalar
    public void CompactRows_GiveTheBitsOfFloatRowsWithTheDecodedValues(KvCacheFormat format, int headDim, int keys)
    {
        int kvDim = 2 * headDim;
        using var arena = new Arena();
        var k = KvRows.Allocate(arena, format, (long)keys * kvDim, headDim);
        var v = KvRows.Allocate(arena, format, (long)keys * kvDim, headDim);
        for (int s = 0; s < keys; s++)
        {
            var kr = Values(kvDim, 10 + s, 2f); var vr = Values(kvDim, 100 + s, 3f);
            fixed (float* pk = kr, pv = vr) { KvCacheKernels.Store(k, (long)s * kvDim, pk, kvDim); KvCacheKernels.Store(v, (long)s * kvDim, pv, kvDim); }
        }
        var kf = new float[keys * kvDim]; var vf = new float[keys * kvDim];
        for (int e = 0; e < kf.Length; e++) { kf[e] = KvCacheKernels.Load(k, e); vf[e] = KvCacheKernels.Load(v, e); }
        var q = Values(headDim, 3);
        var p = Values(keys, 4).Select(MathF.Abs).ToArray();
        float[] compactScores = new float[keys], floatScores = new float[keys], compactAcc = Values(headDim, 5), floatAcc = (float[])compactAcc.Clone();
        fixed (float* pq = q, pp = p, pkf = kf, pvf = vf, cs = compactScores, fs = floatScores, ca = compactAcc, fa = floatAcc)
        {
            KvCacheKernels.ScoresDirect(cs, pq, k, headDim, kvDim, keys, headDim, 0.125f);
            AttentionKernels.ScoresDirect(fs, pq, pkf + headDim, kvDim, 0, keys, headDim, 0.125f);
            KvCacheKernels.WeightedSum(ca, pp, v, headDim, kvDim, keys, headDim);
            AttentionKernels.WeightedSum(fa, pp, pvf + headDim, kvDim, keys, headDim);
        }
        for (int s = 0; s < keys; s++) Assert.Equal(BitConverter.SingleToInt32Bits(floatScores[s]), BitConverter.SingleToInt32Bits(compactScores[s]));
        for (int d = 0; d < headDim; d++) Assert.Equal(BitConverter.SingleToInt32Bits(floatAcc[d]), BitConverter.SingleToInt32Bits(compactAcc[d]));
    }
}
