using System.Buffers.Binary;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Models;

namespace Qwen3Gen.Runtime.Tests.Checkpoints;

/// <summary>
/// Reads the committed golden checkpoint (written by the Python reference's st_io.py) and checks values
/// against bytes decoded by hand here. The absolute byte positions and bit patterns were read with Python's
/// struct module from the same file (header length 2448, data section at byte 2456).
/// </summary>
public class GoldenFixtureTests
{
    private static string ModelPath => RepoPaths.Fixture("golden", "dense-tied", "model.safetensors");

    [Theory]
    [InlineData("model.norm.weight", 0, 236952, 0x3F8A7DADu)]
    [InlineData("model.norm.weight", 47, 237140, 0x3F64904Eu)]
    [InlineData("model.embed_tokens.weight", 1 * 48 + 2, 2656, 0xBC1604BFu)]
    [InlineData("model.layers.1.self_attn.q_proj.weight", 63 * 48 + 47, 230804, 0x3C2EF743u)]
    public void DenseTied_Values_MatchHandDecodedBytes(string name, int element, int filePosition, uint bits)
    {
        var bytes = File.ReadAllBytes(ModelPath);
        Assert.Equal(2448UL, BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        Assert.Equal(bits, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(filePosition)));

        using var file = SafeTensorsFile.Open(ModelPath);
        var values = file.ReadF32Array(name);
        Assert.Equal(bits, BitConverter.SingleToUInt32Bits(values[element]));
    }

    [Fact]
    public void DenseTied_Header_HasTheExpectedTensors()
    {
        using var file = SafeTensorsFile.Open(ModelPath);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(2 * 11 + 2, file.Tensors.Count);   // 11 per layer, embedding, final norm; tied: no lm_head
        Assert.False(file.Contains("lm_head.weight"));
        Assert.Equal([256L, 48L], file["model.embed_tokens.weight"].Shape);
        Assert.Equal([64L, 48L], file["model.layers.0.self_attn.q_proj.weight"].Shape);
        Assert.All(file.Tensors.Values, t => Assert.Equal(SafeTensorsDType.F32, t.DType));
        Assert.Equal(237144, file.FileLength);
    }

    [Fact]
    public void DenseTied_LoadsIntoWeights_AndSurvivesABF16RoundTrip()
    {
        // A layout built from the file itself (matrices first, vectors last), as a generated model orders it.
        using var file = SafeTensorsFile.Open(ModelPath);
        var ordered = file.Tensors.Values.OrderBy(t => t.Shape.Length == 1 ? 1 : 0).ThenBy(t => t.Name, StringComparer.Ordinal).ToList();
        var specs = new List<TensorSpec>();
        long offset = 0, vectorStart = -1;
        foreach (var t in ordered)
        {
            if (t.Shape.Length == 1 && vectorStart < 0) vectorStart = offset;
            specs.Add(new TensorSpec(t.Name, t.Shape.Select(d => (int)d).ToArray(), offset));
            offset += t.ElementCount;
        }

        using var f32 = Weights.Create(WeightFormat.F32, offset, vectorStart);
        var report = CheckpointLoader.Load(specs, tieEmbeddings: true, f32, ModelPath);
        Assert.Equal(24, report.Loaded);
        Assert.Empty(report.ExtraTensors);
        var norm = new float[48];
        f32.Get(specs.Single(s => s.Name == "model.norm.weight"), norm);
        Assert.Equal(0x3F8A7DADu, BitConverter.SingleToUInt32Bits(norm[0]));

        // Save as BF16 (HF's on-Hub layout) and load into BF16 weights: matrices equal the rounded F32 values.
        using var dir = new TempFolder();
        CheckpointSaver.Save(specs, f32, dir.File("bf16.safetensors"), dtype: SafeTensorsDType.BF16);
        using var bf16 = Weights.Create(WeightFormat.BF16, offset, vectorStart);
        CheckpointLoader.Load(specs, true, bf16, dir.File("bf16.safetensors"));
        var q = specs.Single(s => s.Name == "model.layers.1.self_attn.q_proj.weight");
        var got = new float[q.Length];
        bf16.Get(q, got);
        // 0x3C2EF743 rounds to 0x3C2F (low half 0xF743 > 0x8000).
        Assert.Equal(0x3C2F0000u, BitConverter.SingleToUInt32Bits(got[63 * 48 + 47]));
    }
}
