using Qwen3Gen.Definitions;
using Qwen3Gen.Inference;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>config.json writing (read back by ModelConfig.FromHuggingFaceJson), unsupported settings, the inline attribute text.</summary>
public class HuggingFaceConfigTests
{
    public static TheoryData<string> Definitions => new() { "Qwen3_0_6B", "Qwen3_8B", "Qwen3_32B", "Qwen3Tiny", "MoeTied", "DenseUntied" };

    private static ModelConfig ConfigOf(string name) => name switch
    {
        "Qwen3_0_6B" => Qwen3_0_6B.HyperParameters,
        "Qwen3_8B" => Qwen3_8B.HyperParameters,
        "Qwen3_32B" => Qwen3_32B.HyperParameters,
        "Qwen3Tiny" => Qwen3Tiny.HyperParameters,
        "MoeTied" => MoeTied.HyperParameters,
        "DenseUntied" => DenseUntied.HyperParameters,
        _ => throw new ArgumentException(name),
    };

    [Theory, MemberData(nameof(Definitions))]
    public void ToJson_ReadsBackAsTheSameConfig(string name)
    {
        var config = ConfigOf(name);
        var back = ModelConfig.FromHuggingFaceJson(HuggingFaceConfig.ToJson(config));
        Assert.Empty(config.Differences(back));
        Assert.Equal(config.MaxPositions, back.MaxPositions);
        Assert.Equal(config.RouterAuxLossCoef, back.RouterAuxLossCoef);
        Assert.Equal(config.OutputRouterLogits, back.OutputRouterLogits);
        HuggingFaceConfig.CheckSupported(HuggingFaceConfig.ToJson(config));
    }

    [Fact]
    public void AttributeText_Qwen3_0_6B_IsTheDeclarationOfDefinitions()
    {
        // As written in Definitions/OfficialDense.cs (plus RmsNormEps, which that file leaves at its default 1e-6).
        Assert.Equal(
            "[Qwen3Model(Vocab = 151_936, Hidden = 1024, Layers = 28, Heads = 16,\n" +
            "             KvHeads = 8, HeadDim = 128, Ffn = 3072, RopeTheta = 1e6,\n" +
            "             RmsNormEps = 1e-6, TieEmbeddings = true, MaxPositions = 40_960)]",
            HuggingFaceConfig.AttributeText(Qwen3_0_6B.HyperParameters));
    }

    [Fact]
    public void AttributeText_Moe_ListsMoeFields()
    {
        string text = HuggingFaceConfig.AttributeText(MoeTied.HyperParameters with { MlpOnlyLayers = [0, 3] });
        Assert.Contains("Experts = 4, ExpertsPerToken = 2, ExpertFfn = 32, NormTopKProb = true", text.Replace("\n             ", " "));
        Assert.Contains("MlpOnlyLayers = new[] { 0, 3 }", text);
        Assert.Contains("RopeTheta = 1e6", text);
        Assert.Contains("RouterAuxLossCoef = 0.001", text);
    }

    [Theory]
    [InlineData("\"use_sliding_window\": true", "use_sliding_window = true is not supported: sliding-window attention is not implemented")]
    [InlineData("\"hidden_act\": \"gelu\"", "hidden_act = \"gelu\" is not supported")]
    [InlineData("\"attention_bias\": true", "attention_bias = true is not supported")]
    [InlineData("\"layer_types\": [\"full_attention\", \"sliding_attention\"]", "layer_types = [... \"sliding_attention\" ...] is not supported")]
    public void CheckSupported_RefusesWhatNoGeneratedModelDoes(string field, string expected)
    {
        string json = "{\"model_type\": \"qwen3\", " + field + "}";
        var e = Assert.Throws<NotSupportedException>(() => HuggingFaceConfig.CheckSupported(json, "c.json"));
        Assert.StartsWith("QG0014: Config file 'c.json': ", e.Message);      // the generator's message for the same file
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void CheckSupported_AcceptsPublishedFields()
    {
        HuggingFaceConfig.CheckSupported("""
            {"model_type": "qwen3", "use_sliding_window": false, "sliding_window": null, "hidden_act": "silu",
             "attention_bias": false, "rope_scaling": null, "rope_parameters": {"rope_type": "default", "rope_theta": 1000000}}
            """);
    }
}
