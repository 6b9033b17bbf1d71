using Qwen3Gen.Checkpoints;
using Qwen3Gen.Quantization;
using Qwen3Gen.Models;

namespace Qwen3Gen.Runtime.Tests.Kernels;

/// <summary>
/// The int8 engine's products on stored GGML blocks: the 512-bit, 256-bit and scalar paths give the same bits (on the
/// paths this CPU has), and every path equals, within float rounding, a float64 product of the independently
/// validated dequantisation (<see cref="Dequantize"/>, bit-exact against gguf-py) with the dequantised int8 activations,
/// so a layout mistake in a vector path cannot hide behind agreement with another path.
/// </summary>
public unsafe class QuantDotTests
{
    public static TheoryData<MatrixFormat, int> Cases => new()
    {
        { MatrixFormat.Q8_0, 96 }, { MatrixFormat.Q8_0, 1024 }, { MatrixFormat.Q8_0, 32 },
        { MatrixFormat.Q4_0, 160 }, { MatrixFormat.Q4_0, 1024 },
        { MatrixFormat.Q4_K, 256 }, { MatrixFormat.Q4_K, 1024 },
        { MatrixFormat.Q5_K, 512 }, { MatrixFormat.Q5_K, 1024 },
        { MatrixFormat.Q6_K, 256 }, { MatrixFormat.Q6_K, 1536 },
    };

    private static GgmlType Ggml(MatrixFormat f) => f switch
    {
        MatrixFormat.Q8_0 => GgmlType.Q8_0, MatrixFormat.Q4_0 => GgmlType.Q4_0, MatrixFormat.Q4_K => GgmlType.Q4_K,
        MatrixFormat.Q5_K => GgmlType.Q5_K, _ => GgmlType.Q6_K,
    };

    /// <summary>Random blocks: random quant bytes, fp16 scales of either sign where the format allows it.</summary>
    private static byte[] RandomBlocks(MatrixFormat format, int rows, int cols, Random rng)
    {
        var data = new byte[WeightMatrix.RowBytes(format, cols) * rows];
        rng.NextBytes(data);
        int bytes = WeightMatrix.BlockBytes(format);
        ushort Half(double v) => BitConverter.HalfToUInt16Bits((Half)v);
        for (int at = 0; at < data.Length; at += bytes)
        {
            fixed (byte* p = &data[at])
            {
                switch (format)
                {
                    case MatrixFormat.Q8_0 or MatrixFormat.Q4_0:
                        *(ushort*)p = Half((rng.NextDouble() - 0.5) * 0.01);
                        break;
                    case MatrixFormat.Q4_K or MatrixFormat.Q5_K:
                        *(ushort*)p = Half(rng.NextDouble() * 0.001);
                        *(ushort*)(p + 2) = Half(rng.NextDouble() * 0.001);
                        break;
                    default:
                        *(ushort*)(p + 208) = Half(rng.NextDouble() * 0.0005);
                        break;
                }
            }
        }
        return data;
    }

    private static float[] Product(MatrixFormat format, byte[] w, float[] x, int rows, int cols, int outs, QuantPath path)
    {
        var y = new float[rows * outs];
        fixed (byte* pw = w) fixed (float* px = x) fixed (float* py = y)
            QuantMatMul.Forward(py, px, new WeightMatrix(pw, format), rows, cols, outs, path);
        return y;
    }

    private static IEnumerable<QuantPath> Paths()
    {
        yield return QuantPath.Scalar;
        if (QuantDot.Best >= QuantPath.V256) yield return QuantPath.V256;
        if (QuantDot.Best >= QuantPath.V512) yield return QuantPath.V512;
    }

    [Theory, MemberData(nameof(Cases))]
    public void AllPaths_AreBitIdentical_AndEqualTheDequantisedProduct(MatrixFormat format, int cols)
    {
        var rng = new Random(cols * 31 + (int)format);
        const int outs = 37, rows = 3;
        var w = RandomBlocks(format, outs, cols, rng);
        var x = new float[rows * cols];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 4 - 2);
        for (int i = 0; i < 32; i++) x[cols + i] = 0;                              // an all-zero activation block
        x[2 * cols + 5] = 1e4f;                                                      // an outlier

        var reference = Product(format, w, x, rows, cols, outs, QuantPath.Scalar);
        foreach (var path in Paths())
        {
            var y = Product(format, w, x, rows, cols, outs, path);
            for (int i = 0; i < y.Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(reference[i]) == BitConverter.SingleToInt32Bits(y[i]),
                    $"{format} {path}: y[{i}] = {y[i]:R}, scalar {reference[i]:R}");
        }

        // Independent check: float64 Σ dequantised weight · dequantised int8 activation.
        var wf = new float[outs * cols];
        fixed (byte* pw = w) fixed (float* pf = wf) Dequantize.Row(Ggml(format), pw, pf, (long)outs * cols);
        var xq = new sbyte[cols];
        var xd = new float[cols / 32];
        var xg = new int[cols / 4];
        for (int r = 0; r < rows; r++)
        {
            fixed (float* px = &x[r * cols]) fixed (sbyte* pq = xq) fixed (float* pd = xd) fixed (int* pg = xg)
                QuantMatMul.QuantizeRow(px, pq, pd, pg, cols / 32, vector: false);
            for (int o = 0; o < outs; o++)
            {
                double sum = 0, magnitude = 0;
                for (int i = 0; i < cols; i++)
                {
                    double term = (double)wf[o * cols + i] * (xq[i] * (double)xd[i / 32]);
                    sum += term;
                    magnitude += Math.Abs(term);
                }
                double got = reference[r * outs + o];
                Assert.True(Math.Abs(got - sum) <= 1e-5 * magnitude + 1e-30, $"{format} row {r} out {o}: {got} vs {sum} (scale {magnitude})");
            }
        }
    }

    [Fact]
    public void ActivationQuantisation_VectorAndScalarLoops_Agree()
    {
        var rng = new Random(5);
        const int blocks = 24;
        var x = new float[32 * blocks];
        for (int i = 0; i < x.Length; i++) x[i] = (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-3, 3)));
        for (int i = 0; i < 32; i++) x[64 + i] = 0;
        x[200] = 127.5f; x[201] = -0.5f; x[202] = 0.5f;                 // ties round to even on both loops
        var (q1, d1, g1) = (new sbyte[x.Length], new float[blocks], new int[8 * blocks]);
        var (q2, d2, g2) = (new sbyte[x.Length], new float[blocks], new int[8 * blocks]);
        fixed (float* px = x) fixed (sbyte* a = q1, b = q2) fixed (float* da = d1, db = d2) fixed (int* ga = g1, gb = g2)
        {
            QuantMatMul.QuantizeRow(px, a, da, ga, blocks, vector: true);
            QuantMatMul.QuantizeRow(px, b, db, gb, blocks, vector: false);
        }
        Assert.Equal(q2, q1);
        Assert.Equal(d2, d1);
        Assert.Equal(g2, g1);
        Assert.All(q1.Skip(64).Take(32), v => Assert.Equal(0, v));
        for (int k = 0; k < 8 * blocks; k++) Assert.Equal(q1[4 * k] + q1[4 * k + 1] + q1[4 * k + 2] + q1[4 * k + 3], g1[k]);
    }
}
