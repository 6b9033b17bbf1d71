using Qwen3Gen.Checkpoints;
using Qwen3Gen.Kernels;
using Qwen3Gen.Quantization;
using Qwen3Gen.Models;

namespace Qwen3Gen.Runtime.Tests.Gguf;

/// <summary>
/// The int8-activation products on stored blocks against an independent double-precision sum: the weights
/// dequantised (bit-exact, <see cref="DequantizeTests"/>) times the activations quantised here the same way
/// (blocks of 32, d = max|x| / 127, q = round half away from zero). What remains is float32 rounding.
/// </summary>
public unsafe class QuantMatMulTests
{
    public static TheoryData<string, string> Matrices => new()
    {
        { "q8_0", "blk.0.attn_q.weight" }, { "q4_0", "blk.0.ffn_down.weight" }, { "q4_k_m", "blk.0.attn_k.weight" },
        { "q5_k_m", "blk.1.ffn_up.weight" }, { "q6_k", "blk.0.attn_output.weight" }, { "q4_k_m", "token_embd.weight" },
    };

    [Theory, MemberData(nameof(Matrices))]
    public void Products_MatchDequantisedWeightsTimesQuantisedActivations(string type, string tensor)
    {
        using var file = GgufFile.Open(GgufFixture.Model(type));
        var info = file[tensor];
        int outDim = (int)info.Rows, inDim = (int)info.RowLength;
        var w = new float[info.ElementCount];
        Dequantize.Tensor(file, info, w);
        var handle = new WeightMatrix(file.Data(info), MatrixRows.FromGgml(info.Type)!.Value);
        var random = new Random(7);
        foreach (int rows in new[] { 1, 5 })
        {
            var x = new float[rows * inDim];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 4 - 2);
            x[3] = 0;                                                       // a zero and a block of zeros
            for (int i = 32; i < 64 && inDim >= 64; i++) x[i] = 0;
            var y = new float[rows * outDim];
            fixed (float* py = y) fixed (float* px = x) MatMul.Forward(py, px, handle, rows, inDim, outDim);
            for (int r = 0; r < rows; r++)
            {
                var xhat = QuantiseHere(x.AsSpan(r * inDim, inDim));
                for (int o = 0; o < outDim; o++)
                {
                    double sum = 0, magnitude = 0;
                    for (int i = 0; i < inDim; i++)
                    {
                        sum += (double)w[(long)o * inDim + i] * xhat[i];
                        magnitude += Math.Abs((double)w[(long)o * inDim + i] * xhat[i]);
                    }
                    Assert.True(Math.Abs(y[r * outDim + o] - sum) <= 2e-6 * magnitude + 1e-30,
                        $"{type} {tensor} row {r} out {o}: {y[r * outDim + o]} vs {sum} (|terms| {magnitude})");
                }
            }
        }
    }

    private static double[] QuantiseHere(ReadOnlySpan<float> x)
    {
        var result = new double[x.Length];
        for (int b = 0; b < x.Length / 32; b++)
        {
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = Math.Max(amax, Math.Abs(x[32 * b + i]));
            float d = amax / 127f;
            for (int i = 0; i < 32; i++)
                result[32 * b + i] = d == 0 ? 0 : d * Math.Clamp(Math.Round(x[32 * b + i] / (double)d, MidpointRounding.AwayFromZero), -127, 127);
        }
        return result;
    }
}
