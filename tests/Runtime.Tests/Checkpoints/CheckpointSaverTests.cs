using Qwen3Gen.Checkpoints;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.Runtime.Tests.Checkpoints;

public class CheckpointSaverTests
{
    private static readonly TensorSpec[] Tensors =
    [
        new("model.embed_tokens.weight", [4, 2], 0),
        new("model.norm.weight", [2], 8),
    ];

    private static Weights Filled(WeightFormat format)
    {
        var w = Weights.Create(format, 10, 8);
        w.Set(Tensors[0], new float[] { 0.1f, -0.2f, 0.3f, -0.4f, 1.00390625f, 2, 3, 4 });
        w.Set(Tensors[1], new float[] { 1.001f, 0.999f });
        return w;
    }

    [Theory]
    [InlineData(WeightFormat.F32, SafeTensorsDType.F32)]
    [InlineData(WeightFormat.F32, SafeTensorsDType.BF16)]
    [InlineData(WeightFormat.BF16, SafeTensorsDType.F32)]
    [InlineData(WeightFormat.BF16, SafeTensorsDType.BF16)]
    public void SaveThenLoad_RoundTrips(WeightFormat format, SafeTensorsDType dtype)
    {
        using var dir = new TempFolder();
        using var source = Filled(format);
        CheckpointSaver.Save(Tensors, source, dir.File("ckpt.safetensors"), new Dictionary<string, string> { ["step"] = "7" }, dtype);

        using (var file = SafeTensorsFile.Open(dir.File("ckpt.safetensors")))
        {
            Assert.Equal(dtype, file["model.embed_tokens.weight"].DType);
            Assert.Equal([4L, 2L], file["model.embed_tokens.weight"].Shape);
            Assert.Equal("7", file.Metadata["step"]);
            Assert.Equal("pt", file.Metadata["format"]);
            Assert.Equal(2, file.Tensors.Count);
        }

        using var loaded = Weights.Create(format, 10, 8);
        CheckpointLoader.Load(Tensors, true, loaded, dir.File("ckpt.safetensors"));
        foreach (var t in Tensors)
        {
            var expected = new float[t.Length];
            source.Get(t, expected);
            if (dtype == SafeTensorsDType.BF16) expected = expected.Select(v => BF16.FromSingle(v).ToSingle()).ToArray();
            var actual = new float[t.Length];
            loaded.Get(t, actual);
            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public void FailedSave_LeavesThePreviousFileIntact_AndNoTempFile()
    {
        using var dir = new TempFolder();
        string path = dir.File("ckpt.safetensors");
        using (var w = Filled(WeightFormat.F32)) CheckpointSaver.Save(Tensors, w, path);
        var before = File.ReadAllBytes(path);

        using var other = Weights.Create(WeightFormat.F32, 10, 8);
        var writer = CheckpointSaver.CreateWriter(Tensors, other);
        writer.Add("zz.optimizer.m", SafeTensorsDType.F32, [1000], stream =>
        {
            stream.Write(new byte[2000]);                       // half written...
            throw new IOException("disk full (simulated)");     // ...then the save dies
        });
        var ex = Assert.Throws<IOException>(() => writer.Save(path));
        Assert.Contains("simulated", ex.Message);

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["ckpt.safetensors"], Directory.GetFiles(dir.Path).Select(f => Path.GetFileName(f)!).ToArray());
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(0.1f, file.ReadF32Array("model.embed_tokens.weight")[0]);
    }

    [Fact]
    public void Save_ReplacesAnOpenFile_WhileReadersKeepTheirView()
    {
        using var dir = new TempFolder();
        string path = dir.File("ckpt.safetensors");
        using (var w = Filled(WeightFormat.F32)) CheckpointSaver.Save(Tensors, w, path);
        using var reader = SafeTensorsFile.Open(path);
        using (var zeros = Weights.Create(WeightFormat.F32, 10, 8)) CheckpointSaver.Save(Tensors, zeros, path);
        Assert.Equal(0.1f, reader.ReadF32Array("model.embed_tokens.weight")[0]);   // old mapping still valid
        using var fresh = SafeTensorsFile.Open(path);
        Assert.Equal(0f, fresh.ReadF32Array("model.embed_tokens.weight")[0]);
    }

    [Fact]
    public void Save_CreatesTheFolder_AndRejectsIntegerDTypes()
    {
        using var dir = new TempFolder();
        using var w = Filled(WeightFormat.F32);
        CheckpointSaver.Save(Tensors, w, Path.Combine(dir.Path, "run", "step-10", "model.safetensors"));
        Assert.True(File.Exists(Path.Combine(dir.Path, "run", "step-10", "model.safetensors")));
        Assert.Throws<ArgumentException>(() => CheckpointSaver.Save(Tensors, w, dir.File("x.safetensors"), dtype: SafeTensorsDType.I64));
    }
}
