namespace Qwen3Gen.Runtime.Tests.Kernels;

/// <summary>Dot, Axpy, Scale and Widen against scalar double references, for lengths around every vector width.</summary>
public unsafe class VectorKernelsTests
{
    public static TheoryData<int> Lengths => new() { 0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 100, 1001 };

    [Theory, MemberData(nameof(Lengths))]
    public void Dot_MatchesDoubleReference(int n)
    {
        using var a = Random(n, 1); using var b = Random(n, 2);
        double sum = 0, abs = 0;
        for (int i = 0; i < n; i++) { double p = (double)a.Pointer[i] * b.Pointer[i]; sum += p; abs += Math.Abs(p); }
        MatMulTests.AssertClose(sum, Qwen3Gen.Kernels.Dot(a.Pointer, b.Pointer, n), abs, $"Dot({n})");
    }

    [Theory, MemberData(nameof(Lengths))]
    public void Axpy_MatchesDoubleReference(int n)
    {
        using var y = Random(n, 3); using var x = Random(n, 4);
        var before = new float[n];
        for (int i = 0; i < n; i++) before[i] = y.Pointer[i];
        Qwen3Gen.Kernels.Axpy(y.Pointer, -0.75f, x.Pointer, n);
        for (int i = 0; i < n; i++)
            MatMulTests.AssertClose(before[i] + -0.75 * x.Pointer[i], y.Pointer[i], Math.Abs(before[i]) + Math.Abs(0.75 * x.Pointer[i]), $"y[{i}]");
    }

    [Theory, MemberData(nameof(Lengths))]
    public void Scale_MatchesReference(int n)
    {
        using var x = Random(n, 5);
        var before = new float[n];
        for (int i = 0; i < n; i++) before[i] = x.Pointer[i];
        Qwen3Gen.Kernels.Scale(x.Pointer, 3f, n);
        for (int i = 0; i < n; i++) Assert.Equal(before[i] * 3f, x.Pointer[i]);   // one rounding either way: exact match
    }

    [Theory, MemberData(nameof(Lengths))]
    public void Widen_IsExactShift(int n)
    {
        using var src = new NativeBuffer<BF16>(Math.Max(1, n));
        using var dst = new NativeBuffer<float>(Math.Max(1, n));
        var random = new Random(n);
        for (int i = 0; i < n; i++) src.Pointer[i] = new BF16((ushort)random.Next(0, 65536));
        Qwen3Gen.Kernels.Widen(src.Pointer, dst.Pointer, n);
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
