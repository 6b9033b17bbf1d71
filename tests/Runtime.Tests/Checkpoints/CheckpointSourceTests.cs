using Qwen3Gen.Checkpoints;
using Qwen3Gen.Kernels;

namespace Qwen3Gen.Runtime.Tests.Checkpoints;

public class CheckpointSourceTests
{
    /// <summary>Two shards and an HF-style index, as a sharded Hub snapshot looks.</summary>
    private static void WriteShardedCheckpoint(TempFolder dir, string shard2 = "model-00002-of-00002.safetensors", string? index = null)
    {
        var first = new SafeTensorsWriter(new Dictionary<string, string> { ["format"] = "pt" });
        first.AddF32("model.embed_tokens.weight", [2, 3], new float[] { 1, 2, 3, 4, 5, 6 });
        first.AddF32("model.norm.weight", [3], new float[] { 7, 8, 9 });
        first.Save(dir.File("model-00001-of-00002.safetensors"));
        var second = new SafeTensorsWriter(new Dictionary<string, string> { ["format"] = "pt" });
        second.AddBF16("lm_head.weight", [2, 3], new float[] { -1, -2, -3, -4, -5, -6 }.Select(BF16.FromSingle).ToArray());
        second.Save(dir.File("model-00002-of-00002.safetensors"));
        File.WriteAllText(dir.File(CheckpointSource.IndexFileName), index ?? $$"""
            {
              "metadata": { "total_size": 60 },
              "weight_map": {
                "lm_head.weight": "{{shard2}}",
                "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                "model.norm.weight": "model-00001-of-00002.safetensors"
              }
            }
            """);
    }

    [Fact]
    public void Folder_WithIndex_PresentsOneViewAcrossShards()
    {
        using var dir = new TempFolder();
        WriteShardedCheckpoint(dir);
        using var source = CheckpointSource.Open(dir.Path);
        Assert.Equal(2, source.Files.Count);
        Assert.Equal(3, source.Count);
        Assert.EndsWith(CheckpointSource.IndexFileName, source.IndexPath);
        var (file, info) = source.Get("lm_head.weight");
        Assert.EndsWith("model-00002-of-00002.safetensors", file.Path);
        Assert.Equal(SafeTensorsDType.BF16, info.DType);
        Assert.Equal([-1f, -2f, -3f, -4f, -5f, -6f], file.ReadF32Array("lm_head.weight"));
        Assert.Equal([7f, 8f, 9f], source.Get("model.norm.weight").File.ReadF32Array("model.norm.weight"));
        Assert.Equal("pt", source.Metadata["format"]);
    }

    [Fact]
    public void IndexFile_CanBeOpenedDirectly()
    {
        using var dir = new TempFolder();
        WriteShardedCheckpoint(dir);
        using var source = CheckpointSource.Open(dir.File(CheckpointSource.IndexFileName));
        Assert.Equal(3, source.Count);
    }

    [Fact]
    public void MissingShard_IsAnErrorNamingIt()
    {
        using var dir = new TempFolder();
        WriteShardedCheckpoint(dir, shard2: "model-00003-of-00002.safetensors");
        var ex = Assert.Throws<FileNotFoundException>(() => CheckpointSource.Open(dir.Path));
        Assert.Contains("model-00003-of-00002.safetensors", ex.Message);
        Assert.Contains(CheckpointSource.IndexFileName, ex.Message);
    }

    [Fact]
    public void IndexMappingToTheWrongShard_IsAnError()
    {
        using var dir = new TempFolder();
        WriteShardedCheckpoint(dir, shard2: "model-00001-of-00002.safetensors");
        var ex = Assert.Throws<InvalidDataException>(() => CheckpointSource.Open(dir.Path));
        Assert.Contains("'lm_head.weight'", ex.Message);
        Assert.Contains("model-00001-of-00002.safetensors", ex.Message);
    }

    [Theory]
    [InlineData("not json", "not valid JSON")]
    [InlineData("{\"metadata\": {}}", "weight_map")]
    [InlineData("{\"weight_map\": {\"a\": 3}}", "'a'")]
    [InlineData("{\"weight_map\": {\"a\": \"../outside.safetensors\"}}", "../outside.safetensors")]
    [InlineData("{\"weight_map\": {}}", "empty")]
    public void BadIndex_IsRejected(string index, string expected)
    {
        using var dir = new TempFolder();
        WriteShardedCheckpoint(dir, index: index);
        var ex = Assert.Throws<InvalidDataException>(() => CheckpointSource.Open(dir.Path));
        Assert.Contains(expected, ex.Message);
        Assert.Contains(CheckpointSource.IndexFileName, ex.Message);
    }

    [Fact]
    public void DamagedShard_IsRejectedAtOpen()
    {
        using var dir = new TempFolder();
        WriteShardedCheckpoint(dir);
        var shard = dir.File("model-00002-of-00002.safetensors");
        var bytes = File.ReadAllBytes(shard);
        File.WriteAllBytes(shard, bytes[..^3]);
        var ex = Assert.Throws<InvalidDataException>(() => CheckpointSource.Open(dir.Path));
        Assert.Contains("model-00002-of-00002.safetensors", ex.Message);
        Assert.Contains("truncated", ex.Message);
    }

    [Fact]
    public void Folder_WithSingleFile_AndEmptyFolder()
    {
        using var dir = new TempFolder();
        var ex = Assert.Throws<FileNotFoundException>(() => CheckpointSource.Open(dir.Path));
        Assert.Contains(CheckpointSource.SingleFileName, ex.Message);

        var writer = new SafeTensorsWriter();
        writer.AddF32("x", [1], new float[] { 1 });
        writer.Save(dir.File(CheckpointSource.SingleFileName));
        using var source = CheckpointSource.Open(dir.Path);
        Assert.Null(source.IndexPath);
        Assert.True(source.Contains("x"));
        Assert.Throws<FileNotFoundException>(() => CheckpointSource.Open(dir.File("nothing-here")));
    }
}
