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
}
