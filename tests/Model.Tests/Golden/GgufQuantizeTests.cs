using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// Writing GGUF: the fixture's F32 model re-quantised by Qwen3Gen gives llama-quantize's Q8_0 and Q4_0 blocks bit
/// for bit (the fixture files were made by llama-quantize from model-f32.gguf), and the written file loads and runs.
/// </summary>
public class GgufQuantizeTests
{
    [Theory]
    [InlineData(GgufRecipe.Q8_0, "q8_0", GgmlType.Q8_0)]
    [InlineData(GgufRecipe.Q4_0, "q4_0", GgmlType.Q4_0)]
    public void Blocks_EqualLlamaQuantize(GgufRecipe recipe, string fixture, GgmlType blockType)
    {
        using var dir = new TempDirectory();
        string path = dir[$"ours-{fixture}.gguf"];
        using (var source = ModelDirectory.Load(GgufGoldenTests.CaseFile("model-f32.gguf"), WeightFormat.F32))
            GgufExport.Write(source.Model, recipe, path, tokenizerDirectory: null, name: "dense-q", tokenizerFrom: source.Gguf!.Metadata);
        using var ours = GgufFile.Open(path);
        using var theirs = GgufFile.Open(GgufGoldenTests.CaseFile($"model-{fixture}.gguf"));
        int compared = 0;
        foreach (var t in theirs.TensorList)
        {
            var mine = ours[t.Name];
            Assert.Equal(t.Ne, mine.Ne);
            if (t.Type != blockType && t.Type != GgmlType.F32) continue;   // Q4_0's Q6_K output matrix: ours is Q8_0
            Assert.Equal(t.Type, mine.Type);
            Assert.True(theirs.GetBytes(t.Name).SequenceEqual(ours.GetBytes(t.Name)), $"{fixture}: tensor {t.Name} ({t.Type}) differs");
            compared++;
        }
        Assert.Equal(recipe == GgufRecipe.Q8_0 ? 24 : 23, compared);
        foreach (var key in new[] { "qwen3.block_count", "qwen3.embedding_length", "qwen3.feed_forward_length", "qwen3.attention.head_count",
                                    "qwen3.attention.head_count_kv", "qwen3.attention.key_length", "qwen3.context_length" })
            Assert.Equal(theirs.Metadata.GetInt64(key), ours.Metadata.GetInt64(key));
        Assert.Equal(theirs.Metadata.GetDouble("qwen3.rope.freq_base"), ours.Metadata.GetDouble("qwen3.rope.freq_base"));
        Assert.Equal(theirs.Metadata.GetDouble("qwen3.attention.layer_norm_rms_epsilon"), ours.Metadata.GetDouble("qwen3.attention.layer_norm_rms_epsilon"));
        Assert.Equal(GgufExport.FileType(recipe), ours.Metadata.GetInt32("general.file_type"));

        // The written file loads through the README's path.
        using var loaded = ModelDirectory.Load(path);
        Assert.Equal(nameof(DenseQ), loaded.Definition.Name);
        Assert.Equal(theirs.Metadata.GetStringArray("tokenizer.ggml.tokens"), ours.Metadata.GetStringArray("tokenizer.ggml.tokens"));
        Assert.Equal(theirs.Metadata.GetString("tokenizer.chat_template"), ours.Metadata.GetString("tokenizer.chat_template"));
    }

    [Fact]
    public void QuantizeCommand_WritesTheFile_AndRefusesWhatItCannot()
    {
        using var dir = new TempDirectory();
        var (stdout, err) = (new StringWriter(), new StringWriter());
        string source = GgufGoldenTests.CaseFile("model-f32.gguf");
        Assert.Equal(0, Sample.Commands.QuantizeCommand.Run(source, "q8_0", dir["cli.gguf"], stdout, err));
        Assert.Contains("cli.gguf", stdout.ToString());
        using (var written = GgufFile.Open(dir["cli.gguf"]))
        using (var theirs = GgufFile.Open(GgufGoldenTests.CaseFile("model-q8_0.gguf")))
            Assert.True(theirs.GetBytes("blk.1.ffn_down.weight").SequenceEqual(written.GetBytes("blk.1.ffn_down.weight")));

        Assert.Equal(2, Sample.Commands.QuantizeCommand.Run(source, "q4_k_m", dir["k.gguf"], stdout, err));
        Assert.Contains("not implemented", err.ToString());
        Assert.Equal(2, Sample.Commands.QuantizeCommand.Run(source, "q3", dir["x.gguf"], stdout, err));
        Assert.Contains("--type q3", err.ToString());
        Assert.Equal(2, Sample.Commands.QuantizeCommand.Run(source, "q8_0", dir["x.bin"], stdout, err));
        Assert.Contains("must end in .gguf", err.ToString());
        Assert.Equal(2, Sample.Commands.QuantizeCommand.Run(dir["absent.gguf"], "q8_0", dir["y.gguf"], stdout, err));
        Assert.Contains("absent.gguf", err.ToString());
        Assert.False(File.Exists(dir["k.gguf"]) || File.Exists(dir["x.gguf"]) || File.Exists(dir["y.gguf"]));
    }
}
