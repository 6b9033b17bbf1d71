using Qwen3Gen;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>A tiny byte-level model for training tests (odd sizes exercise the kernels' tails).</summary>
[Qwen3Model(Vocab = 256, Hidden = 40, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 12, Ffn = 56,
            RopeTheta = 1e4, TieEmbeddings = true, MaxPositions = 128)]
public partial class TrainTiny;

/// <summary>A tiny MoE for training tests: one dense layer (mlp_only_layers) and two sparse ones.</summary>
[Qwen3Model(Vocab = 256, Hidden = 32, Layers = 3, Heads = 4, KvHeads = 2, HeadDim = 8, Ffn = 48,
            RopeTheta = 1e4, TieEmbeddings = false, MaxPositions = 128,
            Experts = 4, ExpertsPerToken = 2, ExpertFfn = 24, NormTopKProb = false, MlpOnlyLayers = new[] { 1 },
            RouterAuxLossCoef = 0.01, OutputRouterLogits = true)]
public partial class TrainTinyMoe;

/// <summary>Deterministic random weights for tests: N(0, std) matrices (Box-Muller on a fixed LCG), 1 ± 0.1 norms.</summary>
public static class TestWeights
{
    public static void Randomize(IQwen3Model model, int seed, float std = 0.02f)
    {
        var rng = new Random(seed);
        foreach (var t in model.Tensors)
        {
            var values = new float[t.Length];
            for (int i = 0; i < values.Length; i++)
            {
                double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
                double z = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
                values[i] = t.IsMatrix ? (float)(std * z) : (float)(1 + 0.1 * z);
            }
            model.Weights.Set(t, values);
        }
    }

    /// <summary>The repository root (the folder holding Qwen3Gen.sln), found from the test assembly's folder.</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Qwen3Gen.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("Qwen3Gen.sln not found above " + AppContext.BaseDirectory);
    }

    public static byte[] Shakespeare(int bytes) =>
        File.ReadAllBytes(Path.Combine(RepoRoot(), "data", "tinyshakespeare.txt")).AsSpan(0, bytes).ToArray();
}

/// <summary>
/// A chat-capable test model: the full Qwen3 vocabulary (151,936, so the real tokenizer's ids and the
/// special tokens fit) on a tiny body (2 layers, hidden 64, 4 / 2 heads of 16). Its embedding is
/// 151,936 × 64 = 9.7 M parameters (19 MB in BF16), small enough to build a snapshot per test run.
/// </summary>
[Qwen3Model(Vocab = 151_936, Hidden = 64, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16,
            Ffn = 128, RopeTheta = 1e6, TieEmbeddings = true, MaxPositions = 4096)]
public partial class Qwen3ChatTest;

/// <summary>
/// The MoE twin of <see cref="Qwen3ChatTest"/> for the chat tests: the same full-vocabulary tiny body with every
/// layer sparse (4 experts of FFN 32, top 2, renormalised), so generation and chat run the router and the experts.
/// Saved as a qwen3_moe snapshot (mlp.gate, mlp.experts.{e}.*); Ffn is declared but unused (no dense layer).
/// </summary>
[Qwen3Model(Vocab = 151_936, Hidden = 64, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16,
            Ffn = 128, RopeTheta = 1e6, TieEmbeddings = true, MaxPositions = 4096,
            Experts = 4, ExpertsPerToken = 2, ExpertFfn = 32, NormTopKProb = true)]
public partial class Qwen3ChatMoeTest;
