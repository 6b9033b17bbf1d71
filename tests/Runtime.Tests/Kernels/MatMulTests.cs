using Qwen3Gen.Kernels;
using Qwen3Gen.Threading;
using Qwen3Gen.Models;

namespace Qwen3Gen.Runtime.Tests.Kernels;

/// <summary>
/// MatMul against a naive double-precision reference on odd shapes (tails everywhere), F32 and BF16 weights.
/// Tolerance: |got - ref| ≤ 1e-5 · Σ|x||w| (+ |dx| or |dw| already there for the accumulating backward products):
/// float32 accumulation over n terms errs by about n · 2^-24 relative to Σ|x||w|, far below that for these n.
/// </summary>
[Collection(WorkersCollection.Name)]
public unsafe class MatMulTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 1 }, { 3, 48, 96 }, { 7, 17, 33 }, { 65, 130, 257 }, { 1, 1000, 700 }, { 2, 515, 77 },
        { 4, 8, 1 }, { 5, 1, 8 }, { 13, 300, 40 }, { 6, 32, 32 }, { 1, 3072, 96 }, { 300, 70, 50 }, { 400, 20, 390 },
    };

    [Theory, MemberData(nameof(Shapes))]
    public void Forward_F32_MatchesDoubleReference(int rows, int inDim, int outDim)
    {
        using var t = new Matrices(rows, inDim, outDim, seed: rows * 7 + inDim);
        MatMul.Forward(t.Y.Pointer, t.X.Pointer, t.W.Pointer, rows, inDim, outDim);
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outDim; o++)
            {
                double sum = 0, abs = 0;
                for (int i = 0; i < inDim; i++) { double p = (double)t.Xv(r, i) * t.Wv(o, i); sum += p; abs += Math.Abs(p); }
                AssertClose(sum, t.Y.Pointer[r * outDim + o], abs, $"y[{r},{o}]");
            }
    }

    [Theory, MemberData(nameof(Shapes))]
    public void Forward_BF16_MatchesDoubleReferenceOnWidenedWeights(int rows, int inDim, int outDim)
    {
        using var t = new Matrices(rows, inDim, outDim, seed: rows * 11 + outDim);
        MatMul.Forward(t.Y.Pointer, t.X.Pointer, t.WB.Pointer, rows, inDim, outDim);
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outDim; o++)
            {
                double sum = 0, abs = 0;
                for (int i = 0; i < inDim; i++)
                {
                    // Widen by hand (bits << 16), independent of the code under test.
                    double wi = BitConverter.Int32BitsToSingle(t.WB.Pointer[(long)o * inDim + i].Bits << 16);
                    double p = t.Xv(r, i) * wi; sum += p; abs += Math.Abs(p);
                }
                AssertClose(sum, t.Y.Pointer[r * outDim + o], abs, $"y[{r},{o}]");
            }
    }

    [Theory, MemberData(nameof(Shapes))]
    public void BackwardInput_AccumulatesDoubleReference(int rows, int inDim, int outDim)
    {
        using var t = new Matrices(rows, inDim, outDim, seed: rows + inDim * 3);
        var before = t.DX.ToArray();
        MatMul.BackwardInput(t.DX.Pointer, t.DY.Pointer, t.W.Pointer, rows, inDim, outDim);
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < inDim; i++)
            {
                double sum = before[r * inDim + i], abs = Math.Abs(sum);
                for (int o = 0; o < outDim; o++) { double p = (double)t.DY.Pointer[r * outDim + o] * t.Wv(o, i); sum += p; abs += Math.Abs(p); }
                AssertClose(sum, t.DX.Pointer[r * inDim + i], abs, $"dx[{r},{i}]");
            }
    }

    [Theory, MemberData(nameof(Shapes))]
    public void BackwardWeight_AccumulatesDoubleReference(int rows, int inDim, int outDim)
    {
        using var t = new Matrices(rows, inDim, outDim, seed: rows * 5 + outDim * 2);
        var before = t.DW.ToArray();
        MatMul.BackwardWeight(t.DW.Pointer, t.DY.Pointer, t.X.Pointer, rows, inDim, outDim);
        for (int o = 0; o < outDim; o++)
            for (int i = 0; i < inDim; i++)
            {
                double sum = before[(long)o * inDim + i], abs = Math.Abs(sum);
                for (int r = 0; r < rows; r++) { double p = (double)t.DY.Pointer[r * outDim + o] * t.Xv(r, i); sum += p; abs += Math.Abs(p); }
                AssertClose(sum, t.DW.Pointer[(long)o * inDim + i], abs, $"dw[{o},{i}]");
            }
    }

    [Theory, MemberData(nameof(Shapes))]
    public void ForwardAdd_AccumulatesDoubleReference(int rows, int inDim, int outDim)
    {
        using var t = new Matrices(rows, inDim, outDim, seed: rows * 13 + inDim);
        var before = t.Y.ToArray();
        MatMul.ForwardAdd(t.Y.Pointer, t.X.Pointer, t.W.Pointer, rows, inDim, outDim);
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outDim; o++)
            {
                double sum = before[r * outDim + o], abs = Math.Abs(sum);
                for (int i = 0; i < inDim; i++) { double p = (double)t.Xv(r, i) * t.Wv(o, i); sum += p; abs += Math.Abs(p); }
                AssertClose(sum, t.Y.Pointer[r * outDim + o], abs, $"y[{r},{o}]");
            }
    }

    /// <summary>
    /// The input gradient through a BF16 handle (a frozen BF16 base under LoRA) is bit for bit that through F32 weights holding
    /// the widened values (widened by hand here), on 1 and 2 threads; a quantised handle is refused.
    /// </summary>
    [Theory, MemberData(nameof(Shapes))]
    public void BackwardInput_BF16Handle_IsTheF32ProductOfTheWidenedWeights(int rows, int inDim, int outDim)
    {
        using var t = new Matrices(rows, inDim, outDim, seed: rows * 17 + outDim);
        long n = (long)outDim * inDim;
        using var widened = new NativeBuffer<float>(Math.Max(1, n));
        for (long i = 0; i < n; i++) widened.Pointer[i] = BitConverter.Int32BitsToSingle(t.WB.Pointer[i].Bits << 16);
        var start = t.DX.ToArray();
        int threads = Workers.Threads;
        try
        {
            foreach (int count in new[] { 1, 2 })
            {
                Workers.Threads = count;
                start.CopyTo(t.DX.Slice(0, start.Length));
                MatMul.BackwardInput(t.DX.Pointer, t.DY.Pointer, widened.Pointer, rows, inDim, outDim);
                var expected = t.DX.ToArray();
                start.CopyTo(t.DX.Slice(0, start.Length));
                MatMul.BackwardInput(t.DX.Pointer, t.DY.Pointer, WeightMatrix.BF16(t.WB.Pointer), rows, inDim, outDim);
                Assert.Equal(expected, t.DX.ToArray());
            }
        }
        finally { Workers.Threads = threads; }
        Assert.Throws<NotSupportedException>(() => MatMul.BackwardInput(t.DX.Pointer, t.DY.Pointer, new WeightMatrix(t.WB.Pointer, MatrixFormat.Q8_0), rows, inDim, outDim));
    }

    [Fact]
    public void Forward_ZeroInDim_WritesZeros()
    {
        using var y = new NativeBuffer<float>(6);
        y.Slice(0, 6).Fill(5f);
        using var x = new NativeBuffer<float>(1);
        using var w = new NativeBuffer<float>(1);
        MatMul.Forward(y.Pointer, x.Pointer, w.Pointer, 6, 0, 1);
        Assert.All(y.Slice(0, 6).ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Forward_BadArguments_Throw()
    {
        using var b = new NativeBuffer<float>(4);
        Assert.Throws<ArgumentOutOfRangeException>(() => MatMul.Forward(b.Pointer, b.Pointer, b.Pointer, -1, 2, 2));
        Assert.Throws<ArgumentNullException>(() => MatMul.Forward(null, b.Pointer, b.Pointer, 2, 1, 2));
        Assert.Throws<ArgumentNullException>(() => MatMul.BackwardWeight(b.Pointer, b.Pointer, null, 2, 1, 2));
        Assert.Throws<NotSupportedException>(() => MatMul.Forward(b.Pointer, b.Pointer, (int*)b.Pointer, 2, 1, 2));
    }

    internal static void AssertClose(double expected, float actual, double scale, string what)
    {
        double tol = 1e-5 * scale + 1e-30;
        if (!(Math.Abs(actual - expected) <= tol))
            Assert.Fail($"{what}: got {actual}, expected {expected} (|diff| {Math.Abs(actual - expected):E3} > tol {tol:E3}); ISA {SimdLevel.Name}");
    }
}

/// <summary>x [rows, in], w [out, in] (F32 and its BF16 rounding), y [rows, out], dy [rows, out], dx [rows, in], dw [out, in], random in [-1, 1).</summary>
internal sealed unsafe class Matrices : IDisposable
{
    public readonly NativeBuffer<float> X, W, Y, DY, DX, DW;
    public readonly NativeBuffer<BF16> WB;
    private readonly int _in;

    public Matrices(int rows, int inDim, int outDim, int seed)
    {
        _in = inDim;
        var random = new Random(seed);
        X = Fill(rows * inDim); W = Fill(outDim * inDim); Y = Fill(rows * outDim);
        DY = Fill(rows * outDim); DX = Fill(rows * inDim); DW = Fill(outDim * inDim);
        WB = new NativeBuffer<BF16>(Math.Max(1, outDim * inDim));
        for (long i = 0; i < (long)outDim * inDim; i++) WB.Pointer[i] = BF16.FromSingle(W.Pointer[i]);

        NativeBuffer<float> Fill(int n)
        {
            var b = new NativeBuffer<float>(Math.Max(1, n));
            for (int i = 0; i < n; i++) b.Pointer[i] = (float)(random.NextDouble() * 2 - 1);
            return b;
        }
    }

    public float Xv(int row, int i) => X.Pointer[(long)row * _in + i];
    public float Wv(int o, int i) => W.Pointer[(long)o * _in + i];

    public void Dispose() { X.Dispose(); W.Dispose(); Y.Dispose(); DY.Dispose(); DX.Dispose(); DW.Dispose(); WB.Dispose(); }
}

internal static unsafe class NativeBufferExtensions
{
    public static float[] ToArray(this NativeBuffer<float> b) => b.Slice(0, (int)b.Length).ToArray();
}

/// <summary>Tests that change Workers.Threads run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class WorkersCollection
{
    public const string Name = "Workers";
}
