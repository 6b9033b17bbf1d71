using Qwen3Gen.Generator.Model;
using Qwen3Gen.Generator.Tests.Infrastructure;

namespace Qwen3Gen.Generator.Tests;

/// <summary>
/// [Qwen3Model(Config = "...")] reads a Hugging Face config.json into exactly what the equivalent inline
/// definition gives: the same ModelShape, hence the same generated text. Expected values are the numbers
/// written in the config files (copied from the golden fixtures and spec §8), not the parser's output.
/// </summary>
public class ConfigTests
{
    private static string ConfigModel(string path) => $$"""
        using Qwen3Gen;

        namespace Demo;

        [Qwen3Model(Config = "{{path}}")]
        public partial class Tiny { }
        """;

    private static string InlineModel(string arguments) => $$"""
        using Qwen3Gen;

        namespace Demo;

        [Qwen3Model({{arguments}})]
        public partial class Tiny { }
        """;

    /// <summary>golden/dense-untied/config.json written as attribute values.</summary>
    private const string DenseUntiedInline =
        "Vocab = 300, Hidden = 64, Layers = 3, Heads = 6, KvHeads = 2, HeadDim = 8, Ffn = 80, " +
        "RopeTheta = 10000, RmsNormEps = 1e-6, TieEmbeddings = false, MaxPositions = 64";

    /// <summary>golden/moe/config.json written as attribute values.</summary>
    private const string MoeInline =
        "Vocab = 256, Hidden = 48, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16, Ffn = 96, " +
        "RopeTheta = 1e6, RmsNormEps = 1e-6, TieEmbeddings = true, MaxPositions = 64, " +
        "Experts = 4, ExpertsPerToken = 2, ExpertFfn = 32, NormTopKProb = true, DecoderSparseStep = 1, " +
        "MlpOnlyLayers = new int[0], RouterAuxLossCoef = 0.001, OutputRouterLogits = true";

    private static GeneratorRun RunConfig(string json, string path = "Configs/tiny/config.json") =>
        GeneratorHarness.Run(ConfigModel("tiny/config.json"), ("/home/user/project/" + path, json));

    private static ModelShape ValidShape(GeneratorRun run)
    {
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.NotNull(run.Spec);
        return run.Spec!.Shape;
    }

    [Fact]
    public void DenseUntiedConfig_GivesTheSameSpecAndSourceAsInline()
    {
        var fromConfig = GeneratorHarness.Run(ConfigModel("dense-untied/config.json"),
            ("/home/user/project/Configs/dense-untied/config.json", TestFiles.Read("Configs/dense-untied/config.json")));
        var inline = GeneratorHarness.Run(InlineModel(DenseUntiedInline));

        var shape = ValidShape(fromConfig);
        Assert.Equal(ValidShape(inline), shape);
        Assert.Equal(inline.Spec, fromConfig.Spec);
        Assert.Equal(inline.ModelSourcesText, fromConfig.ModelSourcesText);
        Assert.Equal(inline.ModelSources.Select(s => s.HintName), fromConfig.ModelSources.Select(s => s.HintName));

        Assert.Equal((300, 64, 3, 6, 2, 8, 80), (shape.Vocab, shape.Hidden, shape.Layers, shape.Heads, shape.KvHeads, shape.HeadDim, shape.Ffn));
        Assert.Equal((10000.0, 1e-6, false, 64), (shape.RopeTheta, shape.RmsNormEps, shape.TieEmbeddings, shape.MaxPositions));
        Assert.Equal(0, shape.Experts);
    }

    [Fact]
    public void MoeConfig_GivesTheSameSpecAndSourceAsInline()
    {
        var fromConfig = GeneratorHarness.Run(ConfigModel("moe/config.json"),
            ("/home/user/project/Configs/moe/config.json", TestFiles.Read("Configs/moe/config.json")));
        var inline = GeneratorHarness.Run(InlineModel(MoeInline));

        var shape = ValidShape(fromConfig);
        Assert.Equal(ValidShape(inline), shape);
        Assert.Equal(inline.ModelSourcesText, fromConfig.ModelSourcesText);

        Assert.Equal((4, 2, 32, true, 1), (shape.Experts, shape.ExpertsPerToken, shape.ExpertFfn, shape.NormTopKProb, shape.DecoderSparseStep));
        Assert.Equal(0, shape.MlpOnlyLayers.Length);
        Assert.Equal((0.001, true), (shape.RouterAuxLossCoef, shape.OutputRouterLogits));
        Assert.True(shape.IsSparse(0) && shape.IsSparse(1));
    }

