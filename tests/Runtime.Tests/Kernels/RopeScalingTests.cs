using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.Runtime.Tests.Kernels;

/// <summary>
/// RoPE scaling (spec §2.3.1): the inverse frequencies and tables against the formulas written out here in double
/// (not the code under test), and config.json reading.
/// </summary>
public unsafe class RopeScalingTests
{
    /// <summary>transformers' _compute_yarn_parameters in double, from the spec's formulas.</summary>
    private static double[] YarnInvFreq(int d, double theta, double s, int l0, double betaFast, double betaSlow, bool truncate)
    {
        double CorrDim(double r) => d * Math.Log(l0 / (r * 2 * Math.PI)) / (2 * Math.Log(theta));
        double low = CorrDim(betaFast), high = CorrDim(betaSlow);
        if (truncate) { low = Math.Floor(low); high = Math.Ceiling(high); }
        low = Math.Max(low, 0); high = Math.Min(high, d - 1);
        if (low == high) high += 0.001;
        var inv = new double[d / 2];
        for (int j = 0; j < d / 2; j++)
        {
            double ramp = Math.Clamp((j - low) / (high - low), 0, 1), extra = 1 - ramp, pos = Math.Pow(theta, 2.0 * j / d);
            inv[j] = 1 / (s * pos) * (1 - extra) + 1 / pos * extra;
        }
        return inv;
    }

    [Theory]
    [InlineData(16, 1e4, 4.0, 32, 32.0, 1.0, true)]
    [InlineData(16, 1e4, 4.0, 32, 32.0, 1.0, false)]
    [InlineData(128, 1e6, 4.0, 32768, 32.0, 1.0, true)]      // Qwen3 with the model card's YaRN
    [InlineData(12, 5e6, 2.5, 24, 8.0, 2.0, true)]
    [InlineData(64, 1e6, 8.0, 4096, 64.0, 0.5, false)]
    public void Yarn_InverseFrequencies_FollowTheFormula(int d, double theta, double s, int l0, double betaFast, double betaSlow, bool truncate)
    {
        var expected = YarnInvFreq(d, theta, s, l0, betaFast, betaSlow, truncate);
        var actual = RopeScaling.Yarn(s, l0, betaFast, betaSlow, truncate: truncate).InverseFrequencies(d, theta);
        for (int j = 0; j < d / 2; j++)
            Assert.True(Math.Abs(actual[j] - expected[j]) <= 2e-6 * expected[j], $"j {j}: {actual[j]} vs {expected[j]}");
        // The ends: the highest frequency is kept, the lowest one interpolated by 1/s when the ramp ends inside [0, D/2).
        Assert.Equal(1.0, actual[0], 6);
    }

    [Fact]
    public void Yarn_RampBounds_AreThoseOfTheTrainedContext()
    {
        // D 16, theta 1e4, L0 32: corr_dim(32) = 16 ln(32/(64π)) / (2 ln 1e4) = -1.60 -> floor -2 -> 0;
        // corr_dim(1) = 16 ln(32/(2π)) / (2 ln 1e4) = 1.414 -> ceil 2.
        var (low, high) = RopeScaling.Yarn(4, 32).CorrectionRange(16, 1e4);
        Assert.Equal((0.0, 2.0), (low, high));
        var (l2, h2) = RopeScaling.Yarn(4, 32, truncate: false).CorrectionRange(16, 1e4);
        Assert.Equal(0.0, l2);
        Assert.Equal(16 * Math.Log(32 / (2 * Math.PI)) / (2 * Math.Log(1e4)), h2, 12);
    }

    [Fact]
    public void Linear_DividesEveryFrequency()
    {
        var plain = RopeScaling.None.InverseFrequencies(16, 1e4);
        var linear = RopeScaling.Linear(2.0, 64).InverseFrequencies(16, 1e4);
        for (int j = 0; j < 8; j++) Assert.Equal(plain[j] / 2f, linear[j]);
        Assert.Equal(128, RopeScaling.Linear(2.0, 64).PositionLimit(64));
    }

