using Qwen3Gen.Checkpoints;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.Runtime.Tests.Checkpoints;

public class CheckpointLoaderTests
{
    // A toy layout like a generated one: matrices first, the 1-D norm weight last (from VectorStart = 12).
    private static readonly TensorSpec Embed = new("model.embed_tokens.weight", [2, 3], 0);
    private static readonly TensorSpec Proj = new("model.layers.0.mlp.down_proj.weight", [3, 2], 6);
    private static readonly TensorSpec Norm = new("model.norm.weight", [3], 12);
    private static readonly TensorSpec[] Tied = [Embed, Proj, Norm];
    private const long Count = 15, VectorStart = 12;

    private static readonly float[] EmbedValues = [0.1f, -0.2f, 0.3f, 1.00390625f, -5f, 6f]; // 1.00390625 = 1 + 2^-8: a bf16 tie
    private static readonly float[] ProjValues = [1, 2, 3, 4, 5, 6];
    private static readonly float[] NormValues = [1.5f, 0.25f, 1.001f];

    private static void Write(string path, SafeTensorsDType dtype, bool withHead = false, Action<SafeTensorsWriter>? edit = null)
    {
        var writer = new SafeTensorsWriter();
        void Add(string name, long[] shape, float[] values)
        {
            switch (dtype)
            {
                case SafeTensorsDType.F32: writer.AddF32(name, shape, values); break;
                case SafeTensorsDType.BF16: writer.AddBF16(name, shape, values.Select(BF16.FromSingle).ToArray()); break;
                case SafeTensorsDType.F16: writer.AddF16(name, shape, values.Select(v => (Half)v).ToArray()); break;
            }
        }
        Add(Embed.Name, [2, 3], EmbedValues);
        Add(Proj.Name, [3, 2], ProjValues);
        Add(Norm.Name, [3], NormValues);
        if (withHead) Add(CheckpointLoader.LmHeadName, [2, 3], EmbedValues);
        edit?.Invoke(writer);
        writer.Save(path);
    }

    private static float[] Get(Weights w, TensorSpec t)
    {
        var values = new float[t.Length];
        w.Get(t, values);
        return values;
    }

    [Theory]
    [InlineData(SafeTensorsDType.F32)]
    [InlineData(SafeTensorsDType.BF16)]
    [InlineData(SafeTensorsDType.F16)]
    public void Load_IntoF32Weights_ConvertsEveryDType(SafeTensorsDType dtype)
    {
        using var dir = new TempFolder();
        Write(dir.File("m.safetensors"), dtype);
        using var weights = Weights.Create(WeightFormat.F32, Count, VectorStart);
        var report = CheckpointLoader.Load(Tied, tieEmbeddings: true, weights, dir.File("m.safetensors"));
        Assert.Equal(3, report.Loaded);
        Assert.Empty(report.ExtraTensors);
        Assert.Equal(3, report.DTypes[dtype]);

        // Expected: the value as the checkpoint dtype stores it, widened exactly.
        Func<float, float> stored = dtype switch
        {
            SafeTensorsDType.BF16 => v => BitConverter.Int32BitsToSingle((int)(BitConverter.SingleToUInt32Bits(v) + 0x7FFF + ((BitConverter.SingleToUInt32Bits(v) >> 16) & 1)) & unchecked((int)0xFFFF0000)),
            SafeTensorsDType.F16 => v => (float)(Half)v,
            _ => v => v,
        };
        Assert.Equal(EmbedValues.Select(stored), Get(weights, Embed));
        Assert.Equal(ProjValues.Select(stored), Get(weights, Proj));
        Assert.Equal(NormValues.Select(stored), Get(weights, Norm));
        if (dtype == SafeTensorsDType.BF16) Assert.Equal(1f, Get(weights, Embed)[3]); // 1 + 2^-8 tie went to even
    }

