using Qwen3Gen.Tokenization;
using Qwen3Gen.Models;

namespace Qwen3Gen.Serving.Tests;

/// <summary>
/// The server tests' model: the full Qwen3 vocabulary (so the real tokenizer, chat template and special tokens
/// work) on a tiny body. Random weights: its replies are gibberish, but they are the replies to compare.
/// </summary>
[Qwen3Model(Vocab = 151_936, Hidden = 32, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16,
            Ffn = 64, RopeTheta = 1e6, TieEmbeddings = true, MaxPositions = 4096)]
public partial class Qwen3ServeTest;

/// <summary>Shared pieces: the bundled tokenizer and a model with fixed random weights.</summary>
public static class ServingModels
{
    public static Qwen3Tokenizer Tokenizer => Qwen3Tokenizer.LoadBundled();

    /// <summary>Qwen3ServeTest (F32) with N(0, 0.3) weights from a fixed seed (large enough that greedy replies vary).</summary>
    public static Qwen3ServeTest Random(int seed = 7)
    {
        var model = Qwen3ServeTest.Create(WeightFormat.F32);
        WeightInit.Normal(model, (ulong)seed, std: 0.3f);
        return model;
    }
}
