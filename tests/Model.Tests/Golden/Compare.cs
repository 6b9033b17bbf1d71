using Xunit.Abstractions;

namespace Qwen3Gen.Model.Tests;

/// <summary>Compares tensors elementwise and reports MaxAbsDiff / MaxRelDiff (llm.c style).</summary>
public static class Compare
{
    public static void Close(ITestOutputHelper? output, string name, ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, (double Rtol, double Atol) tol)
    {
        Assert.True(expected.Length == actual.Length, $"{name}: expected {expected.Length} values, got {actual.Length}");
        double maxAbs = 0, maxRel = 0;
        int worst = -1;
        double worstRatio = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i], diff = Math.Abs(a - e);
            if (double.IsNaN(a) || double.IsNaN(e)) { worst = i; worstRatio = double.PositiveInfinity; break; }
            maxAbs = Math.Max(maxAbs, diff);
            if (Math.Abs(e) > 0) maxRel = Math.Max(maxRel, diff / Math.Abs(e));
            double ratio = diff / (tol.Atol + tol.Rtol * Math.Abs(e));
            if (ratio > worstRatio) { worstRatio = ratio; worst = i; }
        }
        output?.WriteLine($"{name,-60} n={expected.Length,7}  MaxAbsDiff={maxAbs:E2}  MaxRelDiff={maxRel:E2}  worst/allowed={worstRatio:F3}");
        if (worstRatio > 1.0)
            Assert.Fail($"{name}: element {worst} is {actual[worst]:R}, expected {expected[worst]:R} (|diff| {Math.Abs(actual[worst] - expected[worst]):E2} > atol {tol.Atol} + rtol {tol.Rtol}·|expected|)");
    }
}