    [Fact]
    public void Load_F32IntoBF16Weights_RoundsMatricesAndKeepsVectorsExact()
    {
        using var dir = new TempFolder();
        Write(dir.File("m.safetensors"), SafeTensorsDType.F32);
        using var weights = Weights.Create(WeightFormat.BF16, Count, VectorStart);
        CheckpointLoader.Load(Tied, true, weights, dir.File("m.safetensors"));
        unsafe
        {
            var embed = new ReadOnlySpan<BF16>(weights.Matrix<BF16>(), 6).ToArray();
            // 0.1f = 0x3DCCCCCD -> 0x3DCD (round up); 1 + 2^-8 = 0x3F808000 -> tie -> 0x3F80
            Assert.Equal(0x3DCD, embed[0].Bits);
            Assert.Equal(0x3F80, embed[3].Bits);
        }
        Assert.Equal(NormValues, Get(weights, Norm)); // 1.001 keeps all its float32 bits
    }

    [Fact]
    public void Load_BF16IntoBF16Weights_CopiesBits()
    {
        using var dir = new TempFolder();
        Write(dir.File("m.safetensors"), SafeTensorsDType.BF16);
        using var weights = Weights.Create(WeightFormat.BF16, Count, VectorStart);
        CheckpointLoader.Load(Tied, true, weights, dir.File("m.safetensors"));
        using var file = SafeTensorsFile.Open(dir.File("m.safetensors"));
        var raw = file.GetBytes(Proj.Name);
        unsafe
        {
            var proj = new ReadOnlySpan<byte>(weights.Matrix<BF16>() + Proj.Offset, 12);
            Assert.True(raw.SequenceEqual(proj));
        }
        // The BF16 norm weight lands in the float32 vector block, widened exactly.
        Assert.Equal(NormValues.Select(v => BF16.FromSingle(v).ToSingle()), Get(weights, Norm));
    }

    [Fact]
    public void Load_Tied_WithStoredLmHead_ReportsItAsExtra()
    {
        using var dir = new TempFolder();
        Write(dir.File("m.safetensors"), SafeTensorsDType.F32, withHead: true,
            edit: w => w.AddF32("model.rotary_emb.inv_freq", [2], new float[2]));
        using var weights = Weights.Create(WeightFormat.F32, Count, VectorStart);
        var report = CheckpointLoader.Load(Tied, true, weights, dir.File("m.safetensors"));
        Assert.Equal([CheckpointLoader.LmHeadName, "model.rotary_emb.inv_freq"], report.ExtraTensors);
        Assert.Contains("lm_head.weight", report.ToString());
    }

    [Fact]
    public void Load_Untied_WithoutLmHead_IsMissing()
    {
        using var dir = new TempFolder();
        Write(dir.File("m.safetensors"), SafeTensorsDType.F32);
        var head = new TensorSpec(CheckpointLoader.LmHeadName, [2, 3], 6);
        TensorSpec[] untied = [Embed, head, new(Proj.Name, [3, 2], 12), new(Norm.Name, [3], 18)];
        using var weights = Weights.Create(WeightFormat.F32, 21, 18);
        var ex = Assert.Throws<InvalidDataException>(() => CheckpointLoader.Load(untied, false, weights, dir.File("m.safetensors")));
        Assert.Contains("1 of 4 tensors missing: 'lm_head.weight'", ex.Message);
    }

    [Fact]
    public void Load_MissingTensors_ListsAllOfThem()
    {
        using var dir = new TempFolder();
        var writer = new SafeTensorsWriter();
        writer.AddF32(Proj.Name, [3, 2], ProjValues);
        writer.Save(dir.File("m.safetensors"));
        using var weights = Weights.Create(WeightFormat.F32, Count, VectorStart);
        var ex = Assert.Throws<InvalidDataException>(() => CheckpointLoader.Load(Tied, true, weights, dir.File("m.safetensors")));
        Assert.Contains("2 of 3 tensors missing", ex.Message);
        Assert.Contains("'model.embed_tokens.weight'", ex.Message);
        Assert.Contains("'model.norm.weight'", ex.Message);
        Assert.Contains("m.safetensors", ex.Message);
    }

