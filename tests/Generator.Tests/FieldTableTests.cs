using System.Globalization;
using Microsoft.CodeAnalysis;
using Qwen3Gen.Generator.Emitting;
using Qwen3Gen.Generator.Model;
using Qwen3Gen.Generator.Tests.Infrastructure;
using Qwen3Gen.Models;
using Qwen3Gen.Rules;

namespace Qwen3Gen.Generator.Tests;

/// <summary>
/// The field table (Generator/Rules/HyperParameters.cs) is the one declaration of each hyper-parameter: the attribute,
/// ModelShape and the runtime's ModelConfig carry exactly its rows, and a config.json is accepted or refused, with the
/// same message and the same defaults, by the generator ([Qwen3Model(Config = ...)]) and by the runtime
/// (ModelConfig.FromHuggingFaceJson, what loading a snapshot or checkpoint uses). Expected defaults are transformers'
/// Qwen3Config ones, written here by hand.
/// </summary>
public class FieldTableTests
{
    private const string Path = "tiny/config.json";

    private const string ConfigModel = """
        using Qwen3Gen;

        namespace Demo;

        [Qwen3Model(Config = "tiny/config.json")]
        public partial class Tiny { }
        """;

    private const string Dense = """
        {"model_type": "qwen3", "vocab_size": 256, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "hidden_act": "silu", "max_position_embeddings": 512,
         "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "tie_word_embeddings": true, "attention_bias": false,
         "use_sliding_window": false, "sliding_window": null}
        """;

    private const string Moe = """
        {"model_type": "qwen3_moe", "vocab_size": 256, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
         "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 512, "rms_norm_eps": 1e-06,
         "rope_theta": 1000000.0, "tie_word_embeddings": false, "num_experts": 4, "num_experts_per_tok": 2,
         "moe_intermediate_size": 32, "norm_topk_prob": true, "decoder_sparse_step": 1, "mlp_only_layers": [1],
         "router_aux_loss_coef": 0.01, "output_router_logits": true}
        """;

    /// <summary>A config with <paramref name="key"/> replaced (or removed when <paramref name="value"/> is null, added when absent).</summary>
    private static string With(string json, string key, string? value)
    {
        var root = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        if (value is null) root.Remove(key);
        else root[key] = System.Text.Json.Nodes.JsonNode.Parse(value);
        return root.ToJsonString();
    }

    public static TheoryData<string, string> Configs => new()
    {
        { "dense", Dense },
        { "moe", Moe },
        { "num_key_value_heads absent: num_attention_heads", With(Dense, "num_key_value_heads", null) },
        { "num_key_value_heads null: num_attention_heads", With(Dense, "num_key_value_heads", "null") },
        { "max_position_embeddings absent: 32768", With(Dense, "max_position_embeddings", null) },
        { "rope_theta absent: 10000", With(Dense, "rope_theta", null) },
        { "rms_norm_eps null: 1e-6", With(Dense, "rms_norm_eps", "null") },
        { "head_dim absent: hidden / heads", With(Dense, "head_dim", null) },
        { "MoE keys in a dense config are ignored", With(Dense, "num_experts", "8") },
        { "layer_types with sliding attention", With(Dense, "layer_types", """["full_attention", "sliding_attention"]""") },
        { "layer_types all full attention", With(Dense, "layer_types", """["full_attention", "full_attention"]""") },
        { "use_sliding_window true", With(Dense, "use_sliding_window", "true") },
        { "use_sliding_window as a string", With(Dense, "use_sliding_window", "\"no\"") },
        { "attention_bias true", With(Dense, "attention_bias", "true") },
        { "hidden_act gelu", With(Dense, "hidden_act", "\"gelu\"") },
        { "model_type llama", With(Dense, "model_type", "\"llama\"") },
        { "model_type missing", With(Dense, "model_type", null) },
        { "vocab_size missing", With(Dense, "vocab_size", null) },
        { "vocab_size a string", With(Dense, "vocab_size", "\"256\"") },
        { "hidden_size fractional", With(Dense, "hidden_size", "64.5") },
        { "num_hidden_layers beyond int", With(Dense, "num_hidden_layers", "3000000000") },
        { "tie_word_embeddings a number", With(Dense, "tie_word_embeddings", "1") },
        { "heads not a multiple of kv heads", With(With(Dense, "num_attention_heads", "6"), "num_key_value_heads", "4") },
        { "odd head_dim", With(Dense, "head_dim", "15") },
        { "head_dim not derivable", With(With(Dense, "head_dim", null), "num_attention_heads", "6") },
        { "rope_theta negative", With(Dense, "rope_theta", "-1") },
        { "rope_parameters.rope_theta disagrees", With(Dense, "rope_parameters", """{"rope_type": "default", "rope_theta": 5000}""") },
        { "num_experts missing in a MoE config", With(Moe, "num_experts", null) },
        { "experts per token above experts", With(Moe, "num_experts_per_tok", "5") },
        { "mlp_only_layers out of range", With(Moe, "mlp_only_layers", "[7]") },
        { "mlp_only_layers not an array", With(Moe, "mlp_only_layers", "3") },
        { "decoder_sparse_step 0", With(Moe, "decoder_sparse_step", "0") },
        { "rope_scaling yarn (the model card's)", With(Dense, "rope_scaling", """{"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 128}""") },
        { "rope_scaling linear, old key type", With(Dense, "rope_scaling", """{"type": "linear", "factor": 2.0}""") },
        { "rope_parameters yarn with mscale", With(Dense, "rope_parameters", """{"rope_type": "yarn", "rope_theta": 1000000.0, "factor": 4.0, "mscale": 0.707, "mscale_all_dim": 1.0}""") },
        { "rope_scaling without rope_type", With(Dense, "rope_scaling", """{"factor": 4.0}""") },
        { "rope_scaling dynamic", With(Dense, "rope_scaling", """{"rope_type": "dynamic", "factor": 4.0}""") },
        { "rope_scaling yarn without factor", With(Dense, "rope_scaling", """{"rope_type": "yarn"}""") },
        { "rope_scaling factor below 1", With(Dense, "rope_scaling", """{"rope_type": "yarn", "factor": 0.5}""") },
        { "rope_scaling beta_fast a string", With(Dense, "rope_scaling", """{"rope_type": "yarn", "factor": 4, "beta_fast": "32"}""") },
        { "rope_scaling original 0", With(Dense, "rope_scaling", """{"rope_type": "yarn", "factor": 4, "original_max_position_embeddings": 0}""") },
        { "rope_scaling and rope_parameters differ", With(With(Dense, "rope_scaling", """{"rope_type": "yarn", "factor": 4}"""), "rope_parameters", """{"rope_type": "yarn", "factor": 2}""") },
    };

