using System.Text.Json.Nodes;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;
using Xunit.Abstractions;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// Each test damages a copy of the good snapshot in one way and checks that loading fails with an exception whose
/// message names the directory and the problem (the checks of issue 5: missing shard, wrong shapes, truncated file,
/// config that matches no definition, tokenizer files missing).
/// </summary>
[Collection(SnapshotCollection.Name)]
public class DamagedDirectoryTests(ModelFolderFixture snapshot, ITestOutputHelper output)
{
    private const string Shard1 = "model-00001-of-00002.safetensors";
    private const string Shard2 = "model-00002-of-00002.safetensors";

    private T Fails<T>(string dir) where T : Exception
    {
        var e = Assert.Throws<T>(() => ModelDirectory.Load(dir).Dispose());
        output.WriteLine(e.Message);
        Assert.Contains(Path.GetFullPath(dir), e.Message);
        return e;
    }

    private static void EditConfig(TempDirectory dir, Action<JsonObject> edit)
    {
        var config = JsonNode.Parse(File.ReadAllText(dir["config.json"]))!.AsObject();
        edit(config);
        File.WriteAllText(dir["config.json"], config.ToJsonString());
    }

    [Fact]
    public void Load_DirectoryMissing_Throws()
    {
        string dir = Path.Combine(Path.GetTempPath(), "qwen3gen-tests", "no-such-" + Guid.NewGuid().ToString("N"));
        var e = Fails<DirectoryNotFoundException>(dir);
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void Load_ConfigMissing_Throws()
    {
        using var dir = TempDirectory.CopyOf(snapshot.Directory);
        File.Delete(dir["config.json"]);
        var e = Fails<FileNotFoundException>(dir.Dir);
        Assert.Contains("has no config.json", e.Message);
    }

    [Fact]
    public void Load_ConfigNotJson_Throws()
    {
        using var dir = TempDirectory.CopyOf(snapshot.Directory);
        File.WriteAllText(dir["config.json"], "{ \"model_type\": \"qwen3\", ");
        var e = Fails<InvalidDataException>(dir.Dir);
        Assert.Contains("is not valid JSON", e.Message);
    }

    [Fact]
    public void Load_ConfigFieldMissing_Throws()
    {
        using var dir = TempDirectory.CopyOf(snapshot.Directory);
        EditConfig(dir, c => c.Remove("hidden_size"));
        var e = Fails<InvalidDataException>(dir.Dir);
        Assert.Contains("has no 'hidden_size' field, which is required", e.Message);
    }

    [Fact]
    public void Load_ModelTypeLlama_Throws()
    {
        using var dir = TempDirectory.CopyOf(snapshot.Directory);
        EditConfig(dir, c => c["model_type"] = "llama");
        var e = Fails<InvalidDataException>(dir.Dir);
        Assert.Contains("QG0011: Config file '", e.Message);                      // the generator's message for the same file
        Assert.Contains("has model_type 'llama'; Qwen3Gen reads 'qwen3' and 'qwen3_moe'", e.Message);
    }

    [Fact]
    public void Load_SlidingWindow_IsRefused()
    {
        using var dir = TempDirectory.CopyOf(snapshot.Directory);
        EditConfig(dir, c => { c["use_sliding_window"] = true; c["sliding_window"] = 1024; });
        var e = Assert.Throws<NotSupportedException>(() => ModelDirectory.Load(dir.Dir).Dispose());
        Assert.Contains("use_sliding_window", e.Message);
    }

    [Fact]
    public void Load_ConfigMatchingNoDefinition_NamesClosestAndDifferences()
    {
        using var dir = TempDirectory.CopyOf(snapshot.Directory, "Qwen3-Custom");
        EditConfig(dir, c => { c["num_hidden_layers"] = 3; c["rope_theta"] = 5000000; });
        var e = Fails<InvalidDataException>(dir.Dir);
        Assert.Contains("matches no compiled model definition", e.Message);
        Assert.Contains("Closest: Qwen3ChatTest, which differs in 2 fields", e.Message);
        Assert.Contains("Layers: 2 vs 3", e.Message);
        Assert.Contains("RopeTheta: 1000000 vs 5000000", e.Message);
        // How to add one: the Config = path form and the inline attribute built from config.json.
        Assert.Contains("[Qwen3Model(Config = \"Configs/Qwen3_Custom/config.json\")]", e.Message);
        Assert.Contains("<AdditionalFiles Include=", e.Message);
        Assert.Contains("Layers = 3", e.Message);
        Assert.Contains("RopeTheta = 5e6", e.Message);
        Assert.Contains("RmsNormEps = 1e-6", e.Message);
        Assert.Contains("public partial class Qwen3_Custom;", e.Message);
    }

    [Fact]
    public void Load_ShardMissing_Throws()
    {
        using var dir = TempDirectory.CopyOf(snapshot.Directory);
        File.Delete(dir[Shard2]);
        var e = Fails<FileNotFoundException>(dir.Dir);
        Assert.Contains($"Shard '{Shard2}'", e.Message);
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void Load_NoWeights_Throws()
    {
        using var dir = TempDirectory.CopyOf(snapshot.Directory);
        foreach (var f in Directory.GetFiles(dir.Dir, "model*")) File.Delete(f);
        var e = Fails<FileNotFoundException>(dir.Dir);
        Assert.Contains("holds no checkpoint", e.Message);
    }

    [Fact]
    public void Load_TruncatedShard_Throws()
    {
        using var dir = TempDirectory.CopyOf(snapshot.Directory);
        using (var f = new FileStream(dir[Shard1], FileMode.Open)) f.SetLength(f.Length - 1000);
        var e = Fails<InvalidDataException>(dir.Dir);
        Assert.Contains(Shard1, e.Message);
        Assert.Contains("model.embed_tokens.weight", e.Message); // the tensor that runs past the end
    }

    [Fact]
    public void Load_WrongTensorShape_NamesTensorAndShapes()
    {
        using var dir = TempDirectory.CopyOf(snapshot.Directory);
        // Rewrite shard 2 with down_proj of layer 1 stored transposed-shaped ([128, 64] instead of [64, 128]), same bytes.
        const string victim = "model.layers.1.mlp.down_proj.weight";
        var writer = new SafeTensorsWriter(new Dictionary<string, string> { ["format"] = "pt" });
        using (var shard = SafeTensorsFile.Open(dir[Shard2]))
        {
            Assert.True(shard.Contains(victim));
            foreach (var (name, info) in shard.Tensors)
            {
                byte[] bytes = shard.GetBytes(name).ToArray();
                long[] shape = name == victim ? [info.Shape[1], info.Shape[0]] : info.Shape;
                writer.Add(name, info.DType, shape, s => s.Write(bytes));
            }
        }
        writer.Save(dir[Shard2]);
        var e = Fails<InvalidDataException>(dir.Dir);
        Assert.Contains($"'{victim}': expected shape [64, 128], found [128, 64]", e.Message);
        Assert.Contains("Qwen3ChatTest", e.Message);
    }

    [Fact]
    public void Load_TensorMissingFromCheckpoint_NamesIt()
    {
        using var dir = TempDirectory.CopyOf(snapshot.Directory);
        const string victim = "model.layers.0.self_attn.k_norm.weight";
        var writer = new SafeTensorsWriter(new Dictionary<string, string> { ["format"] = "pt" });
        using (var shard = SafeTensorsFile.Open(dir[Shard2]))
            foreach (var (name, info) in shard.Tensors)
            {
                if (name == victim) continue;
                byte[] bytes = shard.GetBytes(name).ToArray();
                writer.Add(name, info.DType, info.Shape, s => s.Write(bytes));
            }
        writer.Save(dir[Shard2]);
        var index = JsonNode.Parse(File.ReadAllText(dir["model.safetensors.index.json"]))!;
        index["weight_map"]!.AsObject().Remove(victim);
        File.WriteAllText(dir["model.safetensors.index.json"], index.ToJsonString());
        var e = Fails<InvalidDataException>(dir.Dir);
        Assert.Contains($"tensors missing: '{victim}'", e.Message);
    }

    [Fact]
    public void RequireTokenizerFiles_NamesEachMissingFile()
    {
        using var dir = TempDirectory.CopyOf(snapshot.Directory);
        foreach (var name in (string[])["tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"]) File.Delete(dir[name]);
        using var loaded = ModelDirectory.Load(dir.Dir); // weights load without a tokenizer
        Assert.False(loaded.HasTokenizerFiles);
        var e = Assert.Throws<FileNotFoundException>(() => loaded.RequireTokenizerFiles());
        output.WriteLine(e.Message);
        Assert.Contains(loaded.Directory, e.Message);
        Assert.Contains("missing tokenizer.json (or vocab.json + merges.txt) and tokenizer_config.json", e.Message);

        // vocab.json alone: merges.txt is named; tokenizer.json alone: only tokenizer_config.json is.
        File.WriteAllText(dir["vocab.json"], "{}");
        e = Assert.Throws<FileNotFoundException>(() => ModelDirectory.Tokenizer(dir.Dir).Require());
        Assert.Contains("missing merges.txt", e.Message);
        File.WriteAllText(dir["tokenizer.json"], "{}");
        e = Assert.Throws<FileNotFoundException>(() => ModelDirectory.Tokenizer(dir.Dir).Require());
        Assert.Contains("missing tokenizer_config.json", e.Message);
        Assert.DoesNotContain("merges.txt", e.Message.Split("A Hugging Face")[0]);
        File.WriteAllText(dir["tokenizer_config.json"], "{}");
        Assert.True(ModelDirectory.Tokenizer(dir.Dir).Complete);
    }

    [Fact]
    public void Load_GenerationConfigOutOfRange_Throws()
    {
        using var dir = TempDirectory.CopyOf(snapshot.Directory);
        File.WriteAllText(dir["generation_config.json"], "{\"eos_token_id\": [151645, 200000], \"top_p\": 0.9}");
        var e = Fails<InvalidDataException>(dir.Dir);
        Assert.Contains("eos_token_id 200000 is outside the vocabulary [0, 151936)", e.Message);
        File.WriteAllText(dir["generation_config.json"], "{\"top_p\": 1.5}");
        e = Fails<InvalidDataException>(dir.Dir);
        Assert.Contains("top_p 1.5 must lie in (0, 1]", e.Message);
    }
}
