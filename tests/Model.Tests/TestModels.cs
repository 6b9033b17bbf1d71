using Qwen3Gen;

namespace Qwen3Gen.Model.Tests;

// Definitions the snapshot tests declare as a user would.

/// <summary>
/// A chat-capable test model: the full Qwen3 vocabulary (151,936, so the real tokenizer's ids and the
/// special tokens fit) on a tiny body (2 layers, hidden 64, 4 / 2 heads of 16). Its embedding is
/// 151,936 × 64 = 9.7 M parameters (19 MB in BF16), small enough to build a snapshot per test run.
/// </summary>
[Qwen3Model(Vocab = 151_936, Hidden = 64, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16,
            Ffn = 128, RopeTheta = 1e6, TieEmbeddings = true, MaxPositions = 4096)]
public partial class Qwen3ChatTest;
