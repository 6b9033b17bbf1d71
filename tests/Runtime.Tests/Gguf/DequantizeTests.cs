using System.Text.Json;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Quantization;

namespace Qwen3Gen.Runtime.Tests.Gguf;

/// <summary>
/// Dequantisation is bit-exact: every tensor of every fixture equals gguf-py's dequantisation stored in
/// dequant-&lt;type&gt;.safetensors, compared as 32-bit patterns (so -0.0 must be -0.0).
/// </summary>
public class DequantizeTests
{
    public static TheoryData<string> Quantised => new(GgufFixture.QuantisedTypes);

    [Theory]
    [MemberData(nameof(Quantised))]
    public void EveryTensor_EqualsTheReferenceBitForBit(string type)
    {
        using var gguf = GgufFile.Open(GgufFixture.Model(type));
        using var expected = SafeTensorsFile.Open(GgufFixture.Dequant(type));
        using var names = JsonDocument.Parse(expected.Metadata["gguf_names"]);
        int compared = 0;
        foreach (var entry in names.RootElement.EnumerateObject())
        {
            var info = gguf[entry.Value.GetString()!];
            var want = expected.ReadF32Array(entry.Name);
            Assert.True(info.ShapeEquals(expected[entry.Name].Shape.Select(d => (int)d).ToArray()), $"{entry.Name}: shape");
            var got = new float[info.ElementCount];
            Dequantize.Tensor(gguf, info, got);
            int differences = 0, first = -1;
            for (int i = 0; i < got.Length; i++)
                if (BitConverter.SingleToUInt32Bits(got[i]) != BitConverter.SingleToUInt32Bits(want[i]))
                {
                    if (differences++ == 0) first = i;
                }
            Assert.True(differences == 0,
                $"{type} {entry.Name} ({info.Type}): {differences} of {got.Length} differ, first at {first}: {(first >= 0 ? got[first] : 0)} vs {(first >= 0 ? want[first] : 0)}");
            compared++;
        }
        Assert.Equal(24, compared);
    }

    [Fact]
    public void NegativeZeros_AreKept()
    {
        // Q4_0 worked example: block 0 of blk.0.attn_q, d < 0, byte 0 = 0x89: w[16] = (8 - 8)·d = -0.0.
        using var gguf = GgufFile.Open(GgufFixture.Model("q4_0"));
        var row = new float[256];
        Dequantize.TensorRow(gguf, gguf["blk.0.attn_q.weight"], 0, row);
        Assert.Equal(-0.004833221435546875f, row[0]);
        Assert.Equal(0x80000000u, BitConverter.SingleToUInt32Bits(row[16]));
        Assert.Equal(-0.02899932861328125f, row[1]);
    }

    [Fact]
    public void KQuantWorkedExamples()
    {
        using var q4k = GgufFile.Open(GgufFixture.Model("q4_k_m"));
        var row = new float[256];
        Dequantize.TensorRow(q4k, q4k["blk.0.attn_q.weight"], 0, row);
        Assert.Equal([-0.002025604248046875f, 0.003826141357421875f, 0.01305389404296875f, 0.0072021484375f], [row[0], row[32], row[128], row[255]]);
        Dequantize.TensorRow(q4k, q4k["token_embd.weight"], 0, row);   // Q6_K
        Assert.Equal([-0.04010009765625f, 0.025493323802947998f, -0.032072246074676514f, -0.022974014282226562f, -0.015820741653442383f, -0.017961502075195312f],
                     [row[0], row[16], row[32], row[64], row[128], row[255]]);
        using var q5k = GgufFile.Open(GgufFixture.Model("q5_k_m"));
        Dequantize.TensorRow(q5k, q5k["blk.0.attn_q.weight"], 0, row);
        Assert.Equal([-0.0038573741912841797f, 0.005203664302825928f, 0.011519908905029297f, 0.0074198246002197266f], [row[0], row[32], row[128], row[255]]);
    }

    [Fact]
    public void F16AndBF16_WidenExactly()
    {
        byte[] f16 = [0x01, 0x00, 0x00, 0x3C, 0x00, 0xC0, 0x00, 0x80];   // smallest subnormal, 1, -2, -0
        byte[] bf16 = [0x80, 0x3F, 0x20, 0xC1];                           // 1.0, -10.0
        var y = new float[4];
        unsafe
        {
            fixed (byte* p = f16) fixed (float* q = y) Dequantize.Row(GgmlType.F16, p, q, 4);
            Assert.Equal([(float)BitConverter.UInt16BitsToHalf(1), 1f, -2f], y[..3]);
            Assert.Equal(0x80000000u, BitConverter.SingleToUInt32Bits(y[3]));
            fixed (byte* p = bf16) fixed (float* q = y) Dequantize.Row(GgmlType.BF16, p, q, 2);
        }
        Assert.Equal([1f, -10f], y[..2]);
    }
}
