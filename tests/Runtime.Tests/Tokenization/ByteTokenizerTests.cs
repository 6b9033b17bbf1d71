using Qwen3Gen.Tokenization;

namespace Qwen3Gen.Runtime.Tests.Tokenization;

public sealed class ByteTokenizerTests
{
    [Fact]
    public void Encode_IsUtf8Bytes_AndDecodeInverts()
    {
        var t = ByteTokenizer.Instance;
        Assert.Equal(256, t.VocabSize);
        Assert.Empty(t.EosIds);
        Assert.Equal([104, 195, 169, 10], t.Encode("hé\n"));
        Assert.Equal("hé\n", t.Decode([104, 195, 169, 10]));
    }

    [Fact]
    public void Decode_InvalidUtf8_GivesReplacement_AndOutOfRangeThrows()
    {
        Assert.Equal("a\uFFFD", ByteTokenizer.Instance.Decode([97, 255]));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ByteTokenizer.Instance.Decode([97, 256]));
        Assert.Contains("index 1", e.Message);
    }
}
