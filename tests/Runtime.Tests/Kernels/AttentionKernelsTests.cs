using Qwen3Gen.Kernels;

namespace Qwen3Gen.Runtime.Tests.Kernels;

/// <summary>The two score kernels against dot products summed in double: the same scores within float rounding.</summary>
public unsafe class AttentionKernelsTests
{
    // n keys from `first` on, rows of `stride` floats (a K/V cache row holds several heads), HeadDim 128 as Qwen3
    [Theory]
    [InlineData(1, 0, 1024)]
    [InlineData(7, 3, 1024)]
    [InlineData(64, 0, 128)]
    [InlineData(37, 64, 256)]
    public void ScoresDirect_And_Scores_MatchDoublePrecisionDotProducts(int n, int first, int stride)
    {
        const int headDim = 128;
        const float scale = 0.088388346f;                           // 1 / sqrt(128)
        int keys = first + n;
        var rng = new Random(7);
        float[] q = new float[headDim], k = new float[keys * stride];
        for (int i = 0; i < q.Length; i++) q[i] = (float)(rng.NextDouble() * 2 - 1);
        for (int i = 0; i < k.Length; i++) k[i] = (float)(rng.NextDouble() * 2 - 1);
        int padded = AttentionKernels.Padded(keys);
        float[] kt = new float[headDim * padded], direct = new float[n], viaTranspose = new float[AttentionKernels.Padded(n) + 16];
        fixed (float* pq = q, pk = k, pkt = kt, pd = direct, pt = viaTranspose)
        {
            AttentionKernels.ScoresDirect(pd, pq, pk, stride, first, n, headDim, scale);
            AttentionKernels.Transpose(pkt, pk, keys, stride, headDim);
            AttentionKernels.Scores(pt, pq, pkt, padded, first, n, headDim, scale);
        }
        for (int s = 0; s < n; s++)
        {
            double expected = 0, magnitude = 0;
            for (int d = 0; d < headDim; d++)
            {
                double term = (double)q[d] * k[(first + s) * stride + d];
                expected += term;
                magnitude += Math.Abs(term);
            }
            expected *= scale;
            double tolerance = 1e-6 * magnitude * scale + 1e-7;
            Assert.True(Math.Abs(direct[s] - expected) <= tolerance, $"ScoresDirect[{s}] = {direct[s]:R}, expected {expected:R}");
            Assert.True(Math.Abs(viaTranspose[s] - expected) <= tolerance, $"Scores[{s}] = {viaTranspose[s]:R}, expected {expected:R}");
        }
    }

    // Head sizes whose widest dividing vector is 512, 256, 128 bits and none (scalar), as AttentionKernels.Level picks.
    public static TheoryData<int> HeadDims => new() { 128, 64, 24, 12, 6, 3 };

    [Theory, MemberData(nameof(HeadDims))]
    public void WeightedSum_MatchesDoubleSums(int headDim)
    {
        const int stride = 200;
        foreach (int n in new[] { 1, 2, 7, 64 })
        {
            var rng = new Random(n + headDim);
            float[] v = Random(rng, n * stride), p = Random(rng, n), acc = Random(rng, headDim);
            var expected = new double[headDim];
            var magnitude = new double[headDim];
            for (int d = 0; d < headDim; d++)
            {
                expected[d] = acc[d]; magnitude[d] = Math.Abs(acc[d]);
                for (int j = 0; j < n; j++) { double t = (double)p[j] * v[j * stride + d]; expected[d] += t; magnitude[d] += Math.Abs(t); }
            }
            fixed (float* pa = acc, pp = p, pv = v) AttentionKernels.WeightedSum(pa, pp, pv, stride, n, headDim);
            for (int d = 0; d < headDim; d++) MatMulTests.AssertClose(expected[d], acc[d], magnitude[d], $"acc[{d}] of {n} rows, headDim {headDim}");
        }
    }

    [Theory, MemberData(nameof(HeadDims))]
    public void AxpyDotScale_MatchDoubleReferences(int headDim)
    {
        var rng = new Random(headDim);
        float[] x = Random(rng, headDim), y = Random(rng, headDim), before = (float[])y.Clone();
        double dot = 0, magnitude = 0;
        for (int d = 0; d < headDim; d++) { dot += (double)x[d] * y[d]; magnitude += Math.Abs((double)x[d] * y[d]); }
        fixed (float* px = x, py = y)
        {
            MatMulTests.AssertClose(dot, AttentionKernels.Dot(px, py, headDim), magnitude, $"Dot, headDim {headDim}");
            AttentionKernels.Axpy(py, -0.625f, px, headDim);
            for (int d = 0; d < headDim; d++)
                MatMulTests.AssertClose(before[d] - 0.625 * x[d], y[d], Math.Abs(before[d]) + Math.Abs(0.625 * x[d]), $"Axpy y[{d}]");
            var axpy = (float[])y.Clone();
            AttentionKernels.Scale(py, 3f, headDim);
            for (int d = 0; d < headDim; d++) Assert.Equal(axpy[d] * 3f, y[d]);   // one rounding either way
        }
    }

    // Block lengths around every vector width (the flash loop calls these on blocks of up to 64 scores).
    public static TheoryData<int> Lengths => new() { 1, 3, 4, 5, 8, 15, 16, 17, 31, 33, 49, 64, 100 };

    [Theory, MemberData(nameof(Lengths))]
    public void MaxExpSumScoreGradient_MatchReferences(int n)
    {
        var rng = new Random(n);
        float[] x = Random(rng, n, 8f), dp = Random(rng, n), original = (float[])x.Clone(), originalDp = (float[])dp.Clone();
        x[rng.Next(n)] = 9.5f;                                       // a known maximum, anywhere in the block
        original = (float[])x.Clone();
        fixed (float* px = x, pdp = dp)
        {
            Assert.Equal(9.5f, AttentionKernels.Max(px, n));
            double expectedSum = 0;
            for (int s = 0; s < n; s++) expectedSum += Math.Exp(original[s] - 9.5);
            float sum = AttentionKernels.ExpSum(px, n, 9.5f);
            Assert.True(Math.Abs(sum - expectedSum) <= 1e-5 * expectedSum, $"ExpSum({n}) = {sum:R}, expected {expectedSum:R}");
            double written = 0;
            for (int s = 0; s < n; s++)
            {
                double e = Math.Exp(original[s] - 9.5);
                Assert.True(Math.Abs(x[s] - e) <= 2e-6 * e + 1e-30, $"exp[{s}] = {x[s]:R}, expected {e:R}");
                written += x[s];
            }
            Assert.True(Math.Abs(sum - written) <= 1e-5 * written, "ExpSum returns the sum of what it wrote");
            AttentionKernels.ScoreGradient(pdp, px, n, 0.25f, 0.5f);
            for (int s = 0; s < n; s++) Assert.Equal(x[s] * (originalDp[s] - 0.25f) * 0.5f, dp[s]);   // same three roundings
        }
    }

    [Fact]
    public void Max_PropagatesNaN_LikeMathFMax()
    {
        foreach (int n in new[] { 3, 16, 40 })
        {
            var x = Random(new Random(n), n);
            x[n / 2] = float.NaN;
            fixed (float* px = x) Assert.True(float.IsNaN(AttentionKernels.Max(px, n)), $"n = {n}");
        }
    }

    private static float[] Random(Random rng, int n, float scale = 1f)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }
}
