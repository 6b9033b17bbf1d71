using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.Runtime.Tests.Kernels;

/// <summary>
/// A product whose sizes are a type (<see cref="IProduct"/>, compiled with In and Out as constants) gives bit for bit what
/// the run-time-size entry points give (checked against a double reference in <see cref="MatMulTests"/>): the constants
/// change which code the JIT emits, never the order of the FMAs. Sizes cover the folds in the kernels: K at most one
/// k-block, a multiple of it and neither; N a multiple of every panel width and not; decode (≤ 16 rows) and packed rows.
/// </summary>
[Collection(WorkersCollection.Name)]
public unsafe class ProductSizesTests
{
    private readonly struct Odd : IProduct { public static int In => 70; public static int Out => 50; }
    private readonly struct Blocked : IProduct { public static int In => 512; public static int Out => 96; }
    private readonly struct LongRows : IProduct { public static int In => 600; public static int Out => 64; }

    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (string product in new[] { nameof(Odd), nameof(Blocked), nameof(LongRows) })
            foreach (int rows in new[] { 1, 2, 3, 5, 16, 17, 40 })
                data.Add(product, rows);
        return data;
    }

    [Theory, MemberData(nameof(Cases))]
    public void ConstantSizes_GiveTheRunTimeSizeResults_BitForBit(string product, int rows)
    {
        switch (product)
        {
            case nameof(Odd): Check<Odd>(rows); break;
            case nameof(Blocked): Check<Blocked>(rows); break;
            default: Check<LongRows>(rows); break;
        }
    }

    private static void Check<P>(int rows) where P : struct, IProduct
    {
        int inDim = P.In, outDim = P.Out;
        using var t = new Matrices(rows, inDim, outDim, seed: rows * 31 + inDim);
        int ySize = rows * outDim, dxSize = rows * inDim, dwSize = outDim * inDim;
        foreach (var w in new[] { WeightMatrix.F32(t.W.Pointer), WeightMatrix.BF16(t.WB.Pointer) })
        {
            MatMul.Forward(t.Y.Pointer, t.X.Pointer, w, rows, inDim, outDim);
            var expected = t.Y.Slice(0, ySize).ToArray();
            t.Y.Slice(0, ySize).Fill(float.NaN);
            MatMul.Forward<P>(t.Y.Pointer, t.X.Pointer, w, rows);
            Assert.Equal(expected, t.Y.Slice(0, ySize).ToArray());

            var start = t.DX.Slice(0, dxSize).ToArray();
            MatMul.BackwardInput(t.DX.Pointer, t.DY.Pointer, w, rows, inDim, outDim);
            expected = t.DX.Slice(0, dxSize).ToArray();
            start.CopyTo(t.DX.Slice(0, dxSize));
            MatMul.BackwardInput<P>(t.DX.Pointer, t.DY.Pointer, w, rows);
            Assert.Equal(expected, t.DX.Slice(0, dxSize).ToArray());
        }

        var before = t.DW.Slice(0, dwSize).ToArray();
        MatMul.BackwardWeight(t.DW.Pointer, t.DY.Pointer, t.X.Pointer, rows, inDim, outDim);
        var dw = t.DW.Slice(0, dwSize).ToArray();
        before.CopyTo(t.DW.Slice(0, dwSize));
        MatMul.BackwardWeight<P>(t.DW.Pointer, t.DY.Pointer, t.X.Pointer, rows);
        Assert.Equal(dw, t.DW.Slice(0, dwSize).ToArray());
    }
}