    [Fact]
    public void Load_WrongShape_NamesTensorBothShapesAndFile()
    {
        using var dir = new TempFolder();
        var writer = new SafeTensorsWriter();
        writer.AddF32(Embed.Name, [3, 2], EmbedValues);   // transposed
        writer.AddF32(Proj.Name, [3, 2], ProjValues);
        writer.AddF32(Norm.Name, [1, 3], NormValues);     // extra axis
        writer.Save(dir.File("m.safetensors"));
        using var weights = Weights.Create(WeightFormat.F32, Count, VectorStart);
        var ex = Assert.Throws<InvalidDataException>(() => CheckpointLoader.Load(Tied, true, weights, dir.File("m.safetensors")));
        Assert.Contains("'model.embed_tokens.weight': expected shape [2, 3], found [3, 2] in '", ex.Message);
        Assert.Contains("'model.norm.weight': expected shape [3], found [1, 3]", ex.Message);
        Assert.Contains("m.safetensors", ex.Message);
        Assert.Equal(0f, Get(weights, Proj)[0]); // nothing was loaded
    }

    [Fact]
    public void Load_WrongDType_NamesIt()
    {
        using var dir = new TempFolder();
        var writer = new SafeTensorsWriter();
        writer.AddF32(Embed.Name, [2, 3], EmbedValues);
        writer.AddF32(Proj.Name, [3, 2], ProjValues);
        writer.AddI64(Norm.Name, [3], new long[] { 1, 2, 3 });
        writer.Save(dir.File("m.safetensors"));
        using var weights = Weights.Create(WeightFormat.F32, Count, VectorStart);
        var ex = Assert.Throws<InvalidDataException>(() => CheckpointLoader.Load(Tied, true, weights, dir.File("m.safetensors")));
        Assert.Contains("'model.norm.weight': dtype I64", ex.Message);
        Assert.Contains("F32, BF16 or F16", ex.Message);
    }

    [Fact]
    public void Load_Sharded_ThroughIndex()
    {
        using var dir = new TempFolder();
        var a = new SafeTensorsWriter();
        a.AddBF16(Embed.Name, [2, 3], EmbedValues.Select(BF16.FromSingle).ToArray());
        a.AddBF16(Proj.Name, [3, 2], ProjValues.Select(BF16.FromSingle).ToArray());
        a.Save(dir.File("model-00001-of-00002.safetensors"));
        var b = new SafeTensorsWriter();
        b.AddBF16(Norm.Name, [3], NormValues.Select(BF16.FromSingle).ToArray());
        b.Save(dir.File("model-00002-of-00002.safetensors"));
        File.WriteAllText(dir.File("model.safetensors.index.json"), $$"""
            {"metadata": {}, "weight_map": {
              "{{Embed.Name}}": "model-00001-of-00002.safetensors",
              "{{Proj.Name}}": "model-00001-of-00002.safetensors",
              "{{Norm.Name}}": "model-00002-of-00002.safetensors" } }
            """);
        using var weights = Weights.Create(WeightFormat.BF16, Count, VectorStart);
        var report = CheckpointLoader.Load(Tied, true, weights, dir.Path);
        Assert.Equal(2, report.Files.Count);
        Assert.Equal(ProjValues, Get(weights, Proj));
        Assert.Equal(NormValues.Select(v => BF16.FromSingle(v).ToSingle()), Get(weights, Norm));
    }

    [Fact]
    public void Load_RejectsInconsistentArguments()
    {
        using var dir = new TempFolder();
        Write(dir.File("m.safetensors"), SafeTensorsDType.F32);
        using var weights = Weights.Create(WeightFormat.F32, 10, 10);
        var ex = Assert.Throws<ArgumentException>(() => CheckpointLoader.Load(Tied, true, weights, dir.File("m.safetensors")));
        Assert.Contains("outside the weights of 10", ex.Message);
        using var bf = Weights.Create(WeightFormat.BF16, Count, 10);
        ex = Assert.Throws<ArgumentException>(() => CheckpointLoader.Load(Tied, true, bf, dir.File("m.safetensors")));
        Assert.Contains("straddles", ex.Message);
    }
}
