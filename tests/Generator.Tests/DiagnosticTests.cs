using Microsoft.CodeAnalysis;
using Qwen3Gen.Generator.Tests.Infrastructure;
using static Qwen3Gen.Generator.Tests.Infrastructure.DiagnosticAssert;

namespace Qwen3Gen.Generator.Tests;

/// <summary>
/// One test per diagnostic id (docs/diagnostics/QGxxxx.md): a bad definition in, the id, its location
/// (the attribute, the offending named argument or the class name) and the message with its numbers out.
/// </summary>
public class DiagnosticTests
{
    private const DiagnosticSeverity Error = DiagnosticSeverity.Error;
    private const DiagnosticSeverity Warning = DiagnosticSeverity.Warning;

    /// <summary>The dense-tied golden shape: valid, so each test breaks exactly one thing.</summary>
    private const string Valid = "Vocab = 256, Hidden = 48, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16, Ffn = 96";

    private const string Moe = Valid + ", Experts = 4, ExpertsPerToken = 2, ExpertFfn = 32";

    private static string Source(string arguments, string declaration = "public partial class Tiny { }") => $$"""
        using Qwen3Gen;

        namespace Demo;

        [Qwen3Model({{arguments}})]
        {{declaration}}
        """;

    private static string Attribute(string arguments) => "Qwen3Model(" + arguments + ")";

    private static string DenseConfig(string extra = "", string modelType = "qwen3") => $$"""
        {
          "model_type": "{{modelType}}",
          "vocab_size": 256, "hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
          "hidden_act": "silu", "rope_theta": 1000000.0, "rope_scaling": null,
          "attention_bias": false, "use_sliding_window": false{{extra}}
        }
        """;

    private const string ConfigArgument = "Config = \"tiny/config.json\"";
    private static readonly string ConfigSource = Source(ConfigArgument);

    private static GeneratorRun RunConfig(string json) => GeneratorHarness.Run(ConfigSource, ("/repo/Configs/tiny/config.json", json));

    [Fact]
    public void ValidDefinition_ReportsNothing()
    {
        var run = GeneratorHarness.Run(Source(Valid));
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.NotNull(run.Spec);
        Assert.Empty(run.CompilationErrors);
    }

    [Fact]
    public void QG0001_HeadsNotMultipleOfKvHeads()
    {
        string args = "Vocab = 256, Hidden = 48, Layers = 2, Heads = 12, KvHeads = 8, HeadDim = 16, Ffn = 96";
        string source = Source(args);
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0001", Error, Attribute(args), "Heads (12) must be a multiple of KvHeads (8)");
        Assert.Null(run.Spec);
    }

    [Fact]
    public void QG0002_OddHeadDim()
    {
        string source = Source("Vocab = 256, Hidden = 48, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 15, Ffn = 96");
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0002", Error, "HeadDim = 15", "HeadDim (15) must be even: RoPE rotates pairs of dimensions");
    }

    [Fact]
    public void QG0003_SizeNotPositive_OnTheArgument()
    {
        string source = Source("Vocab = 0, Hidden = 48, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16, Ffn = 96");
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0003", Error, "Vocab = 0", "Vocab (0) must be positive");
        Assert.Null(run.Spec);
    }

    [Fact]
    public void QG0003_MissingSize_OnTheAttribute()
    {
        string args = "Vocab = 256, Hidden = 48, Heads = 4, KvHeads = 2, HeadDim = 16, Ffn = 96";
        string source = Source(args);
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0003", Error, Attribute(args), "Layers (0) must be positive");
    }

    [Fact]
    public void QG0004_ClassNotPartial()
    {
        string source = Source(Valid, "public class Tiny { }");
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0004", Error, "class Tiny", "Class 'Tiny' must be partial: the generator adds the model to it", skip: "class ".Length);
        Assert.Null(run.Spec);
    }

    [Fact]
    public void QG0005_HiddenNotMultipleOf16_IsAWarningAndStillGenerates()
    {
        string source = Source("Vocab = 256, Hidden = 40, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16, Ffn = 96");
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0005", Warning, "Hidden = 40", "Hidden (40) is not a multiple of 16; kernels fall back to scalar tails on every row");
        Assert.NotNull(run.Spec);
    }