    [Fact]
    public void TopLevelRopeTheta_And_RopeParameters_GiveTheSameShape()
    {
        string topLevel = TestFiles.Read("Configs/dense-untied/config.json");
        string v5 = topLevel
            .Replace("\"rope_theta\": 10000.0,", "")
            .Replace("\"rope_scaling\": null,", "\"rope_parameters\": { \"rope_type\": \"default\", \"rope_theta\": 10000.0 },");
        Assert.DoesNotContain("\"rope_theta\": 10000.0,", v5);

        var a = ValidShape(RunConfig(topLevel));
        var b = ValidShape(RunConfig(v5));
        Assert.Equal(a, b);
        Assert.Equal(10000.0, b.RopeTheta);
    }

    [Fact]
    public void RopeParameters_OverrideTheDefaultTheta()
    {
        string json = TestFiles.Read("Configs/dense-untied/config.json")
            .Replace("\"rope_theta\": 10000.0,", "\"rope_parameters\": { \"rope_type\": \"default\", \"rope_theta\": 5000000 },");
        Assert.Equal(5e6, ValidShape(RunConfig(json)).RopeTheta);
    }

    [Fact]
    public void YarnConfig_GivesTheSameSpecAsInline_WithHuggingFaceDefaults()
    {
        // Qwen's model card: "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}.
        string json = TestFiles.Read("Configs/dense-untied/config.json")
            .Replace("\"rope_scaling\": null,", "\"rope_scaling\": { \"rope_type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 16 },");
        var fromConfig = RunConfig(json);
        var inline = GeneratorHarness.Run(InlineModel(DenseUntiedInline + ", RopeType = \"yarn\", RopeFactor = 4.0, RopeOriginalMaxPositions = 16"));
        var shape = ValidShape(fromConfig);
        Assert.Equal(ValidShape(inline), shape);
        Assert.Equal(inline.ModelSourcesText, fromConfig.ModelSourcesText);

        // Defaults of transformers' _compute_yarn_parameters: beta 32 / 1, truncate, attention factor 0.1 ln 4 + 1.
        Assert.Equal(new RopeSpec("yarn", 4.0, 16, 32, 1, 1.138629436111989, true), shape.RopeScaling);
        Assert.Contains("RopeScaling = global::Qwen3Gen.Kernels.RopeScaling.Yarn(factor: 4.0, originalMaxPositions: 16, betaFast: 32.0, betaSlow: 1.0, attentionFactor: 1.138629436111989, truncate: true)",
            fromConfig.ModelSourcesText);
    }

    [Theory]
    [InlineData("\"rope_scaling\": { \"type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 16 }")]
    [InlineData("\"rope_parameters\": { \"rope_type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 16, \"rope_theta\": 10000.0 }")]
    [InlineData("\"rope_scaling\": { \"rope_type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 16 }, \"rope_parameters\": { \"rope_type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 16 }")]
    public void YarnConfig_AcceptsOldTypeKey_AndRopeParameters(string rope)
    {
        string json = TestFiles.Read("Configs/dense-untied/config.json").Replace("\"rope_scaling\": null,", rope + ",");
        Assert.Equal(new RopeSpec("yarn", 4.0, 16, 32, 1, 1.138629436111989, true), ValidShape(RunConfig(json)).RopeScaling);
    }

    [Fact]
    public void YarnConfig_AttentionFactorFromMscale_AndExplicitValues()
    {
        // m(s, k) = 0.1 k ln s + 1: mscale 0.707, mscale_all_dim 1 at s = 4 -> (0.0707 ln 4 + 1) / (0.1 ln 4 + 1).
        string json = TestFiles.Read("Configs/dense-untied/config.json").Replace("\"rope_scaling\": null,",
            "\"rope_scaling\": { \"rope_type\": \"yarn\", \"factor\": 4.0, \"mscale\": 0.707, \"mscale_all_dim\": 1.0, \"beta_fast\": 16, \"beta_slow\": 2, \"truncate\": false },");
        var spec = ValidShape(RunConfig(json)).RopeScaling;
        double expected = (0.0707 * Math.Log(4) + 1) / (0.1 * Math.Log(4) + 1);
        Assert.Equal(("yarn", 4.0, 64, 16.0, 2.0, false), (spec.Type, spec.Factor, spec.OriginalMaxPositions, spec.BetaFast, spec.BetaSlow, spec.Truncate));
        Assert.Equal(expected, spec.AttentionFactor, 15);

        string given = json.Replace("\"mscale\": 0.707, \"mscale_all_dim\": 1.0", "\"attention_factor\": 1.5");
        Assert.Equal(1.5, ValidShape(RunConfig(given)).RopeScaling.AttentionFactor);
    }

    [Fact]
    public void LinearConfig_IsRead()
    {
        string json = TestFiles.Read("Configs/dense-untied/config.json").Replace("\"rope_scaling\": null,", "\"rope_scaling\": { \"rope_type\": \"linear\", \"factor\": 2.0 },");
        Assert.Equal(("linear", 2.0, 64), (ValidShape(RunConfig(json)).RopeScaling.Type, ValidShape(RunConfig(json)).RopeScaling.Factor, ValidShape(RunConfig(json)).RopeScaling.OriginalMaxPositions));
    }

