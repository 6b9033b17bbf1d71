using Qwen3Gen.Checkpoints;
using Qwen3Gen.Kernels;

namespace Qwen3Gen.Runtime.Tests.Checkpoints;

/// <summary>dtype conversions on the read path, with expected bit patterns worked out by hand.</summary>
public class BF16ConversionTests
{
    private static SafeTensorsFile WriteAndOpen(TempFolder dir, Action<SafeTensorsWriter> add)
    {
        var writer = new SafeTensorsWriter();
        add(writer);
        writer.Save(dir.File("c.safetensors"));
        return SafeTensorsFile.Open(dir.File("c.safetensors"));
    }

    [Fact]
    public void BF16ToF32_IsExact_BitsShiftedLeft16()
    {
        using var dir = new TempFolder();
        ushort[] bits = [0x3F80, 0xC049, 0x0001, 0x7F7F, 0xFF80, 0x7FC1, 0x8000, 0x3EAB];
        using var file = WriteAndOpen(dir, w => w.AddBF16("b", [8], bits.Select(b => new BF16(b)).ToArray()));
        var f = file.ReadF32Array("b");
        for (int i = 0; i < bits.Length; i++)
            Assert.Equal((uint)bits[i] << 16, BitConverter.SingleToUInt32Bits(f[i]));
        Assert.Equal(1f, f[0]);
        Assert.Equal(-3.140625f, f[1]);   // 0xC049: -(1 + 73/128) * 2
    }

    [Fact]
    public void F32ToBF16_RoundsToNearest_TiesToEven()
    {
        using var dir = new TempFolder();
        uint[] input =
        [
            0x3F808000, // exactly half way between 0x3F80 and 0x3F81: tie -> even 0x3F80
            0x3F818000, // half way between 0x3F81 and 0x3F82: tie -> even 0x3F82
            0x3F808001, // just above half way -> 0x3F81
            0x3F807FFF, // just below half way -> 0x3F80
            0xBF818000, // negative tie -> even magnitude 0xBF82
            0x7F7FFFFF, // float.MaxValue rounds up to +infinity, as torch does
            0x00008000, // subnormal tie -> 0x0000
            0x7FC00001, // NaN stays NaN
        ];
        ushort[] expected = [0x3F80, 0x3F82, 0x3F81, 0x3F80, 0xBF82, 0x7F80, 0x0000, 0];
        using var file = WriteAndOpen(dir, w => w.AddF32("f", [8], input.Select(BitConverter.UInt32BitsToSingle).ToArray()));
        var b = new BF16[8];
        file.ReadBF16("f", b);
        for (int i = 0; i < 7; i++) Assert.Equal(expected[i], b[i].Bits);
        Assert.True(float.IsNaN(b[7].ToSingle()));
    }

    [Fact]
    public void F16ToBF16_RoundsOnce()
    {
        using var dir = new TempFolder();
        // half 0x3C01 = 1 + 2^-10 = f32 0x3F802000: below the bf16 half way point -> 0x3F80.
        // half 0x3E01 = 1.5 + 2^-10 -> f32 0x3FC02000 -> 0x3FC0.  
        // half 0x7BFF = 65504 = f32 0x477FE000: low half 0xE000 is above half way -> 0x4780 (65536).
        using var file = WriteAndOpen(dir, w => w.AddF16("h", [3], new[] { BitConverter.UInt16BitsToHalf(0x3C01), BitConverter.UInt16BitsToHalf(0x3E01), BitConverter.UInt16BitsToHalf(0x7BFF) }));
        var b = new BF16[3];
        file.ReadBF16("h", b);
        Assert.Equal(0x3F80, b[0].Bits);
        Assert.Equal(0x3FC0, b[1].Bits);
        Assert.Equal(0x4780, b[2].Bits);
    }
}
