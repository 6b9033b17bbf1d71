using Qwen3Gen.Kernels;

namespace Qwen3Gen.Runtime.Tests.Kernels;

/// <summary>RowOps (Dot, Axpy, Scale, BF16 widening, log-sum-exp, exp-scale, SwiGLU gate gradient) against scalar references, for lengths around every vector width.</summary>
public unsafe class VectorKernelsTests
{
    public static TheoryData<int> Lengths => new() { 0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 100, 1001 };

    [Theory, MemberData(nameof(Lengths))]
    public void Dot_MatchesDoubleReference(int n)
    {
        using var a = Random(n, 1); using var b = Random(n, 2);
        double sum = 0, abs = 0;
        for (int i = 0; i < n; i++) { double p = (double)a.Pointer[i] * b.Pointer[i]; sum += p; abs += Math.Abs(p); }
        MatMulTests.AssertClose(sum, RowOps.Dot(a.Pointer, b.Pointer, n), abs, $"Dot({n})");
    }

    /// <summary>The formula written out per element in float, in the documented order: the vector lanes must give the same bits.</summary>
    [Theory, MemberData(nameof(Lengths))]
    public void SwiGluGateGradient_IsBitIdenticalToTheScalarFormula(int n)
    {
        using var z = Random(n, 5); using var up = Random(n, 6); using var dAct = Random(n, 7); using var g = Random(n, 8);
        var expected = new float[n];
        for (int i = 0; i < n; i++)
        {
            float sigma = 1f / (1f + MathF.Exp(-z.Pointer[i]));
            g.Pointer[i] = sigma;
            expected[i] = dAct.Pointer[i] * up.Pointer[i] * sigma * (1f + z.Pointer[i] * (1f - sigma));
        }
        RowOps.SwiGluGateGradient(g.Pointer, dAct.Pointer, z.Pointer, up.Pointer, n);
        for (int i = 0; i < n; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(g.Pointer[i]),
                        $"element {i} of {n}: {g.Pointer[i]:R}, expected {expected[i]:R}");
    }

    /// <summary>log Σ exp and exp(x − shift) · scale against double, for short rows and the 151,936-wide vocabulary row.</summary>
    [Theory, MemberData(nameof(Lengths)), InlineData(151_936)]
    public void LogSumExp_And_ExpScale_MatchDoubleReferences(int n)
    {
        if (n == 0) return;                                          // log Σ over nothing is not defined; the callers never ask
        using var x = Random(n, 9);
        for (int i = 0; i < n; i++) x.Pointer[i] *= 12f;             // logits spread over ±12
        double max = double.NegativeInfinity, sum = 0;
        for (int i = 0; i < n; i++) max = Math.Max(max, x.Pointer[i]);
        for (int i = 0; i < n; i++) sum += Math.Exp(x.Pointer[i] - max);
        double lse = max + Math.Log(sum);
        float got = RowOps.LogSumExp(x.Pointer, n);
        Assert.True(Math.Abs(got - lse) <= 1e-5 * (1 + Math.Abs(lse)), $"LogSumExp({n}) = {got:R}, expected {lse:R}; ISA {SimdLevel.Name}");

        var expected = new double[n];
        for (int i = 0; i < n; i++) expected[i] = Math.Exp(x.Pointer[i] - (double)got) * 0.25;
        RowOps.ExpScale(x.Pointer, n, got, 0.25f);
        for (int i = 0; i < n; i++)
            Assert.True(Math.Abs(x.Pointer[i] - expected[i]) <= 3e-6 * expected[i] + 1e-37, $"ExpScale[{i}] of {n} = {x.Pointer[i]:R}, expected {expected[i]:R}");
    }

    [Theory, MemberData(nameof(Lengths))]
    public void Axpy_MatchesDoubleReference(int n)
    {
        using var y = Random(n, 3); using var x = Random(n, 4);
        var before = new float[n];
        for (int i = 0; i < n; i++) before[i] = y.Pointer[i];
        RowOps.Axpy(y.Pointer, -0.75f, x.Pointer, n);
        for (int i = 0; i < n; i++)
            MatMulTests.AssertClose(before[i] + -0.75 * x.Pointer[i], y.Pointer[i], Math.Abs(before[i]) + Math.Abs(0.75 * x.Pointer[i]), $"y[{i}]");
    }

    [Theory, MemberData(nameof(Lengths))]
    public void Scale_MatchesReference(int n)
    {
        using var x = Random(n, 5);
        var before = new float[n];
        for (int i = 0; i < n; i++) before[i] = x.Pointer[i];
        RowOps.Scale(x.Pointer, 3f, n);
        for (int i = 0; i < n; i++) Assert.Equal(before[i] * 3f, x.Pointer[i]);   // one rounding either way: exact match
    }

    [Theory, MemberData(nameof(Lengths))]
    public void Widen_IsExactShift(int n)
    {
        using var src = new NativeBuffer<BF16>(Math.Max(1, n));
        using var dst = new NativeBuffer<float>(Math.Max(1, n));
        var random = new Random(n);
        for (int i = 0; i < n; i++) src.Pointer[i] = new BF16((ushort)random.Next(0, 65536));
        RowOps.Load(dst.Pointer, src.Pointer, n);
        for (int i = 0; i < n; i++)
            Assert.Equal(src.Pointer[i].Bits << 16, BitConverter.SingleToInt32Bits(dst.Pointer[i]));
    }

    private static NativeBuffer<float> Random(int n, int seed)
    {
        var b = new NativeBuffer<float>(Math.Max(1, n));
        var random = new Random(seed);
        for (int i = 0; i < n; i++) b.Pointer[i] = (float)(random.NextDouble() * 2 - 1);
        return b;
    }
}
