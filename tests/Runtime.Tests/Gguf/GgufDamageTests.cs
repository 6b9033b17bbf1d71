using System.Diagnostics;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Quantization;
using Qwen3Gen.Runtime.Tests.Checkpoints;

namespace Qwen3Gen.Runtime.Tests.Gguf;

/// <summary>Every kind of damaged GGUF file is an InvalidDataException naming the file and the field, never a crash or a hang.</summary>
public class GgufDamageTests
{
    private static InvalidDataException Reject(byte[] bytes, params string[] expectedInMessage)
    {
        using var dir = new TempFolder();
        string path = dir.File("bad.gguf");
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<InvalidDataException>(() => GgufFile.Open(path).Dispose());
        Assert.Contains("bad.gguf", ex.Message);
        foreach (var part in expectedInMessage) Assert.Contains(part, ex.Message);
        return ex;
    }

    [Fact]
    public void ValidFile_Opens()
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("ok.gguf"), RawGguf.Valid());
        using var file = GgufFile.Open(dir.File("ok.gguf"));
        Assert.Equal(8, file["w"].ElementCount);
        Assert.Equal("qwen3", file.Metadata.GetString("general.architecture"));
    }

    [Fact]
    public void Empty_IsRejected() => Reject([], "empty");

    [Fact]
    public void ShortFile_IsRejected() => Reject([0x47, 0x47, 0x55, 0x46, 3, 0], "truncated", "6 bytes");

    [Fact]
    public void WrongMagic_IsRejected() => Reject(new RawGguf().Header(0, 0, magic: 0x12345678).ToArray(), "magic", "not a GGUF file");

    [Theory]
    [InlineData(1u)]
    [InlineData(4u)]
    public void UnknownVersion_IsRejected(uint version) => Reject(new RawGguf().Header(0, 0, version).ToArray(), $"version {version}");

    [Theory]
    [InlineData(ulong.MaxValue)]
    [InlineData(1UL << 40)]
    [InlineData(1000UL)]
    public void AbsurdTensorCount_IsRejected(ulong count) => Reject(new RawGguf().Header(count, 0).Bytes(new byte[64]).ToArray(), $"tensor count {count}");

    [Fact]
    public void AbsurdMetadataCount_IsRejected() => Reject(new RawGguf().Header(0, ulong.MaxValue).ToArray(), "metadata count");

    [Fact]
    public void StringLengthPastTheEnd_IsRejected() =>
        Reject(new RawGguf().Header(0, 1).U64(1UL << 50).Bytes(new byte[16]).ToArray(), "metadata entry 0 key", "string length");

    [Fact]
    public void UnknownValueType_IsRejected() =>
        Reject(new RawGguf().Header(0, 1).String("k").U32(13).Bytes(new byte[8]).ToArray(), "'k'", "value type 13");

    [Fact]
    public void ArrayLengthPastTheEnd_IsRejected() =>
        Reject(new RawGguf().Header(0, 1).String("tokenizer.ggml.tokens").U32(9).U32(8).U64(1UL << 33).Bytes(new byte[32]).ToArray(),
               "tokenizer.ggml.tokens", "array length");

    [Fact]
    public void InvalidBool_IsRejected() =>
        Reject(new RawGguf().Header(0, 1).String("tokenizer.ggml.add_bos_token").U32(7).Bytes(2).ToArray(), "add_bos_token", "bool");

    [Fact]
    public void InvalidUtf8_IsRejected() =>
        Reject(new RawGguf().Header(0, 1).String("k").U32(8).U64(2).Bytes(0xC3, 0x28).ToArray(), "'k'", "UTF-8");

    [Fact]
    public void DuplicateKey_IsRejected() =>
        Reject(new RawGguf().Header(0, 2).KeyU32("a", 1).KeyU32("a", 2).ToArray(), "'a'", "twice");

    [Theory]
    [InlineData(0u)]
    [InlineData(48u)]
    public void BadAlignment_IsRejected(uint alignment) =>
        Reject(new RawGguf().Header(0, 1).KeyU32("general.alignment", alignment).ToArray(), "general.alignment", $"{alignment}");

    [Fact]
    public void TruncatedTensorInfo_IsRejected()
    {
        var bytes = new RawGguf().Header(1, 0).Tensor("w", 0, 0, 4, 2).Data(32);
        Reject(bytes[..60], "tensor 'w' offset", "truncated");
    }

    [Fact]
    public void TruncatedData_IsRejected()
    {
        var bytes = RawGguf.Valid();
        Reject(bytes[..^4], "'w'", "[0, 32)", "28 bytes", "truncated");
    }

    [Fact]
    public void UnsupportedType_NamesTensorAndType() =>
        Reject(new RawGguf().Header(1, 0).Tensor("blk.0.ffn_down.weight", 6, 0, 32, 1).Data(32), "'blk.0.ffn_down.weight'", "Q5_0 (id 6)");

    [Fact]
    public void UnknownTypeId_IsRejected() =>
        Reject(new RawGguf().Header(1, 0).Tensor("w", 77, 0, 4).Data(32), "'w'", "unknown type id 77");

    [Theory]
    [InlineData(0u)]
    [InlineData(5u)]
    public void BadDimensionCount_IsRejected(uint dims) =>
        Reject(new RawGguf().Header(1, 0).String("w").U32(dims).Bytes(new byte[64]).ToArray(), "'w'", $"n_dims {dims}");

    [Fact]
    public void ZeroDimension_IsRejected() => Reject(new RawGguf().Header(1, 0).Tensor("w", 0, 0, 4, 0).Data(32), "'w'", "ne[1] = 0");

    [Fact]
    public void OverflowingShape_IsRejected() =>
        Reject(new RawGguf().Header(1, 0).Tensor("w", 0, 0, 1UL << 32, 1UL << 32).Data(32), "'w'", "more elements");

    [Fact]
    public void RowNotWholeBlocks_IsRejected() =>
        Reject(new RawGguf().Header(1, 0).Tensor("w", 8, 0, 48, 1).Data(64), "'w'", "ne[0] = 48", "block size 32");

    [Fact]
    public void MisalignedOffset_IsRejected() =>
        Reject(new RawGguf().Header(1, 0).Tensor("w", 0, 4, 4).Data(64), "'w'", "offset 4", "alignment 32");

    [Fact]
    public void OffsetPastTheEnd_IsRejected() =>
        Reject(new RawGguf().Header(1, 0).Tensor("w", 0, 1UL << 62, 4).Data(32), "'w'", "past the end");

    [Fact]
    public void OverlappingTensors_AreRejected() =>
        Reject(new RawGguf().Header(2, 0).Tensor("a", 0, 0, 16).Tensor("b", 0, 32, 16).Data(96), "'a'", "'b'", "overlap");

    [Fact]
    public void DuplicateTensor_IsRejected() =>
        Reject(new RawGguf().Header(2, 0).Tensor("a", 0, 0, 4).Tensor("a", 0, 32, 4).Data(64), "'a'", "twice");

    [Fact]
    public void Directory_IsRefused()
    {
        using var dir = new TempFolder();
        var ex = Assert.Throws<InvalidDataException>(() => GgufFile.Open(dir.Path));
        Assert.Contains("directory", ex.Message);
        Assert.Throws<FileNotFoundException>(() => GgufFile.Open(dir.File("absent.gguf")));
    }

    [Fact]
    public void CharacterDevice_IsRefused()
    {
        var ex = Assert.Throws<InvalidDataException>(() => GgufFile.Open("/dev/zero"));
        Assert.Contains("not a regular file", ex.Message);
    }

    [Fact]
    public void Fifo_IsRefusedWithoutBlocking()
    {
        using var dir = new TempFolder();
        string path = dir.File("pipe.gguf");
        using (var mk = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!) mk.WaitForExit();
        var ex = Assert.Throws<InvalidDataException>(() => GgufFile.Open(path));
        Assert.Contains("FIFO", ex.Message);
    }

    /// <summary>
    /// Seeded mutants of the fixtures (bytes overwritten mostly in the header, 64-bit fields set to extreme values,
    /// truncations): each opens or throws InvalidDataException, and what opens dequantises completely. Bounded in
    /// trials and time.
    /// </summary>
    [Fact]
    public void MutantsOfTheFixtures_OpenOrAreRejected()
    {
        using var dir = new TempFolder();
        string path = dir.File("mutant.gguf");
        var random = new Random(20261202);
        var clock = Stopwatch.StartNew();
        int opened = 0, rejected = 0;
        foreach (var type in new[] { "q4_k_m", "q8_0", "q4_0" })
        {
            var original = File.ReadAllBytes(GgufFixture.Model(type));
            long headerEnd;
            using (var good = GgufFile.Open(GgufFixture.Model(type))) headerEnd = good.DataStart;
            for (int trial = 0; trial < 150 && clock.Elapsed < TimeSpan.FromSeconds(20); trial++)
            {
                var bytes = (byte[])original.Clone();
                switch (trial % 4)
                {
                    case 0:   // a few random bytes in the header
                        for (int k = 0, n = 1 + random.Next(4); k < n; k++) bytes[random.Next((int)headerEnd)] = (byte)random.Next(256);
                        break;
                    case 1:   // an extreme 64-bit value somewhere in the header (counts, lengths, ne, offsets)
                    {
                        int at = random.Next((int)headerEnd - 8);
                        ulong v = random.Next(4) switch { 0 => ulong.MaxValue, 1 => 1UL << 40, 2 => (ulong)random.Next(1 << 20), _ => 0 };
                        BitConverter.TryWriteBytes(bytes.AsSpan(at), v);
                        break;
                    }
                    case 2:   // truncated anywhere
                        bytes = bytes[..random.Next(bytes.Length)];
                        break;
                    default:  // random bytes anywhere (data too: blocks with any bits must dequantise)
                        for (int k = 0; k < 16; k++) bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                        break;
                }
                File.WriteAllBytes(path, bytes);
                try
                {
                    using var file = GgufFile.Open(path);
                    foreach (var info in file.TensorList)
                    {
                        var values = new float[info.ElementCount];
                        Dequantize.Tensor(file, info, values);
                    }
                    opened++;
                }
                catch (InvalidDataException e)
                {
                    Assert.Contains("mutant.gguf", e.Message);
                    rejected++;
                }
            }
        }
        Assert.True(opened > 0 && rejected > 0, $"opened {opened}, rejected {rejected}: the mutants should exercise both outcomes");
    }
}
