using Qwen3Gen;

namespace Qwen3Gen.Definitions;

// Small models for the Sample and the tests.

/// <summary>
/// The Sample's default: a byte-level (vocabulary 256) Qwen3 of nanoGPT's CPU-recipe size (4 layers, 4 heads,
/// hidden 128) trained on tinyshakespeare with a 64-token context. SwiGLU FFN 384 keeps the MLP's parameter count
/// equal to GPT-2's 4×128 GELU MLP (3·384 = 2·576 ≈ 2·4·128).
/// </summary>
[Qwen3Model(Vocab = 256, Hidden = 128, Layers = 4, Heads = 4, KvHeads = 4, HeadDim = 32,
            Ffn = 384, RopeTheta = 10_000, TieEmbeddings = true, MaxPositions = 1024)]
public partial class Qwen3Shakespeare;

/// <summary>
/// The full-vocabulary training benchmark of the training issue: 4 layers, hidden 256, 8 query / 4 KV heads of 32,
/// FFN 768, the Qwen3 vocabulary (151,936): the LM head dominates.
/// </summary>
[Qwen3Model(Vocab = 151_936, Hidden = 256, Layers = 4, Heads = 8, KvHeads = 4, HeadDim = 32,
            Ffn = 768, RopeTheta = 1e6, TieEmbeddings = true, MaxPositions = 4096)]
public partial class Qwen3FullVocab;

/// <summary>A tiny model for quick tests and demos: 2 layers, hidden 64, 4 / 2 heads of 16.</summary>
[Qwen3Model(Vocab = 256, Hidden = 64, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16,
            Ffn = 128, RopeTheta = 10_000, TieEmbeddings = true, MaxPositions = 256)]
public partial class Qwen3Tiny;
