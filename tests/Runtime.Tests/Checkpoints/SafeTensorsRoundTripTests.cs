using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Kernels;

namespace Qwen3Gen.Runtime.Tests.Checkpoints;

public class SafeTensorsRoundTripTests
{
    [Fact]
    public void F32_RoundTrip_IsBitExact()
    {
        using var dir = new TempFolder();
        float[] values = [1.5f, -0f, float.MaxValue, float.Epsilon, float.NaN, float.NegativeInfinity, 3.14159265f, -1e-30f];
        var writer = new SafeTensorsWriter();
        writer.AddF32("w", [2, 4], values);
        writer.Save(dir.File("a.safetensors"));

        using var file = SafeTensorsFile.Open(dir.File("a.safetensors"));
        var info = file["w"];
        Assert.Equal(SafeTensorsDType.F32, info.DType);
        Assert.Equal([2L, 4L], info.Shape);
        var back = new float[8];
        file.ReadF32("w", back);
        for (int i = 0; i < values.Length; i++)
            Assert.Equal(BitConverter.SingleToInt32Bits(values[i]), BitConverter.SingleToInt32Bits(back[i]));
    }

    [Fact]
    public void BF16_RoundTrip_IsBitExact()
    {
        using var dir = new TempFolder();
        BF16[] values = [new(0x3F80), new(0xBF81), new(0x7F80), new(0x0001), new(0x7FC0), new(0x8000)];
        var writer = new SafeTensorsWriter();
        writer.AddBF16("b", [3, 2], values);
        writer.Save(dir.File("b.safetensors"));

        using var file = SafeTensorsFile.Open(dir.File("b.safetensors"));
        Assert.Equal(SafeTensorsDType.BF16, file["b"].DType);
        var back = new BF16[6];
        file.ReadBF16("b", back);
        Assert.Equal(values, back);
        // The raw bytes are the little-endian 16-bit patterns.
        var raw = file.GetBytes("b");
        Assert.Equal(12, raw.Length);
        Assert.Equal(0xBF81, BinaryPrimitives.ReadUInt16LittleEndian(raw[2..]));
    }

    [Fact]
    public void F16_RoundTrip_IsBitExact_AndWidensExactly()
    {
        using var dir = new TempFolder();
        // 1.0, -2.5, 65504 (max half), 2^-24 (smallest subnormal), -0
        ushort[] bits = [0x3C00, 0xC100, 0x7BFF, 0x0001, 0x8000];
        float[] expected = [1f, -2.5f, 65504f, MathF.Pow(2, -24), -0f];
        var halves = bits.Select(b => BitConverter.UInt16BitsToHalf(b)).ToArray();
        var writer = new SafeTensorsWriter();
        writer.AddF16("h", [5], halves);
        writer.Save(dir.File("h.safetensors"));

        using var file = SafeTensorsFile.Open(dir.File("h.safetensors"));
        Assert.Equal(SafeTensorsDType.F16, file["h"].DType);
        var raw = file.GetBytes("h");
        for (int i = 0; i < bits.Length; i++) Assert.Equal(bits[i], BinaryPrimitives.ReadUInt16LittleEndian(raw[(2 * i)..]));
        var f = file.ReadF32Array("h");
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(f[i]));
    }

    [Fact]
    public void I64_RoundTrip_IsExact()
    {
        using var dir = new TempFolder();
        long[] values = [0, -1, long.MaxValue, long.MinValue, 151_935, 42];
        var writer = new SafeTensorsWriter();
        writer.AddI64("input_ids", [2, 3], values);
        writer.Save(dir.File("i.safetensors"));

        using var file = SafeTensorsFile.Open(dir.File("i.safetensors"));
        Assert.Equal(SafeTensorsDType.I64, file["input_ids"].DType);
        Assert.Equal(values, file.ReadI64Array("input_ids"));
        var ex = Assert.Throws<InvalidDataException>(() => file.ReadF32Array("input_ids"));
        Assert.Contains("I64", ex.Message);
    }

    [Fact]
    public void Writer_Layout_MatchesTheFormat()
    {
        // Checked by hand against the format: u64 N, JSON padded with spaces to 8, data in sorted name order.
        using var dir = new TempFolder();
        var writer = new SafeTensorsWriter(new Dictionary<string, string> { ["format"] = "pt" });
        writer.AddF32("zeta", [1], new float[] { 2f });
        writer.AddF32("alpha", [2], new float[] { 1f, -1f });
        writer.AddI64("scalar", [], new long[] { 7 });
        writer.Save(dir.File("l.safetensors"));

        var bytes = File.ReadAllBytes(dir.File("l.safetensors"));
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, n % 8);
        string json = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.StartsWith("{\"__metadata__\":{\"format\":\"pt\"}", json);
        using var doc = JsonDocument.Parse(json);
        var names = doc.RootElement.EnumerateObject().Select(p => p.Name).ToArray();
        Assert.Equal(["__metadata__", "alpha", "scalar", "zeta"], names);
        Assert.Equal("[0,8]", doc.RootElement.GetProperty("alpha").GetProperty("data_offsets").GetRawText());
        Assert.Equal("[8,16]", doc.RootElement.GetProperty("scalar").GetProperty("data_offsets").GetRawText());
        Assert.Equal("[16,20]", doc.RootElement.GetProperty("zeta").GetProperty("data_offsets").GetRawText());
        Assert.Equal("[]", doc.RootElement.GetProperty("scalar").GetProperty("shape").GetRawText());
        Assert.Equal(8 + n + 20, bytes.Length);
        Assert.Equal(-1f, BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan((int)(8 + n + 4))));
        Assert.Equal(7L, BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan((int)(8 + n + 8))));

        using var file = SafeTensorsFile.Open(dir.File("l.safetensors"));
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(1, file["scalar"].ElementCount);
    }

    [Fact]
    public void ReadF32_WithElementOffset_ReadsASlice()
    {
        using var dir = new TempFolder();
        var values = Enumerable.Range(0, 10).Select(i => (float)i).ToArray();
        var writer = new SafeTensorsWriter();
        writer.AddF32("x", [10], values);
        writer.Save(dir.File("s.safetensors"));
        using var file = SafeTensorsFile.Open(dir.File("s.safetensors"));
        var part = new float[3];
        file.ReadF32("x", 6, part);
        Assert.Equal([6f, 7f, 8f], part);
        Assert.Throws<ArgumentOutOfRangeException>(() => file.ReadF32("x", 8, new float[3]));
        Assert.Throws<ArgumentException>(() => file.ReadF32("x", new float[9]));
        var missing = Assert.Throws<KeyNotFoundException>(() => file.ReadF32Array("nope"));
        Assert.Contains("'nope'", missing.Message);
    }

    [Fact]
    public void Writer_RejectsMismatchedDataAndDuplicates()
    {
        var writer = new SafeTensorsWriter();
        Assert.Throws<ArgumentException>(() => writer.AddF32("a", [2, 2], new float[3]));
        writer.AddF32("a", [1], new float[1]);
        Assert.Throws<ArgumentException>(() => writer.AddF32("a", [1], new float[1]));
        Assert.Throws<ArgumentException>(() => writer.AddF32("__metadata__", [1], new float[1]));
        writer.Add("short", SafeTensorsDType.F32, [4], s => s.Write(new byte[12]));
        var ex = Assert.Throws<InvalidOperationException>(() => writer.WriteTo(new MemoryStream()));
        Assert.Contains("'short'", ex.Message);
        Assert.Contains("12 bytes", ex.Message);
    }
}
