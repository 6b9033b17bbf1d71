using Qwen3Gen.Inference;

namespace Qwen3Gen.Model.Tests;

/// <summary>generation_config.json parsing: the forms transformers writes, its defaults, and bad values.</summary>
public class GenerationConfigTests
{
    [Fact]
    public void FromJson_Qwen3HybridThinkingFile_ReadsEveryField()
    {
        // The hybrid-thinking Qwen3 releases' file (spec §6).
        const string json = """
            {"bos_token_id": 151643, "do_sample": true, "eos_token_id": [151645, 151643], "pad_token_id": 151643,
             "temperature": 0.6, "top_k": 20, "top_p": 0.95, "transformers_version": "4.51.0"}
            """;
        var g = GenerationConfig.FromJson(json, "g.json", vocab: 151_936);
        Assert.Equal([151_645, 151_643], g.EosTokenIds);
        Assert.Equal(151_643, g.BosTokenId);
        Assert.Equal(151_643, g.PadTokenId);
        Assert.True(g.DoSample);
        Assert.Equal(0.6f, g.Temperature);
        Assert.Equal(20, g.TopK);
        Assert.Equal(0.95f, g.TopP);
        Assert.Equal(0f, g.MinP);
        Assert.Equal("g.json", g.Source);
    }

    [Fact]
    public void FromJson_SingleEosAndMissingFields_UseTransformersDefaults()
    {
        var g = GenerationConfig.FromJson("{\"eos_token_id\": 7, \"pad_token_id\": null, \"min_p\": 0.05}");
        Assert.Equal([7], g.EosTokenIds);
        Assert.Null(g.PadTokenId);
        Assert.Null(g.BosTokenId);
        Assert.False(g.DoSample);
        Assert.Equal(1f, g.Temperature);
        Assert.Equal(50, g.TopK);
        Assert.Equal(1f, g.TopP);
        Assert.Equal(0.05f, g.MinP);
    }

    [Fact]
    public void FromJson_NoEos_FallsBackToConfigJsonEos()
    {
        var g = GenerationConfig.FromJson("{\"temperature\": 0.7}", fallbackEos: [151_645]);
        Assert.Equal([151_645], g.EosTokenIds);
    }

    [Theory]
    [InlineData("[1, 2]", "expected a JSON object")]
    [InlineData("{\"eos_token_id\": \"<|im_end|>\"}", "eos_token_id must be a token id or a list of ids")]
    [InlineData("{\"eos_token_id\": [1.5]}", "eos_token_id holds 1.5")]
    [InlineData("{\"temperature\": -1}", "temperature -1 must be a finite number")]
    [InlineData("{\"top_k\": -3}", "top_k -3 must be")]
    [InlineData("{\"min_p\": 2}", "min_p 2 must lie in [0, 1]")]
    [InlineData("{\"do_sample\": 1}", "do_sample holds 1, expected true or false")]
    [InlineData("{\"eos_token_id\": 300}", "eos_token_id 300 is outside the vocabulary [0, 256)")]
    [InlineData("not json", "is not valid JSON")]
    public void FromJson_BadValue_NamesFieldAndValue(string json, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => GenerationConfig.FromJson(json, "gen.json", vocab: 256));
        Assert.StartsWith("gen.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ToJson_RoundTrips()
    {
        var g = GenerationConfig.Qwen3NonThinking with { MinP = 0.1f, RepetitionPenalty = 1.05f };
        var back = GenerationConfig.FromJson(g.ToJson());
        Assert.Equal(g.EosTokenIds, back.EosTokenIds);
        Assert.Equal(g with { EosTokenIds = back.EosTokenIds, Source = back.Source }, back);
    }

    [Fact]
    public void DefaultFor_SmallVocabulary_DropsIdsItLacks()
    {
        var d = GenerationConfig.DefaultFor(256);
        Assert.Empty(d.EosTokenIds);
        Assert.Null(d.BosTokenId);
        Assert.Equal(0.6f, d.Temperature);
        Assert.Equal([151_645, 151_643], GenerationConfig.DefaultFor(151_936).EosTokenIds);
    }
}
