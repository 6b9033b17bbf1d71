using Qwen3Gen.Checkpoints;
using Qwen3Gen.Runtime.Tests.Checkpoints;
using Qwen3Gen.Runtime.Tests.Tokenization;
using Qwen3Gen.Tokenization;

namespace Qwen3Gen.Runtime.Tests.Gguf;

/// <summary>
/// The tokenizer read from GGUF metadata gives Hugging Face's ids: the bundled Qwen3 tokenizer written as
/// llama.cpp's converter writes it (151,936 ids, [PAD] entries, token types, merges) and read back, against the
/// transformers goldens (golden.jsonl, chat_golden.jsonl).
/// </summary>
public class GgufTokenizerTests
{
    private static readonly Lazy<Qwen3Tokenizer> FromGguf = new(() =>
    {
        using var dir = new TempFolder();
        var writer = new GgufWriter();
        writer.Add("general.architecture", "qwen3");
        GgufTokenizer.Write(writer, directory: null, vocabSize: 151_936);
        writer.Save(dir.File("tok.gguf"));
        using var file = GgufFile.Open(dir.File("tok.gguf"));
        Assert.Equal(151_936, file.Metadata.GetStringArray("tokenizer.ggml.tokens").Length);
        Assert.Equal("[PAD151669]", file.Metadata.GetStringArray("tokenizer.ggml.tokens")[151_669]);
        Assert.Equal(151_645, file.Metadata.GetInt32("tokenizer.ggml.eos_token_id"));   // <|im_end|>
        Assert.Contains("<|im_start|>", file.Metadata.GetString("tokenizer.chat_template"));
        return Qwen3Tokenizer.FromGguf(file.Metadata);
    });

    [Fact]
    public void Encode_GivesTheTransformersIds()
    {
        var tokenizer = FromGguf.Value;
        var failures = new List<string>();
        foreach (var g in TokenizerTestData.ReadGolden())
        {
            var ids = tokenizer.Encode(g.Text);
            if (!g.Ids.AsSpan().SequenceEqual(ids)) failures.Add($"golden.jsonl line {g.Line}: {TokenizerTestData.Diff(g.Ids, ids)}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(5)));
        Assert.Equal(Qwen3Tokenizer.Bundled.VocabSize, tokenizer.VocabSize);
        Assert.Equal(Qwen3Tokenizer.Bundled.EosIds, tokenizer.EosIds);
    }

    [Fact]
    public void ChatTemplate_GivesTheTransformersIds()
    {
        var tokenizer = FromGguf.Value;
        int line = 0;
        foreach (var l in File.ReadLines(TokenizerTestData.DataPath("chat_golden.jsonl")))
        {
            line++;
            using var doc = System.Text.Json.JsonDocument.Parse(l);
            var g = doc.RootElement;
            if (g.TryGetProperty("tools", out _)) continue;   // tools: covered by ChatTemplateTests on the same tokenizer class
            var messages = g.GetProperty("messages").EnumerateArray().Select(ChatMessage.FromJson).ToList();
            bool? thinking = g.GetProperty("enable_thinking").ValueKind switch
            {
                System.Text.Json.JsonValueKind.True => true,
                System.Text.Json.JsonValueKind.False => false,
                _ => null,
            };
            int[] expected = g.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            int[] ids = ChatTemplate.Encode(tokenizer, messages, g.GetProperty("add_generation_prompt").GetBoolean(), thinking);
            Assert.True(expected.AsSpan().SequenceEqual(ids), $"chat_golden.jsonl line {line}: {TokenizerTestData.Diff(expected, ids)}");
        }
    }

    [Fact]
    public void FixtureVocabulary_ReadsItsControlTokens()
    {
        using var file = GgufFile.Open(GgufFixture.Model("q8_0"));
        var tokenizer = Qwen3Tokenizer.FromGguf(file.Metadata);
        Assert.Equal(265, tokenizer.ImStartId);
        Assert.Equal(266, tokenizer.ImEndId);
        Assert.Equal(264, tokenizer.EndOfTextId);
        Assert.Equal([265], tokenizer.Encode("<|im_start|>"));
        Assert.Equal("hi <|im_end|>", tokenizer.Decode(tokenizer.Encode("hi <|im_end|>")));
    }

    [Fact]
    public void OtherTokenizerModels_AreRefused()
    {
        using var dir = new TempFolder();
        var writer = new GgufWriter().Add("tokenizer.ggml.model", "llama").Add("tokenizer.ggml.tokens", new[] { "a" });
        writer.Save(dir.File("llama.gguf"));
        using var file = GgufFile.Open(dir.File("llama.gguf"));
        var ex = Assert.Throws<NotSupportedException>(() => Qwen3Tokenizer.FromGguf(file.Metadata));
        Assert.Contains("tokenizer.ggml.model", ex.Message);
        Assert.Contains("llama.gguf", ex.Message);
    }
}