    [Theory]
    [MemberData(nameof(Configs))]
    public void CompileTimeAndRunTime_AcceptAndRefuseTheSameConfigs_WithTheSameMessages(string name, string json)
    {
        var run = GeneratorHarness.Run(ConfigModel, ("/home/user/project/" + Path, json));
        var errors = run.GeneratorDiagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        ModelConfig? config = null;
        var thrown = Record.Exception(() => config = ModelConfig.FromHuggingFaceJson(json, Path));

        if (errors.Count == 0)
        {
            Assert.True(thrown is null, $"{name}: the generator accepts it, the runtime throws {thrown}");
            var shape = run.Spec!.Shape;
            foreach (var field in HyperParameters.All.Where(f => f.Scope != FieldScope.Rope))
            {
                object? generator = typeof(ModelShape).GetProperty(field.Name)!.GetValue(shape);
                if (generator is EquatableArray<int> array) generator = array.AsSpan().ToArray();
                object? runtime = typeof(ModelConfig).GetProperty(field.Name)!.GetValue(config);
                Assert.True(Text(generator) == Text(runtime), $"{name}: {field.Name} is {Text(generator)} at compile time, {Text(runtime)} at run time");
            }
            var rope = shape.RopeScaling;
            var scaling = config!.RopeScaling;
            Assert.Equal(rope.Type, scaling.Type.ToString().ToLowerInvariant());
            if (rope.Type != "default")
                Assert.Equal((rope.Factor, rope.OriginalMaxPositions, rope.Type == "yarn" ? rope.BetaFast : scaling.BetaFast, rope.Type == "yarn" ? rope.AttentionFactor : scaling.AttentionFactor),
                             (scaling.Factor, scaling.OriginalMaxPositions, scaling.BetaFast, scaling.AttentionFactor));
        }
        else
        {
            Assert.True(thrown is InvalidDataException or NotSupportedException, $"{name}: the generator reports {errors[0].Id}, the runtime gives {thrown?.ToString() ?? "a model"}");
            var messages = errors.Select(d => d.Id + ": " + d.GetMessage(CultureInfo.InvariantCulture)).ToList();
            Assert.True(messages.Any(m => thrown!.Message.Contains(m, StringComparison.Ordinal)),
                $"{name}: the runtime says \"{thrown!.Message}\", the generator says {string.Join(" | ", messages)}");
            Assert.Equal(errors.Any(d => d.Id == "QG0014") && thrown is NotSupportedException, thrown is NotSupportedException);
        }
    }

