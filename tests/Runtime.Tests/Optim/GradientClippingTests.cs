using Qwen3Gen.Optim;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Runtime.Tests.Optim;

[Collection(WorkersThreadsCollection.Name)]
public sealed class GradientClippingTests
{
    private static float[] Random(int n, int seed, float scale)
    {
        var r = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)((r.NextDouble() * 2 - 1) * scale);
        return x;
    }

    private static double NaiveNorm(float[] g)
    {
        double s = 0;
        foreach (float x in g) s += (double)x * x;
        return Math.Sqrt(s);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(100_003)]
    [InlineData(5_000_017)] // more than 256 minimum-size chunks
    public void GlobalNorm_MatchesDoubleSum(int n)
    {
        var g = Random(n, n, 0.1f);
        double expected = NaiveNorm(g);
        Assert.Equal(expected, GradientClipping.GlobalNorm(g), expected * 1e-12);
    }

    [Fact]
    public void ClipGlobalNorm_AboveMax_ScalesEveryElementByMaxOverNorm()
    {
        var g = Random(70_001, 3, 0.1f);
        var original = (float[])g.Clone();
        double norm = NaiveNorm(g);
        Assert.True(norm > 1);
        double returned = GradientClipping.ClipGlobalNorm(g, 1.0);
        Assert.Equal(norm, returned, norm * 1e-12);
        float coef = (float)(1.0 / (norm + 1e-6)); // torch: max_norm / (total_norm + 1e-6)
        for (int i = 0; i < g.Length; i++) Assert.Equal(original[i] * coef, g[i]);
        Assert.Equal(1.0, NaiveNorm(g), 1e-5);
    }

    [Fact]
    public void ClipGlobalNorm_BelowMax_LeavesGradientsUnchanged()
    {
        var g = Random(1000, 4, 0.01f);
        var original = (float[])g.Clone();
        double norm = GradientClipping.ClipGlobalNorm(g, 10.0);
        Assert.True(norm < 10);
        Assert.Equal(original, g);
    }

    [Fact]
    public void ClipGlobalNorm_NonFinite_ReturnsItWithoutScaling()
    {
        var g = Random(100, 5, 1f);
        g[17] = float.NaN;
        var original = (float[])g.Clone();
        Assert.True(double.IsNaN(GradientClipping.ClipGlobalNorm(g, 1.0)));
        Assert.Equal(original, g);
        Assert.Throws<ArgumentOutOfRangeException>(() => GradientClipping.ClipGlobalNorm(g, 0));
    }

    [Fact]
    public void GlobalNorm_OneAndTwoThreads_BitIdentical()
    {
        var g = Random(3_000_001, 6, 0.1f);
        int saved = Workers.Threads;
        try
        {
            Workers.Threads = 1;
            double one = GradientClipping.GlobalNorm(g);
            Workers.Threads = 2;
            double two = GradientClipping.GlobalNorm(g);
            Assert.Equal(BitConverter.DoubleToInt64Bits(one), BitConverter.DoubleToInt64Bits(two));
        }
        finally { Workers.Threads = saved; }
    }
}
