using System.Text;
using Qwen3Gen.Tokenization;
using Xunit.Abstractions;

namespace Qwen3Gen.Runtime.Tests.Tokenization;

/// <summary>The bundled Qwen3 tokenizer against Hugging Face's own encodings (golden.jsonl) and the corpus anchors.</summary>
public sealed class Qwen3TokenizerGoldenTests(ITestOutputHelper output)
{
    static Qwen3Tokenizer Tok => TokenizerTestData.Tokenizer;

    static string Escape(string s)
    {
        var sb = new StringBuilder();
        foreach (char c in s.Length > 80 ? s[..80] + "…" : s)
            sb.Append(c < 0x20 || c is >= '\u007f' and <= '\u00a0' || char.IsSurrogate(c) ? $"\\u{(int)c:X4}" : c);
        return sb.ToString();
    }

    static void AssertNoMismatches(Func<string, int[]> encode, ITestOutputHelper output)
    {
        var goldens = TokenizerTestData.ReadGolden();
        Assert.Equal(162, goldens.Count);
        var failures = new List<string>();
        foreach (var g in goldens)
        {
            int[] ids = encode(g.Text);
            if (!ids.AsSpan().SequenceEqual(g.Ids))
                failures.Add($"golden.jsonl line {g.Line} \"{Escape(g.Text)}\": {TokenizerTestData.Diff(g.Ids, ids)}");
        }
        foreach (var f in failures) output.WriteLine(f);
        Assert.True(failures.Count == 0, $"{failures.Count} of {goldens.Count} golden lines differ:\n" + string.Join("\n", failures));
    }

    [Fact]
    public void Encode_MatchesHuggingFaceGolden() => AssertNoMismatches(Tok.Encode, output);

    [Fact]
    public void EncodeWithOwnBpeOnly_MatchesHuggingFaceGolden()
    {
        var bpeOnly = Qwen3Tokenizer.LoadBundled(useTiktoken: false);
        Assert.False(bpeOnly.UsesTiktoken);
        AssertNoMismatches(bpeOnly.Encode, output);
    }

    [Fact]
    public void Encode_TinyShakespeareWholeFile_Is301829Tokens()
    {
        string text = File.ReadAllText(TokenizerTestData.ShakespearePath());
        Assert.Equal(301_829, Tok.Encode(text).Length);
    }

    [Fact]
    public void Encode_TinyShakespeareLineByLine_Is309047Tokens()
    {
        // Line by line = each line with its "\n" as its own string (the last line has none).
        string text = File.ReadAllText(TokenizerTestData.ShakespearePath());
        int total = 0, start = 0;
        while (start < text.Length)
        {
            int nl = text.IndexOf('\n', start);
            int end = nl < 0 ? text.Length : nl + 1;
            total += Tok.Encode(text[start..end]).Length;
            start = end;
        }
        Assert.Equal(309_047, total);
    }

    [Fact]
    public void DecodeOfEncode_EqualsDecodeOfGoldenIds_AndTextUnlessNfcChangedIt()
    {
        // decode(encode(s)) == s, except where NFC changes the text; there it must equal the decode
        // of Hugging Face's ids (NFC applied per piece between added tokens).
        int changed = 0;
        foreach (var g in TokenizerTestData.ReadGolden())
        {
            string viaGolden = Tok.Decode(g.Ids);
            Assert.True(viaGolden == Tok.Decode(Tok.Encode(g.Text)), $"golden.jsonl line {g.Line}: decode(encode(text)) != decode(golden ids)");
            if (viaGolden != g.Text)
            {
                changed++;
                Assert.True(g.Text.Any(c => c >= 0x300), $"line {g.Line}: ASCII-only text changed by a round trip");
            }
        }
        output.WriteLine($"{changed} golden lines change under NFC");
    }

    [Theory]
    [InlineData("=\u0338", "\u2260")]                                  // '=' + combining long solidus -> '≠'
    [InlineData("<|im_end|>\u0338", "<|im_end|>\u0338")]                // an added token shields what follows
    [InlineData("<think>\u0338", "<think>\u0338")]
    [InlineData("e\u0301 a\u0323\u0302", "\u00E9 \u1EAD")]          // é; a + dot below + circumflex -> ậ
    [InlineData("\u1100\u1161\u11A8", "\uAC01")]                      // Hangul L V T -> 각
    [InlineData("\u212B", "\u00C5")]                                     // Angstrom sign -> Å (singleton)
    public void DecodeOfEncode_AppliesNfcPerPiece(string text, string expected)
        => Assert.Equal(expected, Tok.Decode(Tok.Encode(text)));

    [Fact]
    public void Encode_AddedTokenThenCombiningMark_MatchesHuggingFace()
        => Assert.Equal([151667, 136, 116], Tok.Encode("<think>\u0338"));
}