    [Fact]
    public void Tables_CarryTheAttentionFactor_AndDefaultTablesAreUnchanged()
    {
        const int positions = 40, d = 16;
        float* cos = stackalloc float[positions * d / 2], sin = stackalloc float[positions * d / 2];
        var yarn = RopeScaling.Yarn(4, 32);
        Assert.Equal(0.1 * Math.Log(4) + 1, yarn.AttentionFactor, 15);
        Rope.BuildTables(cos, sin, positions, d, 1e4, yarn);
        var inv = YarnInvFreq(d, 1e4, 4, 32, 32, 1, true);
        for (int p = 0; p < positions; p++)
            for (int j = 0; j < d / 2; j++)
            {
                Assert.Equal(Math.Cos(p * inv[j]) * yarn.AttentionFactor, cos[p * d / 2 + j], 5);
                Assert.Equal(Math.Sin(p * inv[j]) * yarn.AttentionFactor, sin[p * d / 2 + j], 5);
            }

        // The default type keeps the float32 recipe bit for bit: 1 / theta^(2j/D), float32 angle, no factor.
        Rope.BuildTables(cos, sin, positions, d, 1e4, RopeScaling.None);
        for (int p = 0; p < positions; p++)
            for (int j = 0; j < d / 2; j++)
            {
                float invFreq = 1f / MathF.Pow(1e4f, (float)(2 * j) / d);
                Assert.Equal(MathF.Cos(p * invFreq), cos[p * d / 2 + j]);
            }
    }

    [Fact]
    public void AttentionFactor_FromMscale_AsTransformers()
    {
        double M(double s, double k) => 0.1 * k * Math.Log(s) + 1;
        Assert.Equal(M(4, 0.707) / M(4, 1.0), RopeScaling.Yarn(4, 32, mscale: 0.707, mscaleAllDim: 1.0).AttentionFactor, 15);
        Assert.Equal(M(4, 1), RopeScaling.Yarn(4, 32, mscale: 0.707).AttentionFactor, 15);     // mscale alone is ignored
        Assert.Equal(1.0, RopeScaling.Yarn(1, 32).AttentionFactor);                           // s <= 1: m = 1
        Assert.Equal(1.5, RopeScaling.Yarn(4, 32, attentionFactor: 1.5, mscale: 2, mscaleAllDim: 1).AttentionFactor);
    }

    private const string Qwen3 = """
        {"model_type": "qwen3", "vocab_size": 151936, "hidden_size": 1024, "num_hidden_layers": 28, "num_attention_heads": 16,
         "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 3072, "max_position_embeddings": 40960,
         "rope_theta": 1000000, "tie_word_embeddings": true, ROPE}
        """;

    [Theory]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 32768}")]
    [InlineData("\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 32768}")]
    [InlineData("\"rope_parameters\": {\"rope_type\": \"yarn\", \"rope_theta\": 1000000, \"factor\": 4.0, \"original_max_position_embeddings\": 32768}")]
    public void ModelConfig_ReadsTheModelCardsYarn(string rope)
    {
        var config = ModelConfig.FromHuggingFaceJson(Qwen3.Replace("ROPE", rope), "c.json");
        Assert.Equal(RopeScaling.Yarn(4.0, 32768), config.RopeScaling);
        Assert.Equal(131072, config.PositionLimit);
        Assert.Empty(config.Differences(ModelConfig.FromHuggingFaceJson(Qwen3.Replace("ROPE", "\"rope_scaling\": null"))));  // same compiled definition

        var again = ModelConfig.FromHuggingFaceJson(config.ToHuggingFaceJson(), "again.json");
        Assert.Equal(config.RopeScaling, again.RopeScaling);
    }

    [Theory]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"dynamic\", \"factor\": 4.0}", "rope_scaling.rope_type = \"dynamic\" is not supported: Qwen3Gen implements \"default\", \"linear\" and \"yarn\": dynamic NTK")]
    [InlineData("\"rope_parameters\": {\"rope_type\": \"longrope\", \"rope_theta\": 1000000}", "rope_parameters.rope_type = \"longrope\" is not supported")]
    public void ModelConfig_RefusesOtherRopeTypesByName(string rope, string expected)
    {
        var e = Assert.Throws<NotSupportedException>(() => ModelConfig.FromHuggingFaceJson(Qwen3.Replace("ROPE", rope), "c.json"));
        Assert.StartsWith("QG0014: Config file 'c.json': ", e.Message);      // the generator's message for the same file
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 0.5}", "QG0022: rope_scaling.factor (0.5) must be a finite number at least 1")]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"yarn\"}", "QG0029: rope_scaling.rope_type is 'yarn' but rope_scaling.factor is not given")]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4, \"beta_fast\": \"32\"}", "QG0013: Config file 'c.json': 'rope_scaling.beta_fast' is \"32\"; expected a number")]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4, \"original_max_position_embeddings\": 0}", "QG0003: rope_scaling.original_max_position_embeddings (0) must be positive")]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}, \"rope_parameters\": {\"rope_type\": \"yarn\", \"factor\": 2}", "'rope_parameters' is a different scaling from rope_scaling; expected the same scaling as rope_scaling")]
    public void ModelConfig_RefusesInvalidScaling(string rope, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => ModelConfig.FromHuggingFaceJson(Qwen3.Replace("ROPE", rope), "c.json"));
        Assert.Contains(expected, e.Message);
    }
}
