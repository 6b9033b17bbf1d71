using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// Writing GGUF: the fixture's F32 model re-quantised by Qwen3Gen gives llama-quantize's files tensor for tensor:
/// the same type per tensor (the recipe) and the same blocks bit for bit, Q8_0, Q4_0 and the K-quants Q4_K, Q5_K,
/// Q6_K (the fixture files were made by llama-quantize from model-f32.gguf without an importance matrix), and the
/// written file loads and runs.
/// </summary>
public class GgufQuantizeTests : IClassFixture<TestCatalog>
{
    [Theory]
    [InlineData(GgufRecipe.Q8_0, "q8_0")]
    [InlineData(GgufRecipe.Q4_0, "q4_0")]
    [InlineData(GgufRecipe.Q4_K_M, "q4_k_m")]
    [InlineData(GgufRecipe.Q5_K_M, "q5_k_m")]
    [InlineData(GgufRecipe.Q6_K, "q6_k")]
    public void Blocks_EqualLlamaQuantize(GgufRecipe recipe, string fixture)
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
            Assert.True(t.Type == mine.Type, $"{fixture}: tensor {t.Name} is {mine.Type}, llama-quantize wrote {t.Type}");
            Assert.True(theirs.GetBytes(t.Name).SequenceEqual(ours.GetBytes(t.Name)), $"{fixture}: tensor {t.Name} ({t.Type}) differs");
            compared++;
        }
        Assert.Equal(24, compared);
        Assert.Equal(theirs.TensorList.Count, ours.TensorList.Count);
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

        Assert.Equal(0, Sample.Commands.QuantizeCommand.Run(source, "Q4_K", dir["k.gguf"], stdout, err));
        using (var written = GgufFile.Open(dir["k.gguf"]))
        using (var theirs = GgufFile.Open(GgufGoldenTests.CaseFile("model-q4_k_m.gguf")))
        {
            Assert.Equal(15, written.Metadata.GetInt32("general.file_type"));
            Assert.True(theirs.GetBytes("blk.1.ffn_down.weight").SequenceEqual(written.GetBytes("blk.1.ffn_down.weight")));
            Assert.True(theirs.GetBytes("blk.0.ffn_up.weight").SequenceEqual(written.GetBytes("blk.0.ffn_up.weight")));
        }
        Assert.Equal(2, Sample.Commands.QuantizeCommand.Run(source, "q3", dir["x.gguf"], stdout, err));
        Assert.Contains("--type q3", err.ToString());
        Assert.Equal(2, Sample.Commands.QuantizeCommand.Run(source, "q8_0", dir["x.bin"], stdout, err));
        Assert.Contains("must end in .gguf", err.ToString());
        Assert.Equal(2, Sample.Commands.QuantizeCommand.Run(dir["absent.gguf"], "q8_0", dir["y.gguf"], stdout, err));
        Assert.Contains("absent.gguf", err.ToString());
        Assert.False(File.Exists(dir["x.gguf"]) || File.Exists(dir["y.gguf"]));
    }

    /// <summary>
    /// The Q4_K_M / Q5_K_M layer rule at Qwen3-0.6B's depth: the golden README lists the 28-layer model's Q6_K layers
    /// (from llama.cpp's <c>use_more_bits</c>) as [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26, 27].
    /// </summary>
    [Fact]
    public void KQuantMixture_MatchesLlamaCppLayers_AndOutputRules()
    {
        int[] expected = [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26, 27];
        foreach (var recipe in new[] { GgufRecipe.Q4_K_M, GgufRecipe.Q5_K_M })
        {
            var plain = recipe == GgufRecipe.Q4_K_M ? GgmlType.Q4_K : GgmlType.Q5_K;
            for (int l = 0; l < 28; l++)
            {
                var more = expected.Contains(l) ? GgmlType.Q6_K : plain;
                Assert.Equal(more, GgufExport.TypeFor(recipe, $"blk.{l}.attn_v.weight", [1024, 1024], tied: true, layers: 28));
                Assert.Equal(more, GgufExport.TypeFor(recipe, $"blk.{l}.ffn_down.weight", [3072, 1024], tied: true, layers: 28));
                Assert.Equal(plain, GgufExport.TypeFor(recipe, $"blk.{l}.ffn_up.weight", [1024, 3072], tied: true, layers: 28));
                Assert.Equal(plain, GgufExport.TypeFor(recipe, $"blk.{l}.attn_k.weight", [1024, 1024], tied: true, layers: 28));
            }
            Assert.Equal(GgmlType.Q6_K, GgufExport.TypeFor(recipe, "token_embd.weight", [1024, 151936], tied: true, layers: 28));
            Assert.Equal(plain, GgufExport.TypeFor(recipe, "token_embd.weight", [1024, 151936], tied: false, layers: 28));
            Assert.Equal(GgmlType.Q6_K, GgufExport.TypeFor(recipe, "output.weight", [1024, 151936], tied: false, layers: 28));
            Assert.Equal(GgmlType.F32, GgufExport.TypeFor(recipe, "blk.3.attn_norm.weight", [1024], tied: true, layers: 28));
            // A row that is not whole 256-blocks: Q8_0 (llama.cpp would write Q5_0 / Q5_1, which Qwen3Gen does not read).
            Assert.Equal(GgmlType.Q8_0, GgufExport.TypeFor(recipe, "blk.3.ffn_up.weight", [96, 256], tied: true, layers: 28));
        }
        // 8 experts: llama.cpp gives attn_k / attn_v Q8_0 and Q4_K_M's attn_output Q5_K; 128 experts (Qwen3-30B-A3B) do not.
        Assert.Equal(GgmlType.Q8_0, GgufExport.TypeFor(GgufRecipe.Q4_K_M, "blk.3.attn_v.weight", [2048, 512], tied: false, layers: 48, experts: 8));
        Assert.Equal(GgmlType.Q8_0, GgufExport.TypeFor(GgufRecipe.Q4_0, "blk.3.attn_k.weight", [2048, 512], tied: false, layers: 48, experts: 8));
        Assert.Equal(GgmlType.Q5_K, GgufExport.TypeFor(GgufRecipe.Q4_K_M, "blk.3.attn_output.weight", [4096, 2048], tied: false, layers: 48, experts: 8));
        Assert.Equal(GgmlType.Q4_K, GgufExport.TypeFor(GgufRecipe.Q4_K_M, "blk.3.attn_output.weight", [4096, 2048], tied: false, layers: 48, experts: 128));
        Assert.Equal(GgmlType.Q6_K, GgufExport.TypeFor(GgufRecipe.Q4_K_M, "blk.47.ffn_down_exps.weight", [768, 2048, 128], tied: false, layers: 48, experts: 128));
        Assert.Equal(GgmlType.F32, GgufExport.TypeFor(GgufRecipe.Q4_K_M, "blk.3.ffn_gate_inp.weight", [2048, 128], tied: false, layers: 48, experts: 128));
    }

    /// <summary>
    /// The K-quant quantisers on blocks the fixture does not contain: all zeros (no division by a zero scale), a
    /// constant, a lone outlier, and random rows whose round trip stays within each format's resolution.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q4_K, 0.03)]
    [InlineData(GgmlType.Q5_K, 0.008)]
    [InlineData(GgmlType.Q6_K, 0.002)]
    public unsafe void KQuants_RoundTrip_EdgeBlocksAndRandomRows(GgmlType type, double maxNmse)
    {
        const int n = 1024;
        var rng = new Random(7);
        float[][] rows =
        [
            new float[n],
            Enumerable.Repeat(0.25f, n).ToArray(),
            Enumerable.Range(0, n).Select(i => i == 300 ? 50f : 0.001f * (i % 7)).ToArray(),
            Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(),
            Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * -3)).ToArray(),
        ];
        var blocks = new byte[GgmlTypes.RowBytes(type, n)];
        var back = new float[n];
        foreach (var row in rows)
        {
            fixed (float* x = row) fixed (byte* q = blocks) fixed (float* y = back)
            {
                Qwen3Gen.Quantization.Quantize.Row(type, x, q, n);
                Qwen3Gen.Quantization.Dequantize.Row(type, q, y, n);
            }
            double err = 0, sum = 0;
            for (int i = 0; i < n; i++)
            {
                Assert.True(float.IsFinite(back[i]), $"{type}: element {i} is {back[i]}");
                err += (back[i] - row[i]) * (double)(back[i] - row[i]);
                sum += row[i] * (double)row[i];
            }
            if (sum == 0) Assert.Equal(0, err);
            else Assert.True(err / sum <= maxNmse, $"{type}: round-trip NMSE {err / sum:g3} > {maxNmse}");
        }
    }
}
