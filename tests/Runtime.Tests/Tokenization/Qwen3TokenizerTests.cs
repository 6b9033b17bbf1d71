using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Qwen3Gen.Tokenization;
using Xunit.Abstractions;

namespace Qwen3Gen.Runtime.Tests.Tokenization;

/// <summary>Added tokens, special-token decoding, streaming, loading from a model directory, adversarial input.</summary>
public sealed class Qwen3TokenizerTests(ITestOutputHelper output)
{
    static Qwen3Tokenizer Tok => TokenizerTestData.Tokenizer;
    const int FirstAdded = 151643, LastAdded = 151668;

    [Fact]
    public void AddedTokens_EachEncodesAsItsId_AnywhereInText()
    {
        Assert.Equal(26, Tok.AddedTokenCount);
        for (int id = FirstAdded; id <= LastAdded; id++)
        {
            string content = Tok.Decode([id]);
            Assert.Equal([id], Tok.Encode(content));
            int[] inText = Tok.Encode("x" + content + "y");
            Assert.Equal(3, inText.Length);
            Assert.Equal(id, inText[1]);
        }
        Assert.Equal(151667, Tok.ThinkId);
        Assert.Equal(151668, Tok.ThinkEndId);
        Assert.Equal(151645, Tok.ImEndId);
        Assert.Equal(151643, Tok.EndOfTextId);
        Assert.Equal([151645, 151643], Tok.EosIds);
        Assert.Equal(151669, Tok.VocabSize);
    }

    [Theory]
    [InlineData("<|IM_START|>")]
    [InlineData("<|im_start|")]
    [InlineData("< |im_start| >")]
    [InlineData("<think >")]
    [InlineData("<Think>")]
    public void NearMissesOfAddedTokens_ArePlainText(string text)
        => Assert.All(Tok.Encode(text), id => Assert.True(id < FirstAdded, $"id {id} in '{text}'"));

    [Fact]
    public void IsSpecial_FourteenControlTokens_NotThinkOrToolCall()
    {
        int special = Enumerable.Range(FirstAdded, 26).Count(Tok.IsSpecial);
        Assert.Equal(14, special);
        Assert.True(Tok.IsSpecial(Tok.ImEndId));
        Assert.False(Tok.IsSpecial(Tok.ThinkId));
        Assert.False(Tok.IsSpecial(Tok.GetAddedTokenId("<tool_call>")));
        Assert.False(Tok.IsSpecial(9707));
    }

    [Fact]
    public void Decode_SkipSpecialTokens_DropsOnlySpecialOnes()
    {
        int[] ids = Tok.Encode("<|im_start|>user<think>hi</think><tool_call><|im_end|><|endoftext|>");
        Assert.Equal("<|im_start|>user<think>hi</think><tool_call><|im_end|><|endoftext|>", Tok.Decode(ids));
        Assert.Equal("user<think>hi</think><tool_call>", Tok.Decode(ids, skipSpecialTokens: true));
    }

    [Fact]
    public void AddedTokens_StillRecognised_AfterManyDistinctWords()
    {
        // Microsoft.ML.Tokenizers' Tiktoken keeps special tokens in its 8192-entry LRU cache; once
        // evicted it encodes "<think>" as plain text. Qwen3Tokenizer cuts added tokens out itself.
        var tok = Qwen3Tokenizer.LoadBundled();
        string words = string.Join(" ", Enumerable.Range(0, 20_000).Select(i => "w" + string.Concat(i.ToString().Select(c => (char)('a' + c - '0')))));
        tok.Encode(words);
        Assert.Equal([151667], tok.Encode("<think>"));
        Assert.Equal([9707, 151645], tok.Encode("Hello<|im_end|>"));
    }

