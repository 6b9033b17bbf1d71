using System.Buffers.Binary;
using System.Text;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Kernels;

namespace Qwen3Gen.Fuzz.Tests;

/// <summary>
/// Damaged safetensors files: SafeTensorsFile.Open and reading every tensor either succeed or throw
/// InvalidDataException naming the file; nothing else (no JSON or index exceptions, no crash, no hang).
/// </summary>
public class SafeTensorsFuzzTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>A small valid file: F32 [2, 3], BF16 [4], I64 [2] and metadata.</summary>
    private static byte[] Valid()
    {
        var writer = new SafeTensorsWriter(new Dictionary<string, string> { ["format"] = "pt", ["step"] = "7" });
        writer.AddF32("model.a", [2, 3], new float[] { 1, 2, 3, 4, 5, 6 });
        writer.AddBF16("model.b", [4], new[] { (BF16)1f, (BF16)2f, (BF16)3f, (BF16)4f });
        writer.AddI64("model.c", [2], new long[] { 9, 10 });
        var stream = new MemoryStream();
        writer.WriteTo(stream);
        return stream.ToArray();
    }

    /// <summary>The header JSON mutated, the length field rewritten to match (so the parser, not the length check, sees it).</summary>
    private static byte[] WithMutatedHeader(Random r, byte[] file)
    {
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        string header = Encoding.UTF8.GetString(file, 8, (int)n);
        string mutated = Mutate.Json(r, header);
        byte[] json = Encoding.UTF8.GetBytes(mutated);
        var result = new byte[8 + json.Length + (file.Length - 8 - n)];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)json.Length);
        json.CopyTo(result, 8);
        file.AsSpan((int)(8 + n)).CopyTo(result.AsSpan(8 + json.Length));
        return result;
    }

    private static void ReadEverything(string path)
    {
        using var file = SafeTensorsFile.Open(path);
        foreach (var (name, info) in file.Tensors)
        {
            _ = file.GetBytes(name).Length;
            if (info.DType is SafeTensorsDType.F32 or SafeTensorsDType.BF16 or SafeTensorsDType.F16 && info.ElementCount < 1 << 20)
                file.ReadF32(name, new float[info.ElementCount]);
        }
    }

    [Fact]
    public void DamagedFiles_OpenOrThrowInvalidDataNamingTheFile()
    {
        byte[] valid = Valid();
        int opened = 0;
        int cases = FuzzBudget.Run("safetensors", (r, folder) =>
        {
            string path = Path.Combine(folder, "model.safetensors");
            File.WriteAllBytes(path, r.Next(2) == 0 ? WithMutatedHeader(r, valid) : Mutate.Bytes(r, valid));
            if (Outcome.Of(() => ReadEverything(path), path, typeof(InvalidDataException))) opened++;
        });
        output.WriteLine($"{cases} cases, {opened} still valid");
    }

    [Theory]
    [InlineData("{\"\\udc00\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", "lone surrogate")]
    [InlineData("{\"a\": {\"dtype\": \"I64\", \"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", "'dtype' appears twice")]
    [InlineData("{\"__metadata__\": {\"k\": \"\\ud800\"}, \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", "lone surrogate")]
    [InlineData("{\"__metadata__\": {\"k\": \"1\", \"k\": \"2\"}, \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", "'k' appears twice")]
    public void HeaderFoundByFuzzing_IsInvalidData(string header, string reason)
    {
        string path = Path.Combine(Path.GetTempPath(), "qwen3gen-fuzz-" + Guid.NewGuid().ToString("N") + ".safetensors");
        byte[] json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + 4];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        try
        {
            var e = Assert.Throws<InvalidDataException>(() => ReadEverything(path));
            Assert.Contains(path, e.Message);
            Assert.Contains(reason, e.Message);
        }
        finally { File.Delete(path); }
    }
}