    [Fact]
    public void QG0006_NestedClass()
    {
        string source = $$"""
            using Qwen3Gen;

            namespace Demo;

            public static partial class Models
            {
                [Qwen3Model({{Valid}})]
                public partial class Tiny { }
            }
            """;
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0006", Error, "class Tiny", "Class 'Tiny' is nested in 'Models': declare [Qwen3Model] classes directly in a namespace", skip: "class ".Length);
        Assert.Null(run.Spec);
    }

    [Fact]
    public void QG0007_GenericClass()
    {
        string source = Source(Valid, "public partial class Tiny<T> { }");
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0007", Error, "class Tiny", "Class 'Tiny' has 1 type parameter(s): [Qwen3Model] classes cannot be generic", skip: "class ".Length);
    }

    [Fact]
    public void QG0008_ConfigNotFound_SaysHowToAddIt()
    {
        var run = GeneratorHarness.Run(ConfigSource, ("/repo/Configs/other/config.json", DenseConfig()));
        Reported(run, ConfigSource, "QG0008", Error, ConfigArgument,
            "Config file 'tiny/config.json' is not among the 1 .json AdditionalFiles of this project; add it to the project file: " +
            "<ItemGroup><AdditionalFiles Include=\"tiny/config.json\" /></ItemGroup>");
        Assert.Null(run.Spec);
    }

    [Fact]
    public void QG0008_ConfigPathMatchesOnlyOnASlashBoundary()
    {
        // "tiny/config.json" must not pick ".../notiny/config.json".
        var run = GeneratorHarness.Run(ConfigSource, ("/repo/Configs/notiny/config.json", DenseConfig()));
        Assert.Equal("QG0008", Single(run, "QG0008").Id);
    }

    [Fact]
    public void QG0009_ConfigUnreadable()
    {
        var run = GeneratorHarness.Run(ConfigSource, ("/repo/Configs/tiny/config.json", null));
        Reported(run, ConfigSource, "QG0009", Error, ConfigArgument, "Config file 'tiny/config.json' could not be read");
    }

    [Fact]
    public void QG0010_ConfigNotJson_GivesThePosition()
    {
        string json = "{\n  \"model_type\": \"qwen3\",\n}";          // trailing comma
        int offset = json.IndexOf('}');
        var run = RunConfig(json);
        Reported(run, ConfigSource, "QG0010", Error, ConfigArgument,
            $"Config file 'tiny/config.json' is not valid JSON: expected a property name in double quotes but found '}}' at line 3, column 1 (offset {offset})");
    }

    [Fact]
    public void QG0010_ConfigTopLevelNotAnObject()
    {
        var run = RunConfig("[1, 2]");
        Reported(run, ConfigSource, "QG0010", Error, ConfigArgument,
            "Config file 'tiny/config.json' is not valid JSON: the document is an array, not an object at line 1, column 1 (offset 0)");
    }

    [Fact]
    public void QG0011_WrongModelType()
    {
        var run = RunConfig(DenseConfig(modelType: "llama"));
        Reported(run, ConfigSource, "QG0011", Error, ConfigArgument,
            "Config file 'tiny/config.json' has model_type 'llama'; Qwen3Gen reads 'qwen3' and 'qwen3_moe'");
    }

    [Fact]
    public void QG0012_MissingField_IsNamed()
    {
        var run = RunConfig(DenseConfig().Replace("\"hidden_size\": 48, ", ""));
        Reported(run, ConfigSource, "QG0012", Error, ConfigArgument,
            "Config file 'tiny/config.json' has no 'hidden_size' field, which is required");
        Assert.Null(run.Spec);
    }

    [Fact]
    public void QG0012_MoeConfigWithoutExperts()
    {
        var run = RunConfig(DenseConfig(", \"num_experts_per_tok\": 2, \"moe_intermediate_size\": 32", modelType: "qwen3_moe"));
        Reported(run, ConfigSource, "QG0012", Error, ConfigArgument,
            "Config file 'tiny/config.json' has no 'num_experts' field, which is required");
    }

