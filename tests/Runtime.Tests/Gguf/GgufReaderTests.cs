using Qwen3Gen.Checkpoints;

namespace Qwen3Gen.Runtime.Tests.Gguf;

/// <summary>The fixture files read as their case README lists them (names, ne, types, offsets, metadata).</summary>
public class GgufReaderTests
{
    private static readonly string[] Matrices =
        ["token_embd.weight", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];

    /// <summary>The GGML type the case README's table gives each matrix (norms are always F32).</summary>
    private static GgmlType ExpectedType(string file, string tensor)
    {
        bool output = tensor == "token_embd.weight";
        bool bumped = tensor is "blk.1.attn_v.weight" or "blk.1.ffn_down.weight";   // Q4_K_M / Q5_K_M: layer 1 of 2
        return file switch
        {
            "f32" => GgmlType.F32,
            "q8_0" => GgmlType.Q8_0,
            "q4_0" => output ? GgmlType.Q6_K : GgmlType.Q4_0,
            "q4_k_m" => output || bumped ? GgmlType.Q6_K : GgmlType.Q4_K,
            "q5_k_m" => output || bumped ? GgmlType.Q6_K : GgmlType.Q5_K,
            "q6_k" => GgmlType.Q6_K,
            _ => throw new ArgumentException(file),
        };
    }

    public static TheoryData<string> Files => new(GgufFixture.Types);

    [Theory]
    [MemberData(nameof(Files))]
    public void EveryFixture_HasTheTensorsAndTypesOfItsReadme(string type)
    {
        using var file = GgufFile.Open(GgufFixture.Model(type));
        Assert.Equal(3u, file.Version);
        Assert.Equal(32, file.Alignment);
        Assert.Equal(24, file.Tensors.Count);
        Assert.Equal([256L, 272L], file["token_embd.weight"].Ne);
        Assert.Equal([272L, 256L], file["token_embd.weight"].Shape);
        Assert.Equal([256L], file["output_norm.weight"].Ne);
        Assert.False(file.Contains("output.weight"));   // tied
        for (int l = 0; l < 2; l++)
        {
            Assert.Equal([256L, 64L], file[$"blk.{l}.attn_k.weight"].Ne);
            Assert.Equal([256L, 64L], file[$"blk.{l}.attn_v.weight"].Ne);
            Assert.Equal([256L, 256L], file[$"blk.{l}.attn_q.weight"].Ne);
            Assert.Equal([32L], file[$"blk.{l}.attn_q_norm.weight"].Ne);
            foreach (var norm in new[] { "attn_norm", "ffn_norm", "attn_q_norm", "attn_k_norm" })
                Assert.Equal(GgmlType.F32, file[$"blk.{l}.{norm}.weight"].Type);
            foreach (var m in Matrices[1..])
                Assert.Equal(ExpectedType(type, $"blk.{l}.{m}.weight"), file[$"blk.{l}.{m}.weight"].Type);
        }
        Assert.Equal(ExpectedType(type, "token_embd.weight"), file["token_embd.weight"].Type);
        // Packed in file order, aligned, the file ending at the padded end of the last tensor.
        long expectedOffset = 0;
        foreach (var t in file.TensorList)
        {
            Assert.Equal(expectedOffset, t.Offset);
            expectedOffset = (t.Offset + t.ByteLength + 31) / 32 * 32;
        }
        Assert.Equal(file.FileLength, file.DataStart + expectedOffset);
    }

    [Theory]
    [InlineData("q8_0", "blk.0.attn_q.weight", 173696L, 34L * 8 * 256)]
    [InlineData("q4_0", "blk.0.attn_q.weight", 115872L, 18L * 8 * 256)]
    [InlineData("q4_k_m", "blk.0.attn_q.weight", 115872L, 144L * 256)]
    [InlineData("q5_k_m", "blk.0.attn_q.weight", 126112L, 176L * 256)]
    [InlineData("q4_k_m", "token_embd.weight", 11520L, 210L * 272)]
    public void WorkedExamples_StartAtTheReadmesFileBytes(string type, string tensor, long fileByte, long bytes)
    {
        using var file = GgufFile.Open(GgufFixture.Model(type));
        var info = file[tensor];
        Assert.Equal(fileByte, file.DataStart + info.Offset);
        Assert.Equal(bytes, info.ByteLength);
    }

    [Fact]
    public void Q8_0_WorkedExample_BytesAsListed()
    {
        using var file = GgufFile.Open(GgufFixture.Model("q8_0"));
        var bytes = file.GetBytes("blk.0.attn_q.weight")[..34];
        Assert.Equal("fd0cf69d4ae3bad3291b367fe2add6bf333b04541efbe1eeae782e1fed33e02b1615", Convert.ToHexStringLower(bytes));
    }

    [Fact]
    public void Metadata_AsListedInTheCaseReadme()
    {
        using var file = GgufFile.Open(GgufFixture.Model("q6_k"));
        var m = file.Metadata;
        Assert.Equal("qwen3", m.GetString("general.architecture"));
        Assert.Equal(2, m.GetInt32("qwen3.block_count"));
        Assert.Equal(64, m.GetInt32("qwen3.context_length"));
        Assert.Equal(256, m.GetInt32("qwen3.embedding_length"));
        Assert.Equal(256, m.GetInt32("qwen3.feed_forward_length"));
        Assert.Equal(8, m.GetInt32("qwen3.attention.head_count"));
        Assert.Equal(2, m.GetInt32("qwen3.attention.head_count_kv"));
        Assert.Equal(32, m.GetInt32("qwen3.attention.key_length"));
        Assert.Equal(1e6, m.GetDouble("qwen3.rope.freq_base"));
        Assert.Equal((double)1e-6f, m.GetDouble("qwen3.attention.layer_norm_rms_epsilon"));
        Assert.Equal("gpt2", m.GetString("tokenizer.ggml.model"));
        Assert.Equal("qwen2", m.GetString("tokenizer.ggml.pre"));
        Assert.Equal(272, m.GetStringArray("tokenizer.ggml.tokens").Length);
        Assert.Equal(272, m.GetInt32Array("tokenizer.ggml.token_type").Length);
        Assert.Equal(8, m.GetStringArray("tokenizer.ggml.merges").Length);
        Assert.Equal(266, m.GetInt32("tokenizer.ggml.eos_token_id"));
        Assert.False(m.GetBool("tokenizer.ggml.add_bos_token"));
        Assert.StartsWith("{%- if tools %}", m.GetString("tokenizer.chat_template"));
        Assert.Equal(18, m.GetInt32("general.file_type"));
        var wrongType = Assert.Throws<InvalidDataException>(() => m.GetInt32("general.architecture"));
        Assert.Contains("general.architecture", wrongType.Message);
        Assert.Contains("model-q6_k.gguf", wrongType.Message);
        var missing = Assert.Throws<InvalidDataException>(() => m.GetString("qwen3.expert_count"));
        Assert.Contains("qwen3.expert_count", missing.Message);
    }
}
