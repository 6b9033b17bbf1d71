using Qwen3Gen.Kernels;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Runtime.Tests.Kernels;

/// <summary>Threads split outputs, never reductions: 1, 2 and 3 threads give bit-identical results.</summary>
[Collection(WorkersCollection.Name)]
public unsafe class DeterminismTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1024, 3072 }, { 3, 100, 333 }, { 65, 130, 257 }, { 200, 96, 48 }, { 768, 128, 384 }, { 97, 300, 70 },
    };

    [Theory, MemberData(nameof(Shapes))]
    public void MatMul_OneTwoThreeThreads_BitIdentical(int rows, int inDim, int outDim)
    {
        float[][]? first = null;
        int saved = Workers.Threads;
        try
        {
            foreach (int threads in new[] { 1, 2, 3 })
            {
                Workers.Threads = threads;
                using var t = new Matrices(rows, inDim, outDim, seed: 42);
                MatMul.BackwardInput(t.DX.Pointer, t.DY.Pointer, t.W.Pointer, rows, inDim, outDim);
                MatMul.BackwardWeight(t.DW.Pointer, t.DY.Pointer, t.X.Pointer, rows, inDim, outDim);
                MatMul.Forward(t.Y.Pointer, t.X.Pointer, t.W.Pointer, rows, inDim, outDim);
                var bf = new NativeBuffer<float>(Math.Max(1, rows * outDim));
                MatMul.Forward(bf.Pointer, t.X.Pointer, t.WB.Pointer, rows, inDim, outDim);
                float[][] results = [t.Y.ToArray(), bf.ToArray(), t.DX.ToArray(), t.DW.ToArray()];
                bf.Dispose();
                if (first is null) { first = results; continue; }
                string[] names = ["Forward F32", "Forward BF16", "BackwardInput", "BackwardWeight"];
                for (int k = 0; k < results.Length; k++)
                    for (int i = 0; i < results[k].Length; i++)
                        if (BitConverter.SingleToInt32Bits(results[k][i]) != BitConverter.SingleToInt32Bits(first[k][i]))
                            Assert.Fail($"{names[k]}[{i}] with {threads} threads: {results[k][i]:R} != {first[k][i]:R} with 1 thread");
            }
        }
        finally { Workers.Threads = saved; }
    }

    /// <summary>The packed product computes each row the same whatever rows it is grouped with (tile or tail kernel).</summary>
    [Fact]
    public void Forward_RowResult_DoesNotDependOnRowGrouping()
    {
        const int rows = 47, inDim = 70, outDim = 45;
        using var t = new Matrices(rows, inDim, outDim, seed: 3);
        MatMul.Forward(t.Y.Pointer, t.X.Pointer, t.W.Pointer, rows, inDim, outDim);
        var all = t.Y.ToArray();
        // Rows 11..(11+19) alone (19 > MatVecMaxRows, so the same packed path, but with other tiles and tails).
        using var y = new NativeBuffer<float>(19 * outDim);
        MatMul.Forward(y.Pointer, t.X.Pointer + 11 * inDim, t.W.Pointer, 19, inDim, outDim);
        for (int i = 0; i < 19 * outDim; i++)
            Assert.Equal(BitConverter.SingleToInt32Bits(all[11 * outDim + i]), BitConverter.SingleToInt32Bits(y.Pointer[i]));
    }

    /// <summary>
    /// Up to MatVecMaxRows rows (a batched decode step): each row's result is bit-identical to that row computed alone,
    /// for F32 and BF16 weights, whatever the number of rows (continuous batching must not change a sequence's tokens).
    /// </summary>
    [Theory]
    [InlineData(1024, 67)]
    [InlineData(70, 45)]
    [InlineData(33, 9)]
    [InlineData(1040, 130)]   // an odd number of 16-float vectors (the unpaired last one), items of 64 outputs plus 2
    public void Forward_DecodeRows_EachRowEqualsItselfAlone(int inDim, int outDim)
    {
        for (int rows = 2; rows <= MatMul.MatVecMaxRows; rows++)
        {
            using var t = new Matrices(rows, inDim, outDim, seed: rows);
            using var y = new NativeBuffer<float>(rows * outDim);
            using var yb = new NativeBuffer<float>(rows * outDim);
            MatMul.Forward(y.Pointer, t.X.Pointer, t.W.Pointer, rows, inDim, outDim);
            MatMul.Forward(yb.Pointer, t.X.Pointer, t.WB.Pointer, rows, inDim, outDim);
            using var one = new NativeBuffer<float>(outDim);
            for (int r = 0; r < rows; r++)
            {
                MatMul.Forward(one.Pointer, t.X.Pointer + (long)r * inDim, t.W.Pointer, 1, inDim, outDim);
                for (int o = 0; o < outDim; o++)
                    Assert.True(BitConverter.SingleToInt32Bits(one.Pointer[o]) == BitConverter.SingleToInt32Bits(y.Pointer[(long)r * outDim + o]),
                                $"F32 rows {rows}, row {r}, output {o}: {y.Pointer[(long)r * outDim + o]:R} != {one.Pointer[o]:R} alone");
                MatMul.Forward(one.Pointer, t.X.Pointer + (long)r * inDim, t.WB.Pointer, 1, inDim, outDim);
                for (int o = 0; o < outDim; o++)
                    Assert.True(BitConverter.SingleToInt32Bits(one.Pointer[o]) == BitConverter.SingleToInt32Bits(yb.Pointer[(long)r * outDim + o]),
                                $"BF16 rows {rows}, row {r}, output {o}: {yb.Pointer[(long)r * outDim + o]:R} != {one.Pointer[o]:R} alone");
            }
        }
    }
}