    [Theory]
    [InlineData("\"hidden_size\": 48", "\"hidden_size\": \"48\"", "'hidden_size' is \"48\"; expected an integer")]
    [InlineData("\"hidden_size\": 48", "\"hidden_size\": 48.5", "'hidden_size' is 48.5; expected an integer")]
    [InlineData("\"vocab_size\": 256", "\"vocab_size\": 3000000000", "'vocab_size' is 3000000000; expected an integer within int range (at most 2147483647)")]
    [InlineData("\"attention_bias\": false", "\"attention_bias\": false, \"tie_word_embeddings\": 1", "'tie_word_embeddings' is 1; expected true or false")]
    [InlineData("\"rope_theta\": 1000000.0", "\"rope_theta\": 10000.0, \"rope_parameters\": { \"rope_type\": \"default\", \"rope_theta\": 1000000.0 }",
        "'rope_theta' is 10000.0; expected the same value as rope_parameters.rope_theta (1000000.0)")]
    [InlineData("\"attention_bias\": false", "\"attention_bias\": \"no\"",
        "'attention_bias' is \"no\"; expected false or null (Python would read \"no\" as true: Qwen3 projections have no bias and Qwen3Gen implements none)")]
    [InlineData("\"use_sliding_window\": false", "\"use_sliding_window\": 1",
        "'use_sliding_window' is 1; expected false or null (Python would read 1 as true: sliding-window attention is not implemented; every layer uses full causal attention)")]
    [InlineData("\"use_sliding_window\": false", "\"use_sliding_window\": \"false\"",
        "'use_sliding_window' is \"false\"; expected false or null (Python would read \"false\" as true: sliding-window attention is not implemented; every layer uses full causal attention)")]
    [InlineData("\"attention_bias\": false", "\"attention_bias\": false, \"mlp_bias\": {}",
        "'mlp_bias' is an object; expected false or null (Python would read an object as true: Qwen3 MLP projections have no bias and Qwen3Gen implements none)")]
    public void QG0013_InvalidField(string original, string replacement, string problem)
    {
        var run = RunConfig(DenseConfig().Replace(original, replacement));
        Reported(run, ConfigSource, "QG0013", Error, ConfigArgument, "Config file 'tiny/config.json': " + problem);
    }

    [Theory]
    [InlineData("\"use_sliding_window\": false", "\"use_sliding_window\": true",
        "use_sliding_window = true is not supported: sliding-window attention is not implemented; every layer uses full causal attention")]
    [InlineData("\"rope_scaling\": null", "\"rope_scaling\": { \"rope_type\": \"dynamic\", \"factor\": 4.0 }",
        "rope_scaling.rope_type = \"dynamic\" is not supported: Qwen3Gen implements \"default\", \"linear\" and \"yarn\": dynamic NTK recomputes the frequencies from the current sequence length, which one precomputed table cannot hold")]
    [InlineData("\"rope_scaling\": null", "\"rope_parameters\": { \"type\": \"longrope\", \"rope_theta\": 1000000.0 }",
        "rope_parameters.rope_type = \"longrope\" is not supported: Qwen3Gen implements \"default\", \"linear\" and \"yarn\": LongRoPE needs per-dimension factor lists that no Qwen3 release uses")]
    [InlineData("\"attention_bias\": false", "\"attention_bias\": true",
        "attention_bias = true is not supported: Qwen3 projections have no bias and Qwen3Gen implements none")]
    [InlineData("\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"",
        "hidden_act = \"gelu\" is not supported: the MLP implements SwiGLU with \"silu\" only")]
    [InlineData("\"attention_bias\": false", "\"attention_bias\": false, \"layer_types\": [\"full_attention\", \"sliding_attention\"]",
        "layer_types = [... \"sliding_attention\" ...] is not supported: only \"full_attention\" layers are implemented")]
    public void QG0014_UnsupportedFeature_IsRejectedByName(string original, string replacement, string problem)
    {
        string json = DenseConfig().Replace(original, replacement);
        Assert.NotEqual(DenseConfig(), json);
        var run = RunConfig(json);
        Reported(run, ConfigSource, "QG0014", Error, ConfigArgument, "Config file 'tiny/config.json': " + problem);
        Assert.Null(run.Spec);
    }

    [Fact]
    public void QG0015_ConfigAndInlineValues_NamesTheInlineOnes()
    {
        string args = "Config = \"tiny/config.json\", Layers = 2, Hidden = 48";
        string source = Source(args);
        var run = GeneratorHarness.Run(source, ("/repo/Configs/tiny/config.json", DenseConfig()));
        Reported(run, source, "QG0015", Error, Attribute(args),
            "Config = \"tiny/config.json\" cannot be combined with inline values (Hidden, Layers): remove them, or remove Config");
    }