    [Fact]
    public void Decode_InvalidUtf8_GivesReplacementCharacter()
    {
        Assert.Equal("\uFFFD", Tok.Decode([136]));
        Assert.Equal("Hello", Tok.Decode([9707]));
        Assert.Equal("", Tok.Decode([151_900]));                       // embedding row with no token: nothing, as in HF
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok.Decode([-1]));
    }

    [Fact]
    public void StreamingDecoder_EmitsOnlyCompleteCharacters_AndSumsToDecode()
    {
        string text = "Emoji 🙂👍🏽 and 中文字符, ещё, a\u0301, 𝘯-seven <think>ok</think> 🧑‍🤝‍🧑!";
        int[] ids = Tok.Encode(text);
        var dec = Tok.CreateStreamingDecoder();
        var sb = new StringBuilder();
        int heldBack = 0;
        foreach (int id in ids)
        {
            string piece = dec.Push(id);
            Assert.DoesNotContain('\uFFFD', piece);
            if (piece.Length > 0) Assert.False(char.IsHighSurrogate(piece[^1]), "piece ends in half a surrogate pair");
            if (piece.Length == 0) heldBack++;
            sb.Append(piece);
        }
        sb.Append(dec.Flush());
        Assert.Equal(Tok.Decode(ids), sb.ToString());
        Assert.True(heldBack > 0, "expected some tokens that end inside a multi-byte character");
    }

    [Fact]
    public void StreamingDecoder_InvalidBytes_MatchOneShotDecode()
    {
        int[] ids = [136, 9707, 136, 136, 151645, 116];
        var dec = Tok.CreateStreamingDecoder(skipSpecialTokens: true);
        string streamed = string.Concat(ids.Select(dec.Push)) + dec.Flush();
        Assert.Equal(Tok.Decode(ids, skipSpecialTokens: true), streamed);
    }

    [Fact]
    public void OwnBpe_AgreesWithTiktoken_OnEveryTinyShakespearePreToken()
    {
        // Tiktoken merges by the rank of the concatenation; Hugging Face by merges.txt rank. The
        // README says they agree for Qwen3; this checks it on ~200k pre-tokens independently.
        var bpeOnly = Qwen3Tokenizer.LoadBundled(useTiktoken: false);
        string text = File.ReadAllText(TokenizerTestData.ShakespearePath());
        Assert.Equal(Tok.Encode(text), bpeOnly.Encode(text));
    }

    [Fact]
    public void Load_FromVocabMergesConfigDirectory_MatchesGolden()
    {
        string dir = TempDir();
        foreach (var name in new[] { "vocab.json", "merges.txt", "tokenizer_config.json" })
            File.WriteAllBytes(Path.Combine(dir, name), Bundled(name));
        AssertGolden(Qwen3Tokenizer.Load(dir));
    }

    [Fact]
    public void Load_FromTokenizerJson_MatchesGolden()
    {
        string dir = TempDir();
        File.WriteAllBytes(Path.Combine(dir, "tokenizer.json"), BuildTokenizerJson(@"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"));
        var tok = Qwen3Tokenizer.Load(dir);
        AssertGolden(tok);
        Assert.Equal(14, Enumerable.Range(FirstAdded, 26).Count(tok.IsSpecial));
    }

    [Fact]
    public void Load_BadDirectories_ThrowClearErrors()
    {
        Assert.Throws<DirectoryNotFoundException>(() => Qwen3Tokenizer.Load(Path.Combine(TempDir(), "missing")));
        string empty = TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => Qwen3Tokenizer.Load(empty));
        Assert.Contains("tokenizer.json", e.Message);
        string other = TempDir();
        File.WriteAllBytes(Path.Combine(other, "tokenizer.json"), BuildTokenizerJson(@"\w+|\s+"));
        var ns = Assert.Throws<NotSupportedException>(() => Qwen3Tokenizer.Load(other));
        Assert.Contains("pre-tokenizer regex", ns.Message);
    }

    [Fact]
    public void Encode_FromManyThreadsOnAFreshInstance_MatchesSerialEncodeOfAnotherInstance()
    {
        // Encode caches ids per pre-token in a shared dictionary; threads filling it at once
        // must each still get the ids a cold, single-threaded instance gives.
        string[] lines = File.ReadAllLines(TokenizerTestData.ShakespearePath()).Take(4000).ToArray();
        var serial = Qwen3Tokenizer.LoadBundled();
        int[][] expected = lines.Select(serial.Encode).ToArray();
        var shared = Qwen3Tokenizer.LoadBundled();
        var actual = new int[lines.Length][];
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, t =>
        {
            for (int i = 0; i < lines.Length; i++)                            // every thread encodes every line
            {
                int[] ids = shared.Encode(lines[(i + t * 997) % lines.Length]);
                if (t == 0) actual[i] = ids;
                else Assert.Equal(expected[(i + t * 997) % lines.Length], ids);
            }
        });
        for (int i = 0; i < lines.Length; i++) Assert.Equal(expected[i], actual[i]);
    }

    // Inputs that make naive BPE or regex engines blow up. Times are printed, never asserted.
    [Fact]
    public void AdversarialInputs_FinishAndRoundTrip()
    {
        var rng = new Random(1234);
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?-_()[]{}'\"/\\";
        var noSpaces = new string(Enumerable.Range(0, 1 << 20).Select(_ => alphabet[rng.Next(alphabet.Length)]).ToArray());
        var combining = "a" + new string('\u0301', 100_000);
        var oneLetter = new string('a', 200_000);
        var randomBytes = new byte[1 << 20];
        rng.NextBytes(randomBytes);
        string fromBytes = Encoding.UTF8.GetString(randomBytes);

        Check("1 MiB of random ASCII with no spaces", noSpaces, noSpaces);
        Check("'a' + 100,000 U+0301", combining, "\u00E1" + new string('\u0301', 99_999));
        Check("200,000 x 'a'", oneLetter, oneLetter);
        Check("1 MiB of random bytes decoded as UTF-8", fromBytes, null);
        Check("1 MiB of letters only", new string(noSpaces.Where(char.IsLetter).ToArray()), null);

        void Check(string name, string text, string? expectedRoundTrip)
        {
            var sw = Stopwatch.StartNew();
            int[] ids = Tok.Encode(text);
            double encode = sw.Elapsed.TotalSeconds;
            string back = Tok.Decode(ids);
            output.WriteLine($"{name}: {text.Length:N0} chars -> {ids.Length:N0} ids, encode {encode:F3} s, decode {sw.Elapsed.TotalSeconds - encode:F3} s");
            if (expectedRoundTrip is not null) Assert.True(expectedRoundTrip == back, $"{name}: round trip differs");
            else Assert.Equal(ids, Tok.Encode(back));                    // decode(encode(s)) is a fixed point
        }
    }

    static void AssertGolden(Qwen3Tokenizer tok)
    {
        foreach (var g in TokenizerTestData.ReadGolden())
        {
            int[] ids = tok.Encode(g.Text);
            Assert.True(g.Ids.AsSpan().SequenceEqual(ids), $"golden.jsonl line {g.Line}: {TokenizerTestData.Diff(g.Ids, ids)}");
        }
    }

    static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "qwen3gen-tok-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    static byte[] Bundled(string name)
    {
        using var s = typeof(Qwen3Tokenizer).Assembly.GetManifestResourceStream("Qwen3Gen.Tokenization.qwen3." + name)!;
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    // A tokenizer.json in Hugging Face's layout, assembled from the bundled files.
    static byte[] BuildTokenizerJson(string regex)
    {
        using var vocab = JsonDocument.Parse(Bundled("vocab.json"));
        using var config = JsonDocument.Parse(Bundled("tokenizer_config.json"));
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteStartArray("added_tokens");
            foreach (var p in config.RootElement.GetProperty("added_tokens_decoder").EnumerateObject())
            {
                w.WriteStartObject();
                w.WriteNumber("id", int.Parse(p.Name));
                w.WriteString("content", p.Value.GetProperty("content").GetString());
                w.WriteBoolean("normalized", false);
                w.WriteBoolean("special", p.Value.GetProperty("special").GetBoolean());
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("normalizer"); w.WriteString("type", "NFC"); w.WriteEndObject();
            w.WriteStartObject("pre_tokenizer");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("pretokenizers");
            w.WriteStartObject();
            w.WriteString("type", "Split");
            w.WriteStartObject("pattern"); w.WriteString("Regex", regex); w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WritePropertyName("vocab");
            vocab.RootElement.WriteTo(w);
            w.WriteStartArray("merges");
            foreach (var line in Encoding.UTF8.GetString(Bundled("merges.txt")).Split('\n'))
            {
                if (line.Length == 0 || line.StartsWith("#version")) continue;
                var parts = line.Split(' ');
                w.WriteStartArray(); w.WriteStringValue(parts[0]); w.WriteStringValue(parts[1]); w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return ms.ToArray();
    }
}