    private static string Text(object? value) => value switch
    {
        int[] a => "[" + string.Join(", ", a) + "]",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value?.ToString() ?? "null",
    };

    [Fact]
    public void Defaults_AreTransformersQwen3Config_AtCompileTimeAndRunTime()
    {
        string minimal = """
            {"model_type": "qwen3", "vocab_size": 256, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
             "num_attention_heads": 4}
            """;
        var fromConfig = GeneratorHarness.Run(ConfigModel, ("/home/user/project/" + Path, minimal)).Spec!.Shape;
        var inline = GeneratorHarness.Run("""
            using Qwen3Gen;
            namespace Demo;
            [Qwen3Model(Vocab = 256, Hidden = 64, Ffn = 128, Layers = 2, Heads = 4)]
            public partial class Tiny { }
            """).Spec!.Shape;
        var runtime = ModelConfig.FromHuggingFaceJson(minimal);
        // Qwen3Config: num_key_value_heads None -> num_attention_heads, head_dim -> hidden / heads (modeling's fallback),
        // rope_theta 10000, rms_norm_eps 1e-6, tie_word_embeddings false, max_position_embeddings 32768.
        var expected = (4, 16, 10000.0, 1e-6, false, 32768);
        Assert.Equal(expected, (fromConfig.KvHeads, fromConfig.HeadDim, fromConfig.RopeTheta, fromConfig.RmsNormEps, fromConfig.TieEmbeddings, fromConfig.MaxPositions));
        Assert.Equal(expected, (inline.KvHeads, inline.HeadDim, inline.RopeTheta, inline.RmsNormEps, inline.TieEmbeddings, inline.MaxPositions));
        Assert.Equal(expected, (runtime.KvHeads, runtime.HeadDim, runtime.RopeTheta, runtime.RmsNormEps, runtime.TieEmbeddings, runtime.MaxPositions));
        var unset = new ModelConfig();
        Assert.Equal((10000.0, 1e-6, 32768, 1, 0.001), (unset.RopeTheta, unset.RmsNormEps, unset.MaxPositions, unset.DecoderSparseStep, unset.RouterAuxLossCoef));
    }

    [Fact]
    public void EveryRow_IsAnAttributeProperty_AModelShapeProperty_AndAModelConfigProperty()
    {
        var rows = HyperParameters.All.Select(f => f.Name).ToHashSet();
        Assert.Equal(28, rows.Count);
        foreach (var field in HyperParameters.All)
        {
            Assert.Contains($" {field.Name} {{ get; set; }}", AttributeSource.Text);
            if (field.Scope == FieldScope.Rope) continue;
            Assert.NotNull(typeof(ModelShape).GetProperty(field.Name));
            Assert.NotNull(typeof(ModelConfig).GetProperty(field.Name));
        }
        // And nothing else: the records' other members are derived (IsMoe, RopeScaling, PositionLimit).
        var configOnly = typeof(ModelConfig).GetProperties().Select(p => p.Name).Where(n => !rows.Contains(n)).Order();
        Assert.Equal(["IsMoe", "PositionLimit", "RopeScaling"], configOnly);
        var shapeOnly = typeof(ModelShape).GetProperties().Select(p => p.Name).Where(n => !rows.Contains(n)).Order();
        Assert.Equal(["IsMoe", "Rope", "RopeScaling"], shapeOnly);
    }

    [Fact]
    public void ModelConfigInitialisers_AreTheTableDefaults()
    {
        // new ModelConfig() carries the table's default of every row that has one (the rules' defaults from another
        // field, KvHeads and HeadDim, apply when a config is read, not to a record built in code).
        var unset = new ModelConfig();
        var withDefault = HyperParameters.All.Where(f => f.Scope != FieldScope.Rope && f.Default is not null).Select(f => f.Name).ToList();
        Assert.Equal(["RopeTheta", "RmsNormEps", "TieEmbeddings", "MaxPositions", "NormTopKProb", "DecoderSparseStep", "MlpOnlyLayers",
                      "RouterAuxLossCoef", "OutputRouterLogits"], withDefault);
        foreach (var field in HyperParameters.All.Where(f => f.Scope != FieldScope.Rope && f.Default is not null))
            Assert.True(Text(field.Default) == Text(typeof(ModelConfig).GetProperty(field.Name)!.GetValue(unset)),
                $"{field.Name}: the table's default is {Text(field.Default)}, new ModelConfig() has {Text(typeof(ModelConfig).GetProperty(field.Name)!.GetValue(unset))}");
    }