    [Fact]
    public void QG0016_ConfigPathAmbiguous()
    {
        var run = GeneratorHarness.Run(ConfigSource,
            ("/repo/b/tiny/config.json", DenseConfig()), ("/repo/a/tiny/config.json", DenseConfig()));
        Reported(run, ConfigSource, "QG0016", Error, ConfigArgument,
            "Config file 'tiny/config.json' matches 2 AdditionalFiles (/repo/a/tiny/config.json, /repo/b/tiny/config.json); give a longer path that names one");
    }

    [Fact]
    public void QG0017_ExpertsPerTokenExceedsExperts()
    {
        string args = Valid + ", Experts = 4, ExpertsPerToken = 8, ExpertFfn = 32";
        string source = Source(args);
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0017", Error, Attribute(args), "ExpertsPerToken (8) exceeds Experts (4)");
    }

    [Fact]
    public void QG0018_MoeSizeNotPositive()
    {
        string source = Source(Valid + ", Experts = 4, ExpertsPerToken = 2, ExpertFfn = 0");
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0018", Error, "ExpertFfn = 0", "ExpertFfn (0) must be positive in a MoE model (Experts = 4)");
    }

    [Fact]
    public void QG0019_MlpOnlyLayerOutOfRange()
    {
        string source = Source(Moe + ", MlpOnlyLayers = new[] { 0, 2 }");
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0019", Error, "MlpOnlyLayers = new[] { 0, 2 }", "MlpOnlyLayers contains layer 2, outside [0, 2) for a model of 2 layers");
    }

    [Fact]
    public void QG0020_NegativeExperts()
    {
        string source = Source(Valid + ", Experts = -1");
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0020", Error, "Experts = -1", "Experts (-1) must not be negative: 0 means a dense model");
    }

