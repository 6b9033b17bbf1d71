using Qwen3Gen.Inference;
using Qwen3Gen.Models;

namespace Qwen3Gen.Fuzz.Tests;

/// <summary>
/// Damaged config.json files read as a model directory's: ModelDirectory.ReadConfig either returns a config that
/// satisfies every rule of the generator, or throws InvalidDataException / NotSupportedException naming the file.
/// </summary>
public class ConfigFuzzTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Dense = """
        {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": 256, "hidden_size": 64,
         "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
         "head_dim": 16, "hidden_act": "silu", "max_position_embeddings": 512, "rms_norm_eps": 1e-06,
         "rope_theta": 1000000.0, "rope_scaling": null, "tie_word_embeddings": true, "attention_bias": false,
         "use_sliding_window": false, "sliding_window": null, "torch_dtype": "bfloat16"}
        """;

    private const string Moe = """
        {"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "vocab_size": 256, "hidden_size": 64,
         "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
         "head_dim": 16, "hidden_act": "silu", "max_position_embeddings": 512, "rms_norm_eps": 1e-06,
         "rope_theta": 1000000.0, "tie_word_embeddings": false, "attention_bias": false, "use_sliding_window": false,
         "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32, "norm_topk_prob": true,
         "decoder_sparse_step": 1, "mlp_only_layers": [], "router_aux_loss_coef": 0.001, "output_router_logits": false}
        """;

    /// <summary>What every accepted config must satisfy (the generator's rules, restated here independently).</summary>
    private static void AssertSound(ModelConfig c)
    {
        Assert.True(c.Vocab > 0 && c.Hidden > 0 && c.Layers > 0 && c.Layers <= 4096 && c.Heads > 0 && c.KvHeads > 0, c.ToString());
        Assert.True(c.Heads % c.KvHeads == 0 && c.HeadDim > 0 && c.HeadDim % 2 == 0 && c.MaxPositions > 0, c.ToString());
        Assert.True(double.IsFinite(c.RmsNormEps) && c.RmsNormEps > 0 && double.IsFinite(c.RopeTheta) && c.RopeTheta > 0, c.ToString());
        Assert.True((long)c.Vocab * c.Hidden <= int.MaxValue && (long)c.Heads * c.HeadDim * c.Hidden <= int.MaxValue, c.ToString());
        if (c.Experts > 0)
        {
            Assert.True(c.ExpertsPerToken > 0 && c.ExpertsPerToken <= c.Experts && c.ExpertFfn > 0 && c.DecoderSparseStep > 0, c.ToString());
            Assert.All(c.MlpOnlyLayers, l => Assert.InRange(l, 0, c.Layers - 1));
        }
        else Assert.True(c.Experts == 0 && c.Ffn > 0, c.ToString());
    }

    [Fact]
    public void DamagedConfigs_AreSoundOrRefusedNamingTheFile()
    {
        int accepted = 0;
        int cases = FuzzBudget.Run("config", (r, folder) =>
        {
            string path = Path.Combine(folder, "config.json");
            string baseJson = r.Next(2) == 0 ? Dense : Moe;
            if (r.Next(4) == 0) File.WriteAllBytes(path, Mutate.Bytes(r, System.Text.Encoding.UTF8.GetBytes(baseJson)));
            else
            {
                string json = baseJson;
                for (int k = r.Next(1, 4); k > 0; k--) json = Mutate.Json(r, json);
                File.WriteAllText(path, json);
            }
            ModelConfig? config = null;
            if (Outcome.Of(() => config = ModelDirectory.ReadConfig(folder), path, typeof(InvalidDataException), typeof(NotSupportedException)))
            {
                AssertSound(config!);
                accepted++;
            }
        });
        output.WriteLine($"{cases} cases, {accepted} accepted");
    }
}
