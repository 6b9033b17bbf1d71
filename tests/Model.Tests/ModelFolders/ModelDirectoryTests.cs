using System.Text.Json;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;
using Xunit.Abstractions;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>A snapshot written like a Hub download loads back into the right definition with the same weights and logits.</summary>
[Collection(SnapshotCollection.Name)]
public class ModelDirectoryTests(ModelFolderFixture snapshot, ITestOutputHelper output)
{
    [Fact]
    public void Snapshot_HasTheFilesOfAHubDownload()
    {
        var files = Directory.GetFiles(snapshot.Directory).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(
            ["config.json", "generation_config.json", "merges.txt", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
             "model.safetensors.index.json", "tokenizer_config.json", "vocab.json"], files);
        Assert.Equal(File.ReadAllBytes(Path.Combine(ModelFolderFixture.TokenizerSource, "merges.txt")), File.ReadAllBytes(Path.Combine(snapshot.Directory, "merges.txt")));

        // config.json: the fields of a published Qwen3 config (spec §8), values from the definition's attribute.
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(snapshot.Directory, "config.json")));
        var c = config.RootElement;
        Assert.Equal("qwen3", c.GetProperty("model_type").GetString());
        Assert.Equal("Qwen3ForCausalLM", c.GetProperty("architectures")[0].GetString());
        Assert.Equal("bfloat16", c.GetProperty("torch_dtype").GetString());
        Assert.Equal("silu", c.GetProperty("hidden_act").GetString());
        Assert.Equal(151_936, c.GetProperty("vocab_size").GetInt32());
        Assert.Equal(64, c.GetProperty("hidden_size").GetInt32());
        Assert.Equal(2, c.GetProperty("num_hidden_layers").GetInt32());
        Assert.Equal(4, c.GetProperty("num_attention_heads").GetInt32());
        Assert.Equal(2, c.GetProperty("num_key_value_heads").GetInt32());
        Assert.Equal(16, c.GetProperty("head_dim").GetInt32());
        Assert.Equal(128, c.GetProperty("intermediate_size").GetInt32());
        Assert.Equal(1e6, c.GetProperty("rope_theta").GetDouble());
        Assert.Equal(1e-6, c.GetProperty("rms_norm_eps").GetDouble());
        Assert.True(c.GetProperty("tie_word_embeddings").GetBoolean());
        Assert.Equal(4096, c.GetProperty("max_position_embeddings").GetInt32());
        Assert.False(c.GetProperty("use_sliding_window").GetBoolean());
        Assert.False(c.GetProperty("attention_bias").GetBoolean());
        Assert.Equal(151_643, c.GetProperty("bos_token_id").GetInt32());
        Assert.Equal(151_645, c.GetProperty("eos_token_id").GetInt32());

        // The index maps every tensor (no lm_head: tied) to one of the two shards; total_size counts BF16 bytes.
        using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(snapshot.Directory, "model.safetensors.index.json")));
        var map = index.RootElement.GetProperty("weight_map").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        Assert.Equal(snapshot.Original.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal), map.Keys.Order(StringComparer.Ordinal));
        Assert.DoesNotContain("lm_head.weight", map.Keys);
        Assert.Equal(2, map.Values.Distinct().Count());
        long expectedBytes = 2L * (151_936L * 64 + 2 * (64 * 64 + 2 * 32 * 64 + 64 * 64 + 3 * 128 * 64 + 2 * 64 + 2 * 16) + 64);
        Assert.Equal(expectedBytes, index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64());
        foreach (var (name, file) in map)
        {
            using var shard = SafeTensorsFile.Open(Path.Combine(snapshot.Directory, file!));
            Assert.Equal(SafeTensorsDType.BF16, shard[name].DType);
            Assert.Equal("pt", shard.Metadata["format"]);
        }
    }

    [Fact]
    public void Load_PicksTheMatchingDefinition_AndKeepsBf16()
    {
        using var loaded = ModelDirectory.Load(snapshot.Directory);
        output.WriteLine(loaded.ToString());
        Assert.Equal(nameof(Qwen3ChatTest), loaded.Definition.Name);
        Assert.IsType<Qwen3ChatTest>(loaded.Model);
        Assert.Equal(WeightFormat.BF16, loaded.Format);
        Assert.Empty(loaded.Config.Differences(Qwen3ChatTest.HyperParameters));
        Assert.Equal(Path.GetFullPath(snapshot.Directory), loaded.Directory);
        Assert.Equal(2, loaded.Report.Files.Count);
        Assert.Equal(loaded.Model.Tensors.Count, loaded.Report.Loaded);
        Assert.Equal(loaded.Model.Tensors.Count, loaded.Report.DTypes[SafeTensorsDType.BF16]);
        Assert.Empty(loaded.Report.ExtraTensors);
        Assert.True(loaded.HasTokenizerFiles);
        var tokenizerFiles = loaded.RequireTokenizerFiles();
        Assert.Null(tokenizerFiles.TokenizerJsonPath);
        Assert.Equal(Path.Combine(loaded.Directory, "vocab.json"), tokenizerFiles.VocabPath);
        Assert.Equal(Path.Combine(loaded.Directory, "merges.txt"), tokenizerFiles.MergesPath);
        Assert.Equal(Path.Combine(loaded.Directory, "tokenizer_config.json"), tokenizerFiles.TokenizerConfigPath);
        Assert.Equal([151_645, 151_643], loaded.Generation.EosTokenIds);
        Assert.Equal(0.6f, loaded.Generation.Temperature);
        Assert.Equal(20, loaded.Generation.TopK);
        Assert.Equal(0.95f, loaded.Generation.TopP);
        Assert.True(loaded.Generation.DoSample);
    }

    [Fact]
    public void Load_Bf16Weights_EqualTheSavedOnes()
    {
        using var loaded = ModelDirectory.Load(snapshot.Directory);
        foreach (var tensor in snapshot.Original.Tensors)
        {
            var saved = new float[tensor.Length];
            var back = new float[tensor.Length];
            snapshot.Original.Weights.Get(tensor, saved);
            loaded.Model.Weights.Get(loaded.Model.Tensors.Single(t => t.Name == tensor.Name), back);
            for (int i = 0; i < saved.Length; i++)
            {
                // The file holds round-to-nearest-even BF16 of the float32 weights; BF16 -> float32 is exact.
                float expected = RoundToBf16(saved[i]);
                if (BitConverter.SingleToInt32Bits(expected) != BitConverter.SingleToInt32Bits(back[i]))
                    Assert.Fail($"{tensor.Name}[{i}]: saved {saved[i]:R} (BF16 {expected:R}), loaded {back[i]:R}");
            }
            if (!tensor.IsMatrix) Assert.All(back, v => Assert.Equal(1f, v));
        }
    }

    [Fact]
    public void Load_Bf16Logits_MatchFloat32ModelWithRoundedWeights()
    {
        int[] ids = [151_644, 872, 198, 9707, 11, 1879, 0, 151_645, 198, 151_643];
        using var reference = Qwen3ChatTest.Create(WeightFormat.F32);
        var buffer = new float[snapshot.Original.Tensors.Max(t => t.Length)];
        foreach (var t in snapshot.Original.Tensors)
        {
            var values = buffer.AsSpan(0, (int)t.Length);
            snapshot.Original.Weights.Get(t, values);
            for (int i = 0; i < values.Length; i++) values[i] = RoundToBf16(values[i]);
            reference.Weights.Set(t, values);
        }
        reference.Forward(ids, [], 1, ids.Length);

        using var loaded = ModelDirectory.Load(snapshot.Directory);
        loaded.Model.Forward(ids, [], 1, ids.Length);
        Compare.Close(output, "logits BF16 model vs F32 model of BF16 weights", reference.Logits, loaded.Model.Logits, Tolerances.Logits);
        Assert.Equal(ArgMax(reference.Logits, ids.Length), ArgMax(loaded.Model.Logits, ids.Length));
    }

    [Fact]
    public void Load_Float32SingleFile_DefaultsToF32_AndIsExact()
    {
        using var dir = new TempDirectory();
        SnapshotWriter.Save(snapshot.Original, dir.Dir, SafeTensorsDType.F32);
        Assert.True(File.Exists(dir["model.safetensors"]));
        Assert.False(File.Exists(dir["model.safetensors.index.json"]));
        Assert.False(File.Exists(dir["generation_config.json"]));

        using var loaded = ModelDirectory.Load(dir.Dir);
        Assert.Equal(WeightFormat.F32, loaded.Format);
        Assert.Single(loaded.Report.Files);
        Assert.Equal(snapshot.Original.Weights.Count, loaded.Model.Weights.Count);
        foreach (var t in loaded.Model.Tensors)
        {
            var a = new float[t.Length];
            var b = new float[t.Length];
            loaded.Model.Weights.Get(t, a);
            snapshot.Original.Weights.Get(t, b);
            Assert.True(a.AsSpan().SequenceEqual(b), t.Name);
        }
        // No generation_config.json: the Qwen3 defaults of spec §6.
        Assert.Equal([151_645, 151_643], loaded.Generation.EosTokenIds);
        Assert.Equal((int?)151_643, loaded.Generation.BosTokenId);
        Assert.Equal((int?)151_643, loaded.Generation.PadTokenId);
        Assert.Equal((true, 0.6f, 20, 0.95f, 0f), (loaded.Generation.DoSample, loaded.Generation.Temperature, loaded.Generation.TopK, loaded.Generation.TopP, loaded.Generation.MinP));
        Assert.Null(loaded.Generation.Source);
    }

    [Fact]
    public void Load_FormatCanBeForced()
    {
        using var bf16AsF32 = ModelDirectory.Load(snapshot.Directory, WeightFormat.F32);
        Assert.Equal(WeightFormat.F32, bf16AsF32.Format);
        var embed = bf16AsF32.Model.Tensors[0];
        var a = new float[embed.Length];
        var b = new float[embed.Length];
        bf16AsF32.Model.Weights.Get(embed, a);
        snapshot.Original.Weights.Get(embed, b);
        for (int i = 0; i < a.Length; i += 997) Assert.Equal(RoundToBf16(b[i]), a[i]);
    }

    [Fact]
    public void Load_MoeSnapshot_RoundTripsExactly()
    {
        using var original = MoeTied.Create(WeightFormat.F32);
        WeightInit.Normal(original, seed: 7);
        using var dir = new TempDirectory();
        SnapshotWriter.Save(original, dir.Dir, SafeTensorsDType.F32, shards: 3);
        using (var config = JsonDocument.Parse(File.ReadAllText(dir["config.json"])))
        {
            Assert.Equal("qwen3_moe", config.RootElement.GetProperty("model_type").GetString());
            Assert.Equal("Qwen3MoeForCausalLM", config.RootElement.GetProperty("architectures")[0].GetString());
            Assert.Equal(4, config.RootElement.GetProperty("num_experts").GetInt32());
            Assert.Equal(2, config.RootElement.GetProperty("num_experts_per_tok").GetInt32());
            Assert.Equal(32, config.RootElement.GetProperty("moe_intermediate_size").GetInt32());
            Assert.False(config.RootElement.TryGetProperty("eos_token_id", out _)); // vocabulary 256 has no Qwen3 special ids
        }
        Assert.Equal(3, Directory.GetFiles(dir.Dir, "model-*-of-00003.safetensors").Length);

        using var loaded = ModelDirectory.Load(dir.Dir);
        Assert.Equal(nameof(MoeTied), loaded.Definition.Name);
        Assert.Equal(3, loaded.Report.Files.Count);
        Assert.Empty(loaded.Generation.EosTokenIds); // defaults without ids the vocabulary lacks
        int[] ids = [3, 200, 17, 42, 255, 0];
        original.Forward(ids, [], 1, ids.Length);
        loaded.Model.Forward(ids, [], 1, ids.Length);
        Assert.True(original.Logits.SequenceEqual(loaded.Model.Logits));
    }

    [Fact]
    public void Load_TokenizerOfTheSnapshot_FeedsTheModel()
    {
        using var loaded = ModelDirectory.Load(snapshot.Directory);
        var tokenizer = Qwen3Gen.Tokenization.Qwen3Tokenizer.Load(loaded.RequireTokenizerFiles().Directory);
        int[] ids = tokenizer.Encode("<|im_start|>user\nHello, world!<|im_end|>\n");
        Assert.Equal(151_644, ids[0]);
        Assert.Contains(151_645, ids);
        Assert.True(ids.All(id => id < loaded.Config.Vocab));
        Assert.Contains(loaded.Generation.EosTokenIds[0], tokenizer.EosIds);
        float loss = loaded.Model.Forward(ids, CausalLm.ShiftedTargets(ids, 1, ids.Length), 1, ids.Length);
        // Random N(0, 0.02) weights give near-uniform predictions: loss ≈ ln(151,936) = 11.93.
        Assert.InRange(loss, 11.5, 12.5);
    }

    [Fact]
    public void SaveSnapshot_RefusesAFolderThatHoldsACheckpoint()
    {
        var e = Assert.Throws<IOException>(() => SnapshotWriter.Save(snapshot.Original, snapshot.Directory));
        Assert.Contains("already holds a checkpoint", e.Message);
    }

    private static float RoundToBf16(float x) => BF16.FromSingle(x).ToSingle();

    private static int[] ArgMax(ReadOnlySpan<float> logits, int rows)
    {
        int vocab = logits.Length / rows;
        var result = new int[rows];
        for (int r = 0; r < rows; r++)
        {
            var row = logits.Slice(r * vocab, vocab);
            int best = 0;
            for (int i = 1; i < vocab; i++) if (row[i] > row[best]) best = i;
            result[r] = best;
        }
        return result;
    }
}
