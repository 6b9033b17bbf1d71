using System.Buffers.Binary;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Kernels;

namespace Qwen3Gen.Runtime.Tests.Checkpoints;

/// <summary>Every kind of damaged file is an InvalidDataException whose message names the file, the tensor and the numbers.</summary>
public class SafeTensorsDamageTests
{
    private const string Good = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}";

    private static InvalidDataException Reject(byte[] bytes, params string[] expectedInMessage)
    {
        using var dir = new TempFolder();
        string path = dir.File("bad.safetensors");
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path).Dispose());
        Assert.Contains("bad.safetensors", ex.Message);
        foreach (var part in expectedInMessage) Assert.Contains(part, ex.Message);
        return ex;
    }

    [Fact]
    public void GoodFile_Opens()
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("ok.safetensors"), RawSafeTensors.Build(Good, 24));
        using var file = SafeTensorsFile.Open(dir.File("ok.safetensors"));
        Assert.Equal(6, file["w"].ElementCount);
    }

    [Fact]
    public void EmptyFile_IsRejected() => Reject([], "empty");

    [Fact]
    public void FileShorterThanTheLengthField_IsRejected() => Reject([1, 0, 0], "truncated", "3 bytes");

    [Fact]
    public void TruncatedHeader_IsRejected()
    {
        var bytes = RawSafeTensors.Build(Good, 24);
        Reject(bytes[..40], "truncated", $"header length {Good.Length}", "32 bytes follow");
    }

    [Fact]
    public void TruncatedData_IsRejected()
    {
        var bytes = RawSafeTensors.Build(Good, 24);
        Reject(bytes[..^4], "'w'", "[0, 24]", "20 bytes", "truncated");
    }

    [Theory]
    [InlineData(1UL << 62)]
    [InlineData(ulong.MaxValue)]
    [InlineData(100_000_001UL)]
    public void AbsurdHeaderLength_IsRejected(ulong length)
    {
        var bytes = RawSafeTensors.Build(Good, new byte[24], declaredLength: length);
        Reject(bytes, $"header length {length}", "limit");
    }

    [Fact]
    public void HeaderLengthBeyondTheFile_IsRejected()
    {
        var bytes = RawSafeTensors.Build(Good, new byte[24], declaredLength: 5000);
        Reject(bytes, "header length 5000", "truncated");
    }

    [Theory]
    [InlineData("{\"w\": {\"dtype\": \"F32\", ")]
    [InlineData("not json at all")]
    [InlineData("{\"a\":1}{\"b\":2}")]
    public void HeaderNotJson_IsRejected(string json) => Reject(RawSafeTensors.Build(json, 0), "not valid UTF-8 JSON");

    [Fact]
    public void HeaderWithInvalidUtf8_IsRejected()
    {
        var bytes = RawSafeTensors.Build("{\"w\":{}}", 0);
        bytes[10] = 0xFF;
        Reject(bytes, "UTF-8");
    }

    [Fact]
    public void HeaderNotAnObject_IsRejected() => Reject(RawSafeTensors.Build("[1, 2, 3]", 0), "JSON object", "Array");

    [Fact]
    public void OffsetsOutOfRange_AreRejected() =>
        Reject(RawSafeTensors.Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[100,108]}}", 16),
            "'w'", "[100, 108]", "16 bytes");

    [Fact]
    public void OffsetsBackwards_AreRejected() =>
        Reject(RawSafeTensors.Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 16), "'w'", "[8, 0]");

    [Fact]
    public void NegativeOrFractionalOffsets_AreRejected()
    {
        Reject(RawSafeTensors.Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 16), "'w'", "non-negative");
        Reject(RawSafeTensors.Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0.5,8.5]}}", 16), "'w'", "non-negative");
        Reject(RawSafeTensors.Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 16), "'w'", "[begin, end]");
        Reject(RawSafeTensors.Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0, 99999999999999999999999]}}", 16), "'w'");
    }

    [Fact]
    public void OverlappingOffsets_AreRejected() =>
        Reject(RawSafeTensors.Build(
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}," +
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16),
            "'a'", "'b'", "[0, 16)", "[8, 16)", "overlap");

    [Theory]
    [InlineData("Q4_K")]
    [InlineData("f32")]
    [InlineData("U8,I8")]
    [InlineData("11")]
    public void UnknownDType_IsRejected(string dtype) =>
        Reject(RawSafeTensors.Build($"{{\"w\":{{\"dtype\":\"{dtype}\",\"shape\":[2],\"data_offsets\":[0,8]}}}}", 8),
            "'w'", $"unknown dtype '{dtype}'");

    [Fact]
    public void ShapeByteCountMismatch_IsRejected() =>
        Reject(RawSafeTensors.Build("{\"w\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24),
            "'w'", "[2, 3]", "BF16", "needs 12 bytes", "hold 24");

    [Fact]
    public void NegativeShape_IsRejected() =>
        Reject(RawSafeTensors.Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2,3],\"data_offsets\":[0,24]}}", 24),
            "'w'", "negative dimension -2");

    [Fact]
    public void NonIntegerShape_IsRejected()
    {
        Reject(RawSafeTensors.Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8), "'w'", "2.5", "not an integer");
        Reject(RawSafeTensors.Build("{\"w\":{\"dtype\":\"F32\",\"shape\":\"[2]\",\"data_offsets\":[0,8]}}", 8), "'w'", "shape");
    }

    [Fact]
    public void ShapeWhoseProductOverflows_IsRejected() =>
        Reject(RawSafeTensors.Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8),
            "'w'", "more elements");

    [Fact]
    public void MissingFields_AreRejected()
    {
        Reject(RawSafeTensors.Build("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "'w'", "missing 'dtype'");
        Reject(RawSafeTensors.Build("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8), "'w'", "shape");
        Reject(RawSafeTensors.Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8), "'w'", "data_offsets");
        Reject(RawSafeTensors.Build("{\"w\":[1,2]}", 8), "'w'", "expected an object");
    }

    [Fact]
    public void DuplicateTensorName_IsRejected() =>
        Reject(RawSafeTensors.Build(
            "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8),
            "'w'", "twice");

    [Fact]
    public void BadMetadata_IsRejected()
    {
        Reject(RawSafeTensors.Build("{\"__metadata__\":{\"format\":1}}", 0), "__metadata__", "'format'", "string");
        Reject(RawSafeTensors.Build("{\"__metadata__\":[\"pt\"]}", 0), "__metadata__");
    }

    [Fact]
    public void DeeplyNestedHeader_IsRejectedNotStackOverflow()
    {
        string json = "{\"w\":" + new string('[', 100_000) + new string(']', 100_000) + "}";
        Reject(RawSafeTensors.Build(json, 0), "JSON");
    }

    [Fact]
    public void RandomCorruption_NeverCrashes()
    {
        // Flip bytes all over a valid file: each variant opens or throws InvalidDataException, nothing else,
        // and whatever opens can be read completely (no out-of-bounds access).
        using var dir = new TempFolder();
        var writer = new SafeTensorsWriter(new Dictionary<string, string> { ["format"] = "pt" });
        writer.AddF32("a.weight", [3, 5], new float[15]);
        writer.AddBF16("b.weight", [7], new BF16[7]);
        writer.AddI64("c", [2], new long[2]);
        writer.Save(dir.File("src.safetensors"));
        var original = File.ReadAllBytes(dir.File("src.safetensors"));
        var random = new Random(1234);
        string path = dir.File("fuzz.safetensors");
        for (int trial = 0; trial < 300; trial++)
        {
            var bytes = (byte[])original.Clone();
            int flips = 1 + random.Next(3);
            for (int k = 0; k < flips; k++) bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            if (trial % 5 == 0) bytes = bytes[..random.Next(bytes.Length)];
            File.WriteAllBytes(path, bytes);
            try
            {
                using var file = SafeTensorsFile.Open(path);
                foreach (var info in file.Tensors.Values)
                {
                    var copy = new byte[info.ByteLength];
                    file.CopyBytes(info.Name, 0, copy);
                }
            }
            catch (InvalidDataException)
            {
            }
        }
    }

    [Fact]
    public void Directory_IsNotAFile()
    {
        using var dir = new TempFolder();
        Assert.Throws<IOException>(() => SafeTensorsFile.Open(dir.Path));
        Assert.Throws<FileNotFoundException>(() => SafeTensorsFile.Open(dir.File("absent.safetensors")));
    }

    [Fact]
    public void TrailingBytesAndGaps_AreTolerated()
    {
        // Not produced by our writer or HF's, but harmless for reading: ranges stay validated.
        var bytes = RawSafeTensors.Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 16);
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan((int)RawSafeTensors.DataStart(bytes) + 4), 2.5f);
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("gap.safetensors"), bytes);
        using var file = SafeTensorsFile.Open(dir.File("gap.safetensors"));
        Assert.Equal([2.5f], file.ReadF32Array("w"));
    }
}