    [Fact]
    public void QG0021_MoeFieldsWithoutExperts()
    {
        string args = Valid + ", NormTopKProb = true, ExpertsPerToken = 2";
        string source = Source(args);
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0021", Error, Attribute(args),
            "ExpertsPerToken, NormTopKProb given but Experts is 0 (a dense model): set Experts, or remove them");
    }

    [Theory]
    [InlineData("RmsNormEps = 0.0", "RmsNormEps (0) must be a finite number greater than 0")]
    [InlineData("RopeTheta = -10000.0", "RopeTheta (-10000) must be a finite number greater than 0")]
    [InlineData("RopeTheta = double.NaN", "RopeTheta (NaN) must be a finite number greater than 0")]
    public void QG0022_NotFiniteOrOutOfRange(string argument, string message)
    {
        string source = Source(Valid + ", " + argument);
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0022", Error, argument, message);
    }

    [Fact]
    public void QG0022_NegativeRouterAuxLossCoef()
    {
        string source = Source(Moe + ", RouterAuxLossCoef = -0.5");
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0022", Error, "RouterAuxLossCoef = -0.5", "RouterAuxLossCoef (-0.5) must be a finite number at least 0");
    }

    [Fact]
    public void QG0023_TensorTooLarge()
    {
        string args = "Vocab = 151936, Hidden = 16384, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16, Ffn = 96";
        string source = Source(args);
        var run = GeneratorHarness.Run(source);
        long elements = 151936L * 16384L;                                   // 2,489,319,424 > 2^31 - 1
        Reported(run, source, "QG0023", Error, Attribute(args),
            $"model.embed_tokens.weight would hold Vocab (151936) x Hidden (16384) = {elements} elements, more than one tensor can index (2147483647)");
    }

    [Fact]
    public void QG0023_ExpertsAtIntMaxValue_IsCaught_ForTheRouter_AndTheRoutingStatistics()
    {
        string args = Valid + ", Experts = 2147483647, ExpertsPerToken = 2, ExpertFfn = 32";
        string source = Source(args);
        var run = GeneratorHarness.Run(source);
        var messages = run.GeneratorDiagnostics.Where(d => d.Id == "QG0023").Select(d => d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Contains("model.layers.{i}.mlp.gate.weight (the router) would hold Experts (2147483647) x Hidden (48) = 103079215056 elements, more than one tensor can index (2147483647)", messages);
        Assert.Contains("the routing statistics (expert offsets) would hold Experts + 1 = 2147483648 elements, more than one tensor can index (2147483647)", messages);
        Assert.DoesNotContain(run.CompilationErrors, d => d.Id == "CS0220");   // caught before any code is generated
        Assert.Empty(run.ModelSources);
    }

    [Fact]
    public void QG0023_PerRowExpertWorkBuffer_IsSizeChecked()
    {
        string args = "Vocab = 256, Hidden = 16, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16, Ffn = 96, Experts = 100000, ExpertsPerToken = 100000, ExpertFfn = 30000";
        string source = Source(args);
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0023", Error, Attribute(args),
            "the expert activations of one row would hold ExpertsPerToken (100000) x ExpertFfn (30000) = 3000000000 elements, more than one tensor can index (2147483647)");
    }

    [Fact]
    public void QG0026_ModelTooLarge()
    {
        // Every tensor fits an int (router 1e8 x 16, expert matrices 1e8 x 16); all of them together do not fit a buffer.
        string args = "Vocab = 256, Hidden = 16, Layers = 4, Heads = 1, KvHeads = 1, HeadDim = 16, Ffn = 96, Experts = 100000000, ExpertsPerToken = 1, ExpertFfn = 100000000";
        string source = Source(args);
        var run = GeneratorHarness.Run(source);
        var d = DiagnosticAssert.Single(run, "QG0026");
        Assert.Equal(Error, d.Severity);
        Assert.Empty(run.GeneratorDiagnostics.Where(x => x.Id != "QG0026"));
        string message = d.GetMessage(System.Globalization.CultureInfo.InvariantCulture);
        const string prefix = "the flat parameter buffer would hold ", suffix = " elements, more than a buffer can address (1152921504606846975)";
        Assert.StartsWith(prefix, message);
        Assert.EndsWith(suffix, message);
        // by hand, per layer: q, k, v (16 + 2·16)·16 + o 16·16 + q/k norms 2·16, layer norms 2·16, router 1e8·16,
        // experts 1e8 · 3 · 1e8 · 16; embeddings 2 · 256 · 16 (untied); final norm 16
        decimal perLayer = 48m * 16 + 16 * 16 + 32 + 32 + 100_000_000m * 16 + 100_000_000m * 3 * 100_000_000m * 16;
        decimal expected = 2m * 256 * 16 + 4 * perLayer + 16;
        decimal reported = decimal.Parse(message[prefix.Length..^suffix.Length], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(Math.Abs(reported - expected) / expected < 1e-12m, $"{reported} vs {expected}");
    }

    [Fact]
    public void QG0024_HeadDimNotDerivable()
    {
        string args = "Vocab = 256, Hidden = 48, Layers = 2, Heads = 5, KvHeads = 5, Ffn = 96";
        string source = Source(args);
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0024", Error, Attribute(args),
            "HeadDim is not given and Hidden (48) is not a multiple of Heads (5); give HeadDim explicitly");
    }

    [Fact]
    public void QG0025_TooManyLayers()
    {
        string source = Source("Vocab = 256, Hidden = 48, Layers = 100000, Heads = 4, KvHeads = 2, HeadDim = 16, Ffn = 96");
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0025", Error, "Layers = 100000", "Layers (100000) exceeds the supported maximum of 4096 layers");
        Assert.Null(run.Spec);
    }

    [Theory]
    [InlineData("RopeType = \"dynamic\", RopeFactor = 4.0", "RopeType = \"dynamic\"",
        "RopeType 'dynamic' is not supported: Qwen3Gen implements \"default\", \"linear\" and \"yarn\": dynamic NTK recomputes the frequencies from the current sequence length, which one precomputed table cannot hold")]
    [InlineData("RopeType = \"ntk\", RopeFactor = 4.0", "RopeType = \"ntk\"",
        "RopeType 'ntk' is not supported: Qwen3Gen implements \"default\", \"linear\" and \"yarn\"")]
    public void QG0027_UnknownRopeType(string arguments, string at, string message)
    {
        string source = Source(Valid + ", " + arguments);
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0027", Error, at, message);
        Assert.Null(run.Spec);
    }

    [Theory]
    [InlineData("RopeFactor = 4.0", "RopeFactor = 4.0", "RopeFactor given but RopeType is 'default', which does not use it: set RopeType = \"yarn\", or remove it")]
    [InlineData("RopeType = \"linear\", RopeFactor = 2.0, RopeBetaFast = 16.0", "RopeBetaFast = 16.0",
        "RopeBetaFast given but RopeType is 'linear', which does not use it: set RopeType = \"yarn\", or remove it")]
    public void QG0028_RopeFieldUnused(string arguments, string at, string message)
    {
        string source = Source(Valid + ", " + arguments);
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0028", Error, at, message);
        Assert.Null(run.Spec);
    }

    [Fact]
    public void QG0029_RopeFactorMissing_InlineAndConfig()
    {
        string source = Source(Valid + ", RopeType = \"yarn\", RopeOriginalMaxPositions = 32");
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0029", Error, "RopeType = \"yarn\"",
            "RopeType is 'yarn' but RopeFactor is not given: the scaling needs its factor (Qwen3 with YaRN: 4.0 for 131,072 positions)");

        var config = RunConfig(DenseConfig().Replace("\"rope_scaling\": null", "\"rope_scaling\": { \"rope_type\": \"yarn\", \"original_max_position_embeddings\": 32 }"));
        Reported(config, ConfigSource, "QG0029", Error, ConfigArgument,
            "rope_scaling.rope_type is 'yarn' but rope_scaling.factor is not given: the scaling needs its factor (Qwen3 with YaRN: 4.0 for 131,072 positions)");
    }

    [Theory]
    [InlineData("RopeType = \"yarn\", RopeFactor = 0.5", "RopeFactor = 0.5", "RopeFactor (0.5) must be a finite number at least 1")]
    [InlineData("RopeType = \"yarn\", RopeFactor = 4.0, RopeBetaSlow = 0.0", "RopeBetaSlow = 0.0", "RopeBetaSlow (0) must be a finite number greater than 0")]
    [InlineData("RopeType = \"yarn\", RopeFactor = 4.0, RopeAttentionFactor = double.PositiveInfinity", "RopeAttentionFactor = double.PositiveInfinity",
        "RopeAttentionFactor (Infinity) must be a finite number greater than 0")]
    public void QG0022_RopeScalingOutOfRange(string arguments, string at, string message)
    {
        string source = Source(Valid + ", " + arguments);
        var run = GeneratorHarness.Run(source);
        Reported(run, source, "QG0022", Error, at, message);
    }

    [Fact]
    public void RopeScalingValues_InConfig_AreNamedByTheirKeys()
    {
        var run = RunConfig(DenseConfig().Replace("\"rope_scaling\": null",
            "\"rope_parameters\": { \"rope_type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": -8, \"rope_theta\": 1000000.0 }"));
        Reported(run, ConfigSource, "QG0003", Error, ConfigArgument, "rope_parameters.original_max_position_embeddings (-8) must be positive");

        var wrongType = RunConfig(DenseConfig().Replace("\"rope_scaling\": null", "\"rope_scaling\": { \"rope_type\": \"yarn\", \"factor\": \"4\" }"));
        Reported(wrongType, ConfigSource, "QG0013", Error, ConfigArgument, "Config file 'tiny/config.json': 'rope_scaling.factor' is \"4\"; expected a number");

        var disagree = RunConfig(DenseConfig().Replace("\"rope_scaling\": null",
            "\"rope_scaling\": { \"rope_type\": \"yarn\", \"factor\": 4.0 }, \"rope_parameters\": { \"rope_type\": \"yarn\", \"factor\": 2.0 }"));
        Reported(disagree, ConfigSource, "QG0013", Error, ConfigArgument,
            "Config file 'tiny/config.json': 'rope_parameters' is a different scaling from rope_scaling; expected the same scaling as rope_scaling (or only one of them)");
    }

    [Fact]
    public void ConfigValues_AreCheckedLikeInlineOnes_WithConfigNames()
    {
        var run = RunConfig(DenseConfig().Replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 0"));
        Reported(run, ConfigSource, "QG0003", Error, ConfigArgument, "num_hidden_layers (0) must be positive");
    }
}