    [Fact]
    public void MissingOptionalFields_TakeHuggingFaceDefaults()
    {
        // Only the required fields: head_dim = hidden / heads, rope_theta 10000, eps 1e-6, untied, 32768 positions.
        const string json = """
            { "model_type": "qwen3", "vocab_size": 100, "hidden_size": 64, "num_hidden_layers": 1,
              "num_attention_heads": 4, "num_key_value_heads": 1, "intermediate_size": 128 }
            """;
        var shape = ValidShape(RunConfig(json));
        Assert.Equal(64 / 4, shape.HeadDim);
        Assert.Equal((10000.0, 1e-6, false, 32768), (shape.RopeTheta, shape.RmsNormEps, shape.TieEmbeddings, shape.MaxPositions));
    }

    [Fact]
    public void MoeConfig_WithDenseLayersAndStep_IsRead()
    {
        string json = TestFiles.Read("Configs/moe/config.json")
            .Replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 4")
            .Replace("\"mlp_only_layers\": []", "\"mlp_only_layers\": [3, 0, 3]")
            .Replace("\"decoder_sparse_step\": 1", "\"decoder_sparse_step\": 2")
            .Replace("\"norm_topk_prob\": true", "\"norm_topk_prob\": false");
        var shape = ValidShape(RunConfig(json));
        Assert.Equal(new[] { 0, 3 }, shape.MlpOnlyLayers.AsSpan().ToArray());   // a set: sorted, no repeats
        Assert.Equal(2, shape.DecoderSparseStep);
        Assert.False(shape.NormTopKProb);
        // HF rule: sparse iff not mlp-only and (i + 1) % 2 == 0 -> only layer 1.
        Assert.Equal(new[] { false, true, false, false }, Enumerable.Range(0, 4).Select(shape.IsSparse).ToArray());
    }

    [Fact]
    public void DenseConfig_IgnoresMoeFields_AsHuggingFaceDoes()
    {
        string json = TestFiles.Read("Configs/dense-untied/config.json")
            .Replace("\"vocab_size\": 300,", "\"vocab_size\": 300, \"num_experts\": 8, \"num_experts_per_tok\": 2,");
        Assert.Equal(0, ValidShape(RunConfig(json)).Experts);
    }

    [Theory]
    [InlineData("C:\\work\\proj\\Configs\\tiny\\config.json")]
    [InlineData("/home/user/project/Configs/tiny/config.json")]
    [InlineData("tiny/config.json")]
    public void ConfigPath_MatchesOnPathSuffix(string filePath)
    {
        var run = GeneratorHarness.Run(ConfigModel("./tiny/config.json"), (filePath, TestFiles.Read("Configs/dense-untied/config.json")));
        Assert.Equal(300, ValidShape(run).Vocab);
    }

    [Fact]
    public void Qwen3_0_6B_DefinitionConfig_HasTheSpecValues()
    {
        // spec §8: L 28, H 1024, I 3072, 16 q / 8 kv heads, head_dim 128, tied, rope_theta 1e6, 40960 positions.
        var run = GeneratorHarness.Run(ConfigModel("Qwen3-0.6B/config.json"),
            ("/repo/Definitions/Configs/Qwen3-0.6B/config.json", TestFiles.Read("DefinitionConfigs/Qwen3-0.6B/config.json")));
        var shape = ValidShape(run);
        Assert.Equal((151936, 1024, 28, 16, 8, 128, 3072), (shape.Vocab, shape.Hidden, shape.Layers, shape.Heads, shape.KvHeads, shape.HeadDim, shape.Ffn));
        Assert.Equal((1e6, 1e-6, true, 40960, 0), (shape.RopeTheta, shape.RmsNormEps, shape.TieEmbeddings, shape.MaxPositions, shape.Experts));
    }

    [Fact]
    public void InlineHeadDim_DefaultsToHiddenOverHeads()
    {
        var run = GeneratorHarness.Run(InlineModel("Vocab = 256, Hidden = 64, Layers = 2, Heads = 4, KvHeads = 2, Ffn = 96"));
        Assert.Equal(16, ValidShape(run).HeadDim);
        Assert.Empty(run.CompilationErrors);
    }

    [Fact]
    public void AllSparseMoe_DoesNotNeedFfn()
    {
        var run = GeneratorHarness.Run(InlineModel("Vocab = 256, Hidden = 48, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16, " +
                                                   "Experts = 4, ExpertsPerToken = 2, ExpertFfn = 32"));
        Assert.Equal(0, ValidShape(run).Ffn);
        Assert.Empty(run.CompilationErrors);                                // the emitted model compiles without a dense MLP
    }
}