    [Fact]
    public void EveryComputationChangingRow_HasAGgufKey_OrSaysWhyNot()
    {
        // llama.cpp's keys (gguf-py/gguf/constants.py, Keys.LLM / Keys.Attention / Keys.Rope), written here by hand.
        var expected = new Dictionary<string, string>
        {
            ["Hidden"] = "embedding_length", ["Layers"] = "block_count", ["Heads"] = "attention.head_count",
            ["KvHeads"] = "attention.head_count_kv", ["HeadDim"] = "attention.key_length", ["Ffn"] = "feed_forward_length",
            ["RopeTheta"] = "rope.freq_base", ["RmsNormEps"] = "attention.layer_norm_rms_epsilon", ["MaxPositions"] = "context_length",
            ["Experts"] = "expert_count", ["ExpertsPerToken"] = "expert_used_count", ["ExpertFfn"] = "expert_feed_forward_length",
        };
        var keyed = HyperParameters.All.Where(f => f.GgufKey is not null).ToDictionary(f => f.Name, f => f.GgufKey!);
        Assert.Equal(expected.OrderBy(p => p.Key), keyed.OrderBy(p => p.Key));
        Assert.Equal("attention.value_length", HyperParameters.Find("HeadDim")!.GgufSameKey);
        Assert.Equal("qwen3moe.expert_count", HyperParameters.GgufKey(HyperParameters.GgufMoe, "expert_count"));

        foreach (var field in HyperParameters.All.Where(f => f.ChangesComputation))
        {
            bool hasKey = field.GgufKey is not null, hasReason = !string.IsNullOrWhiteSpace(field.GgufNone);
            Assert.True(hasKey != hasReason, $"{field.Name} changes the computation: it needs a GGUF key or a reason for having none (not both)");
        }
        var none = HyperParameters.All.Where(f => f.ChangesComputation && f.GgufKey is null).Select(f => f.Name);
        Assert.Equal(["Vocab", "TieEmbeddings", "NormTopKProb", "DecoderSparseStep", "MlpOnlyLayers"], none);
    }

    [Fact]
    public void GeneratedConstants_AreTheTableRowsWithAConstant_WithTheirDocs()
    {
        var run = GeneratorHarness.Run("""
            using Qwen3Gen;
            namespace Demo;
            [Qwen3Model(Vocab = 256, Hidden = 64, Ffn = 128, Layers = 2, Heads = 4, KvHeads = 2, RmsNormEps = 1e-5,
                        Experts = 4, ExpertsPerToken = 2, ExpertFfn = 32, DecoderSparseStep = 2)]
            public partial class Tiny { }
            """);
        Assert.Empty(run.GeneratorDiagnostics);
        var lines = run.ModelSourcesText.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("public const ", StringComparison.Ordinal)).ToList();
        foreach (var field in HyperParameters.All)
        {
            var line = lines.SingleOrDefault(l => l.StartsWith($"public const {field.Constant} {field.Name} = ", StringComparison.Ordinal));
            if (field.Constant is null) Assert.DoesNotContain(lines, l => l.Contains($" {field.Name} = ", StringComparison.Ordinal));
            else Assert.True(line is not null && line.EndsWith("// " + field.Doc, StringComparison.Ordinal), $"{field.Name}: {line ?? "no constant"}");
        }
        // Values as written by hand: head_dim derived 64 / 4, the epsilon a float.
        Assert.Contains(lines, l => l.StartsWith("public const int HeadDim = 16;", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("public const float RmsNormEps = 1E-05f;", StringComparison.Ordinal));
    }

    [Fact]
    public void AttributeText_IsReadBackAsTheSameDefinition()
    {
        var config = ModelConfig.FromHuggingFaceJson(Moe);
        string attribute = Qwen3Gen.Inference.HuggingFaceConfig.AttributeText(config);
        var run = GeneratorHarness.Run($$"""
            using Qwen3Gen;
            namespace Demo;
            {{attribute}}
            public partial class Tiny { }
            """);
        Assert.Empty(run.GeneratorDiagnostics);
        var shape = run.Spec!.Shape;
        Assert.Equal((256, 64, 4, 4, 2, 16, 128, 4, 2, 32), (shape.Vocab, shape.Hidden, shape.Layers, shape.Heads, shape.KvHeads, shape.HeadDim, shape.Ffn, shape.Experts, shape.ExpertsPerToken, shape.ExpertFfn));
        Assert.Equal((1e6, false, 512, true, 0.01, true), (shape.RopeTheta, shape.TieEmbeddings, shape.MaxPositions, shape.NormTopKProb, shape.RouterAuxLossCoef, shape.OutputRouterLogits));
        Assert.Equal([1], shape.MlpOnlyLayers.AsSpan().ToArray());
    }
}
